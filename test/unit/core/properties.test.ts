// Property tests: random well-formed tables, encoded here from the architecture manuals (not by
// the core's formats), must walk, translate and reverse-map consistently with each other and with
// the model they were built from: the same leaves, the same PAs at every offset, effective rights
// equal to the manuals' combination rules, and every alias of a frame found by one walk.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spaceFromRegisters } from '../../../src/core/formats';
import { PageTableSession } from '../../../src/core/ops/session';
import { ArchModel, Rights, a64, build, reqArb, sv39, x86_64 } from '../../support/randomTables';

function check(m: ArchModel) {
  return fc.asyncProperty(fc.array(reqArb(m), { minLength: 1, maxLength: 40 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 3, maxLength: 3 }), async (reqs, offs) => {
    const b = build(m, reqs);
    const s = new PageTableSession(spaceFromRegisters(m.arch, m.regs(b.root)), b.mem);
    const walked = await s.leaves();
    // Walk = model: the same leaves, PAs, sizes, effective rights.
    assert.deepEqual(walked.map((l) => `0x${l.linear.toString(16)}`).sort(), [...b.leaves.keys()].sort());
    for (const l of walked) {
      const want = b.leaves.get(`0x${l.linear.toString(16)}`)!;
      assert.equal(l.pa, want.pa);
      assert.equal(l.size, want.size);
      const got = { write: (l.perms & 2) !== 0, user: (l.perms & 8) !== 0, exec: (l.perms & 4) !== 0 };
      for (const k of Object.keys(want.r) as (keyof Rights)[]) assert.equal(got[k], want.r[k], `${k} of ${l.linear.toString(16)}`);
    }
    // Translate = walk at random offsets inside each page; reverse finds that VA among the aliases.
    for (const l of walked) {
      for (const f of offs) {
        const off = Math.floor(f * (l.size - 1));
        const va = l.root.toVirt(l.linear) + BigInt(off);
        const t = await s.translate(va);
        assert.equal(t.kind, 'mapped');
        assert.equal(t.pa, l.pa + off);
        assert.equal(t.size, l.size);
        assert.equal(t.rights!.write, (l.perms & 2) !== 0);
        if (m.checksExec) assert.equal(t.rights!.exec, (l.perms & 4) !== 0);
        const aliases = await s.aliases(l.pa + off);
        assert.ok(aliases.some((a) => BigInt(a.vaOfPa) === va), `reverse of ${(l.pa + off).toString(16)} misses ${va.toString(16)}`);
        for (const a of aliases) assert.equal((await s.translate(BigInt(a.vaOfPa))).pa, l.pa + off);
        // Exactly the model's aliases: every leaf whose frame range holds this PA.
        const expected = [...b.leaves.values()].filter((x) => x.pa <= l.pa + off && l.pa + off < x.pa + x.size).length;
        assert.equal(aliases.length, expected);
      }
    }
    // A VA the model does not map is not mapped.
    const probe = 3 * 2 ** (12 + 9 * (m.levels - 1)) + Math.floor(offs[0] * 2 ** 30);
    const t = await s.translate(BigInt(probe));
    assert.equal(t.kind, 'not-mapped');
  });
}

describe('properties: walk, translate and reverse agree on random well-formed tables', function () {
  this.timeout(60_000);
  for (const m of [x86_64, sv39, a64]) {
    it(`${m.arch} (${m.levels} levels)`, async () => {
      await fc.assert(check(m), { numRuns: 60 });
    });
  }
});
