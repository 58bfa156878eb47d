// One descent (src/core/descent.ts): it is the only code outside the architecture modules that
// decides what an entry is (kind, reserved bits, what a table entry takes away), so no client can
// read an entry differently from the walk. This reads the sources as text: a new call site of
// the format's classification outside the descent fails here.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const SRC = path.join(__dirname, '..', '..', '..', '..', 'src');
// The formats define the rules; the architecture modules encode entries for the simulator.
const OWNERS = [/^core\/formats\//, /^core\/arch\//, /^core\/descent\.ts$/];

function sources(dir: string, rel = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) return sources(path.join(dir, e.name), r);
    return e.name.endsWith('.ts') ? [r] : [];
  });
}

describe('one descent', () => {
  it('no source outside formats/, arch/ and descent.ts calls classify, reservedBits or tableRestricts', () => {
    const files = sources(SRC);
    assert.ok(files.includes('core/descent.ts') && files.length > 50, `sources found under ${SRC}: ${files.length}`);
    const offenders = files
      .filter((f) => !OWNERS.some((o) => o.test(f)))
      .flatMap((f) => fs.readFileSync(path.join(SRC, f), 'utf8').split('\n').map((line, i) => [f, i + 1, line] as const))
      .filter(([, , line]) => /\.(classify|reservedBits|tableRestricts)\(/.test(line))
      .map(([f, n, line]) => `${f}:${n}: ${line.trim()}`);
    assert.deepEqual(offenders, []);
  });
});
