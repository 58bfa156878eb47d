// FoldCarry (graph.ts): a stop folded with the subtrees kept from the previous stop gives exactly
// what folding it cold gives, on random table graphs (shared subtrees, recursive references,
// garbage entries) and random changes between the stops: a leaf table changing under unchanged
// parents, pointers moved to other entries or other tables, whole tables rewritten.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spaceFromRegisters } from '../../../src/core/formats';
import { FoldCarry } from '../../../src/core/graph';
import { PageTableSession } from '../../../src/core/ops/session';
import { a64, rights, sv39, x86_64 } from '../../support/randomTables';
import { SparseMemory } from '../../support/sparseMemory';

const BASE = 0x100000;
const POOL = 7;
const INDICES = [0, 1, 2, 16, 255, 256, 511];

describe('FoldCarry: a stop folded with the last stop\'s subtrees equals it folded cold', function () {
  this.timeout(120_000);
  for (const m of [x86_64, sv39, a64]) {
    it(`${m.arch}: random table graphs, random changes between three stops`, async () => {
      const entry = fc.tuple(
        fc.integer({ min: 0, max: POOL - 1 }),
        fc.constantFrom(...INDICES),
        fc.oneof(
          { weight: 4, arbitrary: fc.record({ t: fc.constant('table' as const), to: fc.integer({ min: 0, max: POOL - 1 }), r: rights }) },
          { weight: 4, arbitrary: fc.record({ t: fc.constant('leaf' as const), level: fc.constantFrom(...m.leafLevels), frame: fc.integer({ min: 0, max: 3 }), r: rights }) },
          { weight: 1, arbitrary: fc.record({ t: fc.constant('raw' as const), v: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }) },
          { weight: 1, arbitrary: fc.constant({ t: 'zero' as const }) },
        ),
      );
      const edits = fc.array(entry, { minLength: 0, maxLength: 4 });
      type Entry = typeof entry extends fc.Arbitrary<infer E> ? E : never;
      const memory = (entries: Entry[]): SparseMemory => {
        // RAM ends inside a 2 MiB block: blocks there are partly outside (audit findings).
        const mem = new SparseMemory(0x501000);
        for (const [table, index, e] of entries) {
          const at = BASE + table * 4096 + 8 * index;
          if (e.t === 'table') mem.write64(at, m.table(BASE + e.to * 4096, e.r));
          else if (e.t === 'leaf') mem.write64(at, m.leaf(e.frame * 2 ** (12 + 9 * (m.levels - 1 - e.level)) + (e.level === m.levels - 2 ? 0x200000 : 0), e.level, e.r));
          else if (e.t === 'raw') mem.write64(at, e.v);
          else mem.write64(at, 0n);
        }
        return mem;
      };
      const space = spaceFromRegisters(m.arch, m.regs(BASE));
      let reused = 0;
      let childOnly = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 30 }), edits, edits, async (a, ab, bc) => {
          const stops = [a, [...a, ...ab], [...a, ...ab, ...bc]];
          const cold0 = new PageTableSession(space, memory(stops[0]));
          const size = await cold0.expansion();
          fc.pre(size.leaves <= 2 ** 15 && size.tables <= 2 ** 13);
          const carry = new FoldCarry<unknown>();
          for (const [i, entries] of stops.entries()) {
            const mem = memory(entries);
            const warm = await new PageTableSession(space, mem).rangesAndAudit({ carry });
            const cold = await new PageTableSession(space, mem).rangesAndAudit();
            // Everything, in order: ranges, findings (diagnostics with their VAs), counts.
            assert.deepEqual(warm, cold, `stop ${i}`);
            if (i > 0) reused += carry.last.reused;
            // The root table unchanged, a table below it changed, and still something reused.
            const edited = i === 1 ? ab : i === 2 ? bc : [];
            if (i > 0 && carry.last.reused > 0 && edited.length > 0 && edited.every(([t]) => t !== 0)) childOnly++;
          }
        }),
        { numRuns: 150 },
      );
      // The property above also holds with nothing reused: check that reuse happened.
      assert.ok(reused > 0, 'no subtree was reused');
      assert.ok(childOnly > 0, 'no run changed only tables below an unchanged root');
    });
  }

  it('a child table filled under an unchanged root is decoded again, not taken from the carry', async () => {
    // The root points at an empty table at the first stop and the same table maps a page at the
    // second; the root's bytes do not change.
    const m = x86_64;
    const space = spaceFromRegisters('x86_64', m.regs(BASE));
    const build = (withChild: boolean) => {
      const mem = new SparseMemory(0x501000);
      mem.write64(BASE, m.table(BASE + 4096, { write: true, user: true, exec: true }));
      if (withChild) mem.write64(BASE + 4096, m.leaf(0x40000000, 1, { write: false, user: true, exec: true }));
      return mem;
    };
    const carry = new FoldCarry<unknown>();
    const a = await new PageTableSession(space, build(false)).rangesAndAudit({ carry });
    assert.equal(a.ranges.length, 0);
    const b = await new PageTableSession(space, build(true)).rangesAndAudit({ carry });
    assert.deepEqual(b, await new PageTableSession(space, build(true)).rangesAndAudit());
    assert.equal(b.ranges.length, 1);
  });
});
