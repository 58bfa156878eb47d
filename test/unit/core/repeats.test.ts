// Folded repeats (src/core/ops/repeats.ts): unfolded, they are exactly the merged ranges of the
// graph fold and of the leaf walk (Accessed/Dirty aside, ORed over the copies), on random table
// graphs with shared subtrees; and Linux x86_64's ESPfix shape (arch/x86/kernel/espfix_64.c: one
// page every 64 KiB over 4 GiB through repeated PUD, PMD and PTE entries) is one range, folded per
// table (a bound of two ranges per subtree is never reached).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Flag } from '../../../src/core/format';
import { spaceFromRegisters } from '../../../src/core/formats';
import { expansion, foldRanges } from '../../../src/core/graph';
import { MergedRange, mergeLeaves } from '../../../src/core/ops/merge';
import { foldRepeatedRanges, foldRepeats, repeatCount, repeatMergeAlgebra, totalPages, unfold } from '../../../src/core/ops/repeats';
import { PageTableSession } from '../../../src/core/ops/session';
import { Leaf, TableStore, walk } from '../../../src/core/walker';
import { ArchModel, a64, rights, sv39, x86_64 } from '../../support/randomTables';
import { SparseMemory } from '../../support/sparseMemory';
import { ESPFIX_VA, espfixMemory } from '../../support/espfix';

const AD = Flag.Accessed | Flag.Dirty;
const plain = (r: MergedRange) => ({ ...r, root: r.root.name, flags: r.flags & ~AD });
const POOL = 6;
const BASE = 0x100000;
const INDICES = [0, 1, 2, 16, 32, 48, 255, 256, 511];

describe('folded repeats: exactly the merged ranges, one object per repeated run', function () {
  this.timeout(60_000);
  for (const m of [x86_64, sv39, a64]) {
    it(`${m.arch}: unfolded, the same ranges as the graph fold and the leaf walk, on random table graphs`, async () => {
      const spec = fc.array(
        fc.tuple(
          fc.integer({ min: 0, max: POOL - 1 }),
          fc.constantFrom(...INDICES),
          fc.oneof(
            fc.record({ t: fc.constant('table' as const), to: fc.integer({ min: 0, max: POOL - 1 }), r: rights }),
            fc.record({ t: fc.constant('leaf' as const), level: fc.constantFrom(...m.leafLevels), frame: fc.integer({ min: 0, max: 3 }), r: rights }),
          ),
        ),
        { minLength: 1, maxLength: 30 },
      );
      // Runs of one frame at a fixed step (the ESPfix pattern) in a last-level table reached from
      // root entry 400 (no random entry writes there), beside the random graph.
      const pattern = fc.record({ frame: fc.integer({ min: 0, max: 3 }), step: fc.constantFrom(2, 3, 16), count: fc.integer({ min: 2, max: 8 }), at: fc.constantFrom(0, 64), r: rights });
      const graph = fc.tuple(spec, fc.array(pattern, { minLength: 1, maxLength: 2 }));
      let folds = 0;
      await fc.assert(
        fc.asyncProperty(graph, fc.boolean(), async ([entries, patterns], requirePa) => {
          const mem = buildGraph(m, entries);
          const all = { write: true, user: true, exec: true };
          let table = BASE;
          for (let l = 0; l < m.levels - 1; l++) {
            const next = BASE + (POOL + l) * 4096;
            mem.write64(table + 8 * (l === 0 ? 400 : 0), m.table(next, all));
            table = next;
          }
          for (const p of patterns) for (let k = 0; k < p.count; k++) mem.write64(table + 8 * (p.at + k * p.step), m.leaf(p.frame * 4096, m.levels - 1, p.r));
          const space = spaceFromRegisters(m.arch, m.regs(BASE));
          const store = new TableStore(mem);
          const size = await expansion(space.roots, store);
          fc.pre(size.leaves <= 2 ** 17 && size.tables <= 2 ** 15);
          const want = await foldRanges(space.roots, store, { requirePaContiguous: requirePa });
          const got = await foldRepeatedRanges(space.roots, store, { requirePaContiguous: requirePa });
          assert.deepEqual(got.flatMap(unfold).map(plain), want.map(plain));
          if (got.length < want.length) folds++;
          // A folded range is a run of at least two copies, never touching (else they would merge).
          for (const r of got) if (repeatCount(r) > 1) assert.ok(r.stride! > r.size && r.paContiguous !== undefined);
          const leaves: Leaf[] = [];
          await walk(space.roots, store, { leaf: (l) => leaves.push(l) });
          const merged = mergeLeaves(leaves);
          assert.deepEqual(foldRepeats(merged).flatMap(unfold).map(plain), merged.map(plain));
        }),
        { numRuns: 200 },
      );
      assert.ok(folds > 0, 'some random graph had repeats to fold');
    });
  }

  it('a range that continues the last copy, or whose first copy continues a range, takes that copy out of the fold', () => {
    const space = spaceFromRegisters('x86_64', x86_64.regs(BASE));
    const root = space.roots[0];
    const leaf = (linear: number, pa: number): Leaf => ({ root, linear, size: 0x1000, pa, level: 3, index: 0, tablePa: BASE, lo: 0, hi: 0, perms: 1, flags: 0, memType: 0, path: undefined } as unknown as Leaf);
    const alg = repeatMergeAlgebra();
    const s = alg.empty(3);
    for (const at of [0, 0x10000, 0x20000]) alg.run(s, leaf(at, 0x5000), 1, true, 0x5000);
    assert.deepEqual(s.ranges.map((r) => [r.start, r.size, r.repeat, r.stride]), [[0, 0x1000, 3, 0x10000]]);
    alg.run(s, leaf(0x21000, 0x9000), 1, true, 0x9000);
    assert.deepEqual(s.ranges.map((r) => [r.start, r.size, r.repeat, r.stride, r.paContiguous]), [[0, 0x1000, 2, 0x10000, true], [0x20000, 0x2000, undefined, undefined, false]]);
    const parent = alg.empty(2);
    alg.run(parent, leaf(0, 0x4000), 1, true, 0x4000);
    const child = alg.empty(3);
    for (const at of [0, 0x10000, 0x20000]) alg.run(child, leaf(at, 0x5000), 1, true, 0x5000);
    alg.append(parent, child, 0x1000);
    assert.deepEqual(parent.ranges.map((r) => [r.start, r.size, r.repeat, r.stride, r.paContiguous]), [[0, 0x2000, undefined, undefined, true], [0x11000, 0x1000, 2, 0x10000, true]]);
    // The child's summary (shared by every reference to it) is unchanged.
    assert.deepEqual(child.ranges.map((r) => [r.start, r.size, r.repeat]), [[0, 0x1000, 3]]);
  });

  it('x86_64 ESPfix shape: 65,536 copies of one page, one every 64 KiB, are one range', async () => {
    const { mem, pml4, page } = espfixMemory();
    const space = spaceFromRegisters('x86_64', x86_64.regs(pml4));
    const s = new PageTableSession(space, mem);
    const ranges = await s.ranges();
    assert.equal(ranges.length, 2);
    const [r, after] = ranges;
    assert.equal(r.repeat, 65536);
    assert.equal(r.stride, 0x10000);
    assert.equal(r.size, 0x1000);
    assert.equal(r.pa, page);
    assert.equal(space.roots[0].toVirt(r.start), ESPFIX_VA);
    assert.equal(totalPages(r), 65536);
    assert.equal(after.repeat, undefined);
    assert.equal(space.roots[0].toVirt(after.start), ESPFIX_VA + 0x1_0000_1000n);
    // Folded per table: no subtree's summary ever holds more than two ranges.
    const bounded = await foldRepeatedRanges(space.roots, new TableStore(mem), { maxRanges: 2 });
    assert.deepEqual(bounded.map((x) => x.repeat), [65536, undefined]);
    // Unfolded, the ranges of the graph fold (65,537 of them).
    const flat = await foldRanges(space.roots, new TableStore(mem));
    assert.equal(flat.length, 65537);
    assert.deepEqual(ranges.flatMap(unfold).map(plain), flat.map(plain));
  });
});

type EntrySpec = { t: 'table'; to: number; r: { write: boolean; user: boolean; exec: boolean } } | { t: 'leaf'; level: number; frame: number; r: { write: boolean; user: boolean; exec: boolean } };

function buildGraph(m: ArchModel, entries: [number, number, EntrySpec][]): SparseMemory {
  const mem = new SparseMemory();
  for (const [table, index, e] of entries) {
    const at = BASE + table * 4096 + 8 * index;
    if (e.t === 'table') mem.write64(at, m.table(BASE + e.to * 4096, e.r));
    else mem.write64(at, m.leaf(e.frame * 2 ** (12 + 9 * (m.levels - 1 - e.level)), e.level, e.r));
  }
  return mem;
}
