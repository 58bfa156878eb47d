// Every --json output of the built CLI validates against docs/ptview.schema.json (contract v2),
// on raw images of random well-formed tables for x86_64, RISC-V Sv39 and AArch64 (encoded from
// the manuals in test/support/randomTables.ts). Validation by Ajv (a test-only dependency).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv from 'ajv';
import fc from 'fast-check';
import { REPO } from '../../harness/qemu';
import { a64, build, reqArb, sv39, x86_64 } from '../../support/randomTables';

const CLI = path.join(REPO, 'out', 'cli.js');
const schema = JSON.parse(fs.readFileSync(path.join(REPO, 'docs', 'ptview.schema.json'), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addSchema(schema);
const validator = (def: string) => {
  const v = ajv.getSchema(`${schema.$id}#/definitions/${def}`);
  assert.ok(v, def);
  return (value: unknown, what: string) => assert.ok(v(value), `${what}: ${ajv.errorsText(v.errors)}\n${JSON.stringify(value).slice(0, 400)}`);
};

function ptview(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const lines = (s: string) => s.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('--json outputs validate against docs/ptview.schema.json', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptview-schema-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const m of [x86_64, sv39, a64]) {
    it(`${m.arch}: dump --leaves, dump, translate (mapped and not), find, audit, simulate`, async () => {
      const reqs = fc.sample(fc.array(reqArb(m), { minLength: 8, maxLength: 20 }), { numRuns: 1, seed: 42 })[0];
      const b = build(m, reqs);
      const size = 0x120000;
      const file = path.join(dir, `${m.arch}.bin`);
      fs.writeFileSync(file, await b.mem.read(0 as never, size));
      const src = ['--raw', file, '--base', '0', '--arch', m.arch, ...[...m.regs(b.root)].flatMap(([k, v]) => ['--reg', `${k.toUpperCase()}=0x${v.toString(16)}`])];
      const leafOk = validator('leaf');
      const leaves = ptview(['dump', '--leaves', '--json', ...src]);
      assert.equal(leaves.code, 0, leaves.err);
      const ls = lines(leaves.out);
      assert.ok(ls.length > 0);
      for (const l of ls) leafOk(l, 'dump --leaves');
      const rangeOk = validator('range');
      for (const r of lines(ptview(['dump', '--json', ...src]).out)) rangeOk(r, 'dump');
      const tOk = validator('translation');
      const hit = JSON.parse(ptview(['translate', ls[0].va, '--json', ...src]).out);
      assert.equal(hit.kind, 'mapped');
      tOk(hit, 'translate (mapped)');
      const miss = ptview(['translate', '0x7000000000', '--json', ...src]);
      if (miss.out.trim()) tOk(JSON.parse(miss.out), 'translate (not mapped)');
      const aliasOk = validator('alias');
      const found = lines(ptview(['find', ls[0].pa, '--json', ...src]).out);
      assert.ok(found.length > 0);
      for (const a of found) aliasOk(a, 'find');
      validator('audit')(JSON.parse(ptview(['audit', '--json', ...src]).out), 'audit');
      const sim = ptview(['simulate', '--edit', `unmap ${ls[0].va} ${ls[0].size}`, '--json', ...src]);
      assert.equal(sim.code, 0, sim.err);
      validator('simulate')(JSON.parse(sim.out), 'simulate');
    });
  }

  it('the schema rejects v1 shapes (numbers for addresses, the five-field rights)', () => {
    const v = ajv.getSchema(`${schema.$id}#/definitions/translation`)!;
    assert.equal(v({ va: '0x1000', root: 'cr3', kind: 'mapped', pa: 4096, size: 4096, trace: [], message: '' }), false);
    const r = ajv.getSchema(`${schema.$id}#/definitions/rights`)!;
    assert.equal(r({ read: true, write: true, exec: true, user: false, userExec: false }), false);
  });
});
