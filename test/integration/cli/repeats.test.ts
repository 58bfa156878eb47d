// The built CLI on a raw image of Linux x86_64's ESPfix shape (test/support/espfix.ts): `dump`
// prints the area as one folded range (text and --json, the JSON valid against
// docs/ptview.schema.json), and a filtered dump (a leaf walk) folds it the same way.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv from 'ajv';
import { physAddr } from '../../../src/core/addr';
import { REPO } from '../../harness/qemu';
import { ESPFIX_VA, espfixMemory } from '../../support/espfix';

const CLI = path.join(REPO, 'out', 'cli.js');

describe('ptview dump folds repeated ranges (ESPfix shape)', function () {
  this.timeout(60_000);
  let dir = '';
  let args: string[] = [];
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptview-repeats-'));
    const { mem, pml4 } = espfixMemory();
    const file = path.join(dir, 'espfix.bin');
    fs.writeFileSync(file, await mem.read(physAddr(0), pml4 + 0x6000));
    args = ['--raw', file, '--base', '0', '--arch', 'x86_64', '--reg', `CR3=0x${pml4.toString(16)}`, '--reg', 'CR0=0x80010011', '--reg', 'CR4=0x20', '--reg', 'EFER=0xd00'];
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ptview = (a: string[]) => spawnSync(process.execPath, [CLI, ...a, ...args], { encoding: 'utf8' });

  it('one JSON line with repeat and stride, valid against the schema; one text line', () => {
    const r = ptview(['dump', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const recs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(recs.length, 2);
    assert.equal(recs[0].va, '0x' + ESPFIX_VA.toString(16));
    assert.equal(recs[0].end, '0x' + (ESPFIX_VA + 0x1000n).toString(16), 'va..end is one copy');
    assert.equal(recs[0].repeat, 65536);
    assert.equal(recs[0].stride, 65536);
    assert.equal('repeat' in recs[1], false);
    const schema = JSON.parse(fs.readFileSync(path.join(REPO, 'docs', 'ptview.schema.json'), 'utf8'));
    const ajv = new Ajv({ allErrors: true, strict: false });
    ajv.addSchema(schema);
    const v = ajv.getSchema(`${schema.$id}#/definitions/range`)!;
    for (const rec of recs) assert.ok(v(rec), ajv.errorsText(v.errors));
    assert.equal(v({ ...recs[1], repeat: 2 }), false, 'repeat without stride is invalid');
    const text = ptview(['dump']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^0xffffff0000000000-0xffffff0000001000 +4K .* -> 0x5000000 \u00d765536 every 64K/m);
  });

  it('a VA-filtered dump folds the leaf walk\'s ranges too', () => {
    const r = ptview(['dump', '--json', '--va', `0x${ESPFIX_VA.toString(16)}+0x100000`]);
    assert.equal(r.status, 0, r.stderr);
    const recs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(recs.map((x) => [x.va, x.repeat, x.stride]), [['0x' + ESPFIX_VA.toString(16), 16, 65536]]);
  });
});
