// The graph fold (src/core/graph.ts) against the leaf walk it replaces for merged ranges, counts
// and reverse lookups, on random table graphs (shared subtrees, recursive references, garbage
// entries) encoded from the manuals (test/support/randomTables.ts); and the hostile corpus
// (test/support/hostile.ts): tables that unfold to 512^4 leaves are summarised in bounded time.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spaceFromRegisters } from '../../../src/core/formats';
import { ExpansionError, expansion, foldRanges, leafChunks } from '../../../src/core/graph';
import { audit } from '../../../src/core/ops/audit';
import { MergedRange, mergeLeaves } from '../../../src/core/ops/merge';
import { PageTableSession } from '../../../src/core/ops/session';
import { Diagnostic, Leaf, TableStore, walk } from '../../../src/core/walker';
import { hostileCorpus } from '../../support/hostile';
import { ArchModel, a64, rights, sv39, x86_64 } from '../../support/randomTables';
import { SparseMemory } from '../../support/sparseMemory';

const plain = (r: MergedRange) => ({ ...r, root: r.root.name });
const POOL = 6;
const BASE = 0x100000;
const INDICES = [0, 1, 2, 3, 255, 256, 511];

type EntrySpec =
  | { t: 'table'; to: number; r: { write: boolean; user: boolean; exec: boolean } }
  | { t: 'leaf'; level: number; frame: number; r: { write: boolean; user: boolean; exec: boolean } }
  | { t: 'raw'; v: bigint };

/** A random graph of POOL tables: entries point anywhere in the pool (ancestors too), map leaves, or hold garbage. */
function graphArb(m: ArchModel) {
  const entry: fc.Arbitrary<EntrySpec> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ t: fc.constant('table' as const), to: fc.integer({ min: 0, max: POOL - 1 }), r: rights }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('leaf' as const), level: fc.constantFrom(...m.leafLevels), frame: fc.integer({ min: 0, max: 7 }), r: rights }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('raw' as const), v: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }) },
  );
  return fc.array(fc.tuple(fc.integer({ min: 0, max: POOL - 1 }), fc.constantFrom(...INDICES), entry), { minLength: 1, maxLength: 30 });
}

function buildGraph(m: ArchModel, entries: [number, number, EntrySpec][]): SparseMemory {
  const mem = new SparseMemory();
  for (const [table, index, e] of entries) {
    const at = BASE + table * 4096 + 8 * index;
    if (e.t === 'table') mem.write64(at, m.table(BASE + e.to * 4096, e.r));
    else if (e.t === 'leaf') mem.write64(at, m.leaf(e.frame * 2 ** (12 + 9 * (m.levels - 1 - e.level)), e.level, e.r));
    else mem.write64(at, e.v);
  }
  return mem;
}

describe('graph fold: the same answers as the leaf walk, from each subtree once', function () {
  this.timeout(60_000);
  for (const m of [x86_64, sv39, a64]) {
    it(`${m.arch}: merged ranges, counts, diagnostics and reverse lookups on random table graphs`, async () => {
      await fc.assert(
        fc.asyncProperty(graphArb(m), fc.boolean(), async (entries, requirePa) => {
          const mem = buildGraph(m, entries);
          const space = spaceFromRegisters(m.arch, m.regs(BASE));
          const store = new TableStore(mem);
          const size = await expansion(space.roots, store);
          fc.pre(size.leaves <= 2 ** 17 && size.tables <= 2 ** 15);
          const leaves: Leaf[] = [];
          const walkDiags = new Set<string>();
          await walk(space.roots, store, { leaf: (l) => leaves.push(l), diagnostic: (d) => walkDiags.add(d.message) });
          assert.equal(size.leaves, leaves.length);
          const foldDiags: Diagnostic[] = [];
          const folded = await foldRanges(space.roots, store, { requirePaContiguous: requirePa, diagnostic: (d) => foldDiags.push(d) });
          assert.deepEqual(folded.map(plain), mergeLeaves(leaves, { requirePaContiguous: requirePa }).map(plain));
          // Each distinct problem once from the fold (shared subtrees are not re-reported).
          assert.deepEqual(new Set(foldDiags.map((d) => d.message)), walkDiags);
          assert.equal(new Set(foldDiags.map((d) => `${d.root.name}:${d.message}`)).size, foldDiags.length);
          // Chunks for streaming (how `dump --leaves` walks big spaces): consecutive, each at most
          // `max` leaves (a last-level entry is one), covering the whole range, and walked one by
          // one they give the whole walk's leaves and every problem, also those under entries that
          // map nothing readable.
          const max = 1 + (entries.length % 7);
          const chunked: Leaf[] = [];
          const chunkDiags = new Set<string>();
          for (const root of space.roots) {
            let prev = 0;
            for (const c of await leafChunks(root, store, undefined, max)) {
              assert.ok(c[0] === prev && c[1] > c[0], JSON.stringify(c));
              prev = c[1];
              const part: Leaf[] = [];
              await walk([root], store, { leaf: (l) => part.push(l), diagnostic: (d) => chunkDiags.add(d.message) }, { range: c });
              assert.ok(part.length <= max, `${part.length} leaves in ${JSON.stringify(c)}`);
              chunked.push(...part);
            }
            assert.equal(prev, 2 ** root.inputBits);
          }
          assert.deepEqual(chunked.map((l) => [l.root.name, l.linear, l.pa]), leaves.map((l) => [l.root.name, l.linear, l.pa]));
          assert.deepEqual(chunkDiags, walkDiags);
          const s = new PageTableSession(space, mem);
          for (const l of leaves.slice(0, 5)) {
            const want = leaves.filter((x) => x.pa <= l.pa && l.pa < x.pa + x.size).length;
            assert.equal(await s.countAliases(l.pa), want);
            assert.equal((await s.aliases(l.pa)).length, want);
            const t = await s.translate(BigInt(l.root.toVirt(l.linear)));
            assert.equal(t.kind, 'mapped');
            assert.equal(t.pa, l.pa);
          }
        }),
        { numRuns: 200 },
      );
    });
  }

  it('RISC-V root-table leaves on both sides of the upper half (entries 255, 256) are two ranges, as the leaf merge gives', async () => {
    // What the property above shrank to (Sv39, seed 258065507): equal 1 GiB leaves at root entries
    // 255 and 256 are consecutive entries, but 256 starts the sign-extended upper half (RISC-V
    // privileged spec §10.4.1: bits 63:39 equal bit 38), so they are not consecutive VAs.
    const leaf: EntrySpec = { t: 'leaf', level: 0, frame: 0, r: { write: true, user: true, exec: false } };
    const mem = buildGraph(sv39, [[0, 256, leaf], [0, 255, leaf], [0, 0, { t: 'table', to: 0, r: { write: false, user: false, exec: false } }]]);
    const space = spaceFromRegisters(sv39.arch, sv39.regs(BASE));
    const store = new TableStore(mem);
    const leaves: Leaf[] = [];
    await walk(space.roots, store, { leaf: (l) => leaves.push(l) });
    const folded = (await foldRanges(space.roots, store)).map(plain);
    assert.deepEqual(folded, mergeLeaves(leaves).map(plain));
    assert.deepEqual(folded.map((r) => [space.roots[0].toVirt(r.start).toString(16), r.pages]), [['3fc0000000', 1], ['ffffffc000000000', 1]]);
  });

  it('reverse lookup: a table first met under a loop (not followed there) still leads to its alias by another path', async () => {
    // What the property above shrank to (x86_64, seed -734809319): PML4[0] → T4 → T3 → T4 again,
    // on its own path and not followed; PML4[255] → T2 → T3 → T4, whose entry 0 read as a PTE maps
    // T3's page. Reachability had kept "T3 at PD level reaches nothing" from the first path.
    const t = (to: number): EntrySpec => ({ t: 'table', to, r: { write: false, user: false, exec: false } });
    const mem = buildGraph(x86_64, [[3, 0, t(4)], [0, 0, t(4)], [4, 0, t(3)], [0, 255, t(2)], [2, 0, t(3)]]);
    const s = new PageTableSession(spaceFromRegisters(x86_64.arch, x86_64.regs(BASE)), mem);
    const leaves = await s.leaves();
    assert.deepEqual(leaves.map((l) => [l.linear, l.pa]), [[255 * 2 ** 39, BASE + 3 * 4096]]);
    assert.equal(await s.countAliases(BASE + 3 * 4096), 1);
    assert.deepEqual((await s.aliases(BASE + 3 * 4096)).map((a) => a.vaOfPa), ['0x7f8000000000']);
  });
});

describe('hostile corpus: bounded work on tables that unfold astronomically', function () {
  this.timeout(60_000);
  const fromImage = (bytes: Buffer) => {
    const mem = new SparseMemory(bytes.length);
    for (let o = 0; o < bytes.length; o += 8) {
      const v = bytes.readBigUInt64LE(o);
      if (v) mem.write64(o, v);
    }
    return mem;
  };
  for (const img of hostileCorpus()) {
    it(`${img.name}: ${img.what}`, async () => {
      const mem = fromImage(img.bytes);
      const space = spaceFromRegisters(img.arch, new Map(img.regs));
      const s = new PageTableSession(space, mem);
      const size = await s.expansion();
      assert.equal(size.leaves, img.treeLeaves);
      const diags: Diagnostic[] = [];
      try {
        const ranges = await s.ranges({}, (d) => diags.push(d));
        // Every leaf of the tree is in exactly one range.
        assert.equal(ranges.reduce((n, r) => n + r.pages * (r.repeat ?? 1), 0), img.treeLeaves);
      } catch (e) {
        assert.match((e as Error).message, /merge into 68,719,476,736 ranges/);
      }
      // A distinct problem is reported once however many paths reach it.
      assert.equal(new Set(diags.map((d) => d.message)).size, diags.length);
      assert.ok(diags.length <= 512, `${diags.length} diagnostics`);
      if (img.treeLeaves > 2 ** 24) await assert.rejects(s.forEachLeaf(() => undefined), ExpansionError);
      const findings = await audit(space, new TableStore(mem));
      assert.ok(findings.length <= 520);
      if (img.treeLeaves > 2 ** 22) assert.ok(findings.some((f) => f.kind === 'checks-skipped'), 'says which checks the bound skipped');
      if (img.name.includes('self-root')) {
        assert.equal(findings.filter((f) => f.kind === 'recursive').length, 512);
      }
      const frame = img.treeLeaves ? (await s.aliases(0, { max: 10 })).length : 0;
      assert.ok(frame <= 10);
    });
  }

  it('x86_64-fan-out: find counts 512^3 VAs for one frame and lists the first ones in VA order', async () => {
    const img = hostileCorpus().find((i) => i.name === 'x86_64-fan-out')!;
    const s = new PageTableSession(spaceFromRegisters(img.arch, new Map(img.regs)), fromImage(img.bytes));
    assert.equal(await s.countAliases(0x100000), 512 ** 3);
    const first = await s.aliases(0x100000, { max: 3 });
    assert.deepEqual(first.map((a) => a.vaOfPa), ['0x0', '0x200000', '0x400000']);
  });
});

describe('audit with ~131 k writable aliases of code', function () {
  this.timeout(60_000);
  it('lists each alias without overflowing the stack', async () => {
    // Intel SDM vol. 3 §4.5 encodings: one PT of 512 read-only executable 4 KiB pages, and 256 PD
    // entries sharing one writable, non-executable PT that maps the same frames in reverse order,
    // so no two aliases merge: 512 × 256 = 131,072 writable-alias findings.
    const mem = new SparseMemory();
    const P = 1n;
    const RW = 2n;
    const XD = 1n << 63n;
    mem.write64(0x1000 + 8 * 511, 0x2000n | P | RW); // PML4[511] → PDPT: kernel code (user code aliases are one info count)
    mem.write64(0x2000, 0x3000n | P | RW); // PDPT[0] → PD
    mem.write64(0x3000, 0x4000n | P | RW); // PD[0] → code PT
    for (let i = 1; i <= 256; i++) mem.write64(0x3000 + 8 * i, 0x5000n | P | RW); // PD[1..256] → alias PT
    for (let i = 0; i < 512; i++) {
      mem.write64(0x4000 + 8 * i, BigInt(0x1000000 + 4096 * i) | P);
      mem.write64(0x5000 + 8 * i, BigInt(0x1000000 + 4096 * (511 - i)) | P | RW | XD);
    }
    const space = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', 0x1000n], ['cr4', 0x20n], ['efer', 0xd00n]]));
    const findings = await audit(space, new TableStore(mem));
    assert.equal(findings.filter((f) => f.kind === 'writable-alias-of-exec').length, 131_072);
  });
});
