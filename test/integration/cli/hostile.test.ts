// The built CLI (out/cli.js) on the hostile corpus (test/support/hostile.ts) and on garbage
// arguments: every command ends in seconds with a heap of at most 512 MiB, an astronomically long
// answer is refused with its length and a way out (exit 2), a closed pipe ends quietly (exit 0),
// and no input ends in exit 70 (internal error). No QEMU needed: the images are raw files.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { REPO } from '../../harness/qemu';
import { HostileImage, hostileArgs, writeCorpus } from '../../support/hostile';

const CLI = path.join(REPO, 'out', 'cli.js');

/** ptview with V8's heap capped at 512 MiB: going over it aborts the process and fails the test. */
function ptview(args: string[]) {
  const r = spawnSync(process.execPath, ['--max-old-space-size=512', CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { code: r.status, out: r.stdout, err: r.stderr, signal: r.signal };
}

describe('ptview CLI on the hostile corpus', function () {
  this.timeout(120_000);
  let dir: string;
  let corpus: { img: HostileImage; file: string }[];
  const args = (name: string) => {
    const c = corpus.find((x) => x.img.name === name)!;
    return hostileArgs(c.img, c.file);
  };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptview-hostile-'));
    corpus = writeCorpus(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('dump, dump --leaves, audit, find and simulate end on every image, bounded, without an internal error', () => {
    // Every command on one image of each shape; `audit` (which runs every walk) on all of them.
    const full = ['x86_64-fan-out', 'x86_64-fan-out-alternating', 'riscv64-self-root', 'aarch64-fan-out'];
    for (const { img, file } of corpus) {
      const cmds = full.includes(img.name)
        ? [['dump'], ['dump', '--leaves'], ['audit'], ['find', '0x100000'], ['simulate', '--edit', 'unmap 0x1000 4K'], ['simulate', '--edit', 'unmap 0x0 1G']]
        : [['audit']];
      for (const cmd of cmds) {
        const r = ptview([...cmd, ...hostileArgs(img, file)]);
        const what = `${img.name}: ${cmd.join(' ')} → ${r.code} ${r.signal ?? ''}\n${r.err}`;
        assert.ok(r.code === 0 || r.code === 1 || r.code === 2, what);
        assert.doesNotMatch(r.err, /\n\s+at /, `no stack trace: ${what}`);
        assert.ok(r.out.length < 64 << 20, what);
      }
    }
  });

  it('says how long an astronomically long answer would be, and what to use instead', () => {
    const leaves = ptview(['dump', '--leaves', ...args('x86_64-fan-out')]);
    assert.equal(leaves.code, 2);
    assert.match(leaves.err, /expand to 68,719,476,736 leaves .*use `ptview dump` without --leaves .* --va START\+LEN/);
    const merged = ptview(['dump', ...args('x86_64-fan-out')]);
    assert.equal(merged.code, 0, merged.err);
    // Header and one range per half (never one range across the non-canonical hole).
    assert.equal(merged.out.trim().split('\n').length, 3, merged.out);
    assert.match(merged.out, /^0x0\s+-0x800000000000\s+128T rwx/m);
    assert.match(merged.out, /^0xffff800000000000-0x10000000000000000\s+128T rwx/m);
    const limited = ptview(['dump', '--leaves', '--json', '--va', '0x0+8K', ...args('x86_64-fan-out')]);
    assert.equal(limited.code, 0, limited.err);
    assert.deepEqual(limited.out.trim().split('\n').map((l) => JSON.parse(l).pa), ['0x100000', '0x107000']);
    const alt = ptview(['dump', ...args('x86_64-fan-out-alternating')]);
    assert.equal(alt.code, 2);
    assert.match(alt.err, /merge into 68,719,476,736 ranges/);
    const find = ptview(['find', '0x100000', ...args('x86_64-fan-out')]);
    assert.equal(find.code, 0);
    assert.match(find.err, /134,217,728 VAs map it .* the first 100000 are shown/);
  });

  it('a recursive reference is reported once and not descended; a shared diagnostic once', () => {
    const r = ptview(['dump', ...args('riscv64-self-root')]);
    assert.equal(r.code, 0);
    const warnings = r.err.split('\n').filter((l) => l.startsWith('warning:'));
    assert.equal(warnings.length, 512);
    assert.ok(warnings.every((w) => /points back to an ancestor table at 0x0 \(recursive mapping; not descended\)/.test(w)));
    const res = ptview(['dump', ...args('x86_64-fan-out-reserved')]);
    assert.equal(res.err.split('\n').filter((l) => l.startsWith('warning:')).length, 512);
  });

  it('a closed pipe ends the output quietly with exit 0', async () => {
    for (const extra of [['--leaves'], ['--leaves', '--json'], []]) {
      const child = spawn(process.execPath, [CLI, 'dump', ...extra, '--va', '0x0+1G', ...args('x86_64-fan-out')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.stdout.destroy();
      const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      assert.equal(code, 0, `${extra.join(' ')}: ${err}`);
      assert.doesNotMatch(err, /EPIPE|\n\s+at /, err);
    }
  });

  it('a pipe read slowly gets every line, as a file does (stdout to a pipe writes blocking)', async () => {
    const cmd = [CLI, 'dump', '--leaves', '--json', '--va', '0x0+1G', ...args('x86_64-fan-out')];
    const file = path.join(dir, 'leaves.json');
    const fd = fs.openSync(file, 'w');
    const r = spawnSync(process.execPath, cmd, { stdio: ['ignore', fd, 'ignore'] });
    fs.closeSync(fd);
    assert.equal(r.status, 0);
    const want = fs.readFileSync(file);
    assert.ok(want.length > 4 << 20, `${want.length} bytes: more than the output buffers and the pipe hold`);
    const child = spawn(process.execPath, cmd, { stdio: ['ignore', 'pipe', 'ignore'] });
    const parts: Buffer[] = [];
    // The reader takes a chunk, then pauses: the writer waits on a full pipe again and again.
    child.stdout.on('data', (d: Buffer) => {
      parts.push(d);
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), 5);
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.equal(code, 0);
    assert.ok(Buffer.concat(parts).equals(want));
  });

  it('numbers are parsed strictly: 0x-hex or decimal within 64 bits, page sizes, table@PA, whole edits (exit 2, never 70)', () => {
    const x86 = args('x86_64-fan-out');
    const withReg = (reg: string) => [...x86.filter((a, i) => !(a.startsWith('CR3=') || x86[i + 1]?.startsWith('CR3='))), '--reg', reg];
    const cases: [string[], RegExp][] = [
      [['dump', ...withReg('CR3=1e5')], /invalid value of CR3 '1e5'/],
      [['dump', ...withReg('CR3=0b101')], /invalid value of CR3 '0b101'/],
      [['dump', ...withReg('CR3=abc')], /invalid value of CR3 'abc'/],
      [['dump', ...withReg('CR3=0x10000000000000000')], /larger than 64 bits/],
      [['dump', ...withReg('CR3=-1')], /invalid value of CR3/],
      [['dump', ...x86.map((a) => (a === '0' ? 'abc' : a))], /invalid --base 'abc'/],
      [['dump', '--root', 'table@', ...x86], /--root table@/],
      [['dump', '--root', 'table@-1', ...x86], /--root table@-1/],
      [['dump', '--root', 'table@xyz', ...x86], /--root table@xyz/],
      [['dump', '--root', 'table@0x123', ...x86], /aligned/],
      [['dump', '--root', `table@${'9'.repeat(30)}`, ...x86], /larger than 64 bits|below 2\^52/],
      [['dump', '--page-size', '3K', ...x86], /invalid page size '3K'/],
      [['dump', '--page-size', '9'.repeat(400), ...x86], /invalid page size/],
      [['dump', '--va', '0x1000+0x10000000000000000', ...x86], /larger than 64 bits|above 2\^64/],
      [['translate', '1e5', ...x86], /invalid virtual address '1e5'/],
      [['find', 'ffff', ...x86], /invalid physical address 'ffff'/],
      [['simulate', '--edit', 'unmap 0x1000 4K extra', ...x86], /expected unmap VA SIZE/],
      [['simulate', '--edit', 'protect 0x1000 4K -w junk', ...x86], /expected protect VA SIZE CHANGES/],
      [['simulate', '--edit', `unmap 0x1000 ${'9'.repeat(400)}`, ...x86], /invalid size/],
      [['simulate', '--edit', 'unmap 0x1000 4K', '--flush-ceiling', '', ...x86], /--flush-ceiling ''/],
      [['simulate', '--edit', 'unmap 0x1000 4K', '--flush-ceiling', '1e3', ...x86], /--flush-ceiling '1e3'/],
      // T0SZ=63: a 1-bit input range, outside every granule's allowed T0SZ (Arm ARM D8.1.9).
      [['dump', ...args('aarch64-fan-out').map((a) => a.replace(/^TCR_EL1=0x[0-9a-f]+$/, `TCR_EL1=0x${(63n | (16n << 16n) | (2n << 30n) | (5n << 32n) | (1n << 23n)).toString(16)}`))], /T0SZ/],
    ];
    for (const [a, re] of cases) {
      const r = ptview(a);
      assert.equal(r.code, 2, `${a.join(' ')}: ${r.code} ${r.err}`);
      assert.match(r.err, re, a.join(' '));
    }
  });

  it('fuzzed arguments never end in an internal error', () => {
    const x86 = args('x86_64-fan-out');
    const token = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('0x', '0x1000', '4K', '2M', '-1', '1e5', '0b1', 'abc', '18446744073709551616', '9'.repeat(40), 'table@', 'table@0x1000', ''),
      fc.bigInt({ min: 0n, max: (1n << 66n) }).map((v) => `0x${v.toString(16)}`),
    );
    const option = fc.oneof(
      token.map((t) => ['--va', t]), token.map((t) => ['--pa', t]), token.map((t) => ['--page-size', t]),
      token.map((t) => ['--root', t]), token.map((t) => ['--reg', `CR4=${t}`]), token.map((t) => ['--filter', t]),
    );
    const command = fc.oneof(
      fc.tuple(fc.constant('dump'), fc.array(option, { maxLength: 3 })).map(([c, o]) => [c, ...o.flat()]),
      fc.tuple(fc.constantFrom('translate', 'find'), token).map(([c, t]) => [c, t]),
      fc.tuple(token, token, fc.constantFrom('unmap', 'protect', 'map')).map(([a, b, v]) => ['simulate', '--edit', `${v} ${a} ${b} -w`]),
    );
    fc.assert(
      fc.property(command, (cmd) => {
        const r = ptview([...cmd, ...x86]);
        assert.ok(r.code !== null && r.code !== 70, `${JSON.stringify(cmd)} → ${r.code} ${r.signal ?? ''}\n${r.err}`);
        assert.doesNotMatch(r.err, /\n\s+at /);
      }),
      { numRuns: 25 },
    );
  });
});
