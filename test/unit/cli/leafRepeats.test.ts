// `dump --leaves --json` with shared subtrees' lines copied and their VAs rewritten (LeafLines as
// the walk's SubtreeRecorder, src/core/walker.ts) gives exactly the bytes of the plain walk, and
// the same diagnostics in the same order: on random table graphs (shared subtrees, recursive
// references, reserved encodings, in both halves), with output buffers small enough that copies
// cross them, and on Linux x86_64's ESPfix shape, where nearly every line is a copy.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LeafLines } from '../../../src/cli/jsonLines';
import { spaceFromRegisters } from '../../../src/core/formats';
import { PageTableSession } from '../../../src/core/ops/session';
import { PhysicalMemory } from '../../../src/core/memory';
import { Root } from '../../../src/core/space';
import { espfixMemory } from '../../support/espfix';
import { a64, rights, sv39, x86_64 } from '../../support/randomTables';
import { SparseMemory } from '../../support/sparseMemory';

class CountingLines extends LeafLines {
  replays = 0;
  override replay(key: string, root: Root, linear: number): boolean {
    const ok = super.replay(key, root, linear);
    if (ok) this.replays++;
    return ok;
  }
}

/** The walk's output bytes and diagnostics, with or without the recorder. */
async function dump(space: ReturnType<typeof spaceFromRegisters>, mem: PhysicalMemory, repeats: boolean, size: number): Promise<{ text: string; diags: string[]; replays: number }> {
  const chunks: Buffer[] = [];
  const lines = new CountingLines((c) => {
    chunks.push(Buffer.from(c));
    return chunks.length % 2 === 0; // some buffers reused, some kept by the sink
  }, size);
  const diags: string[] = [];
  await new PageTableSession(space, mem).forEachLeaf((l) => lines.leaf(l), { repeats: repeats ? lines : undefined }, (d) => diags.push(`${d.kind} ${d.message}`));
  lines.flush();
  return { text: Buffer.concat(chunks).toString('utf8'), diags, replays: lines.replays };
}

const POOL = 6;
const BASE = 0x100000;
const INDICES = [0, 1, 2, 16, 32, 255, 256, 511];
const OPEN = { write: true, user: true, exec: true };

describe('cli leaf lines: repeated subtrees copied give the plain walk\'s bytes', function () {
  this.timeout(120_000);
  for (const m of [x86_64, sv39, a64]) {
    it(`${m.arch}: random table graphs`, async () => {
      let replays = 0;
      const entry = fc.tuple(
        fc.integer({ min: 0, max: POOL - 1 }),
        fc.constantFrom(...INDICES),
        fc.oneof(
          // Mostly pointers down the pool (no cycle) that grant everything, so that subtrees are
          // shared under the same rights; some to any table (recursive references).
          { weight: 4, arbitrary: fc.record({ t: fc.constant('down' as const), d: fc.integer({ min: 1, max: 2 }), r: fc.constant(OPEN) }) },
          { weight: 1, arbitrary: fc.record({ t: fc.constant('table' as const), to: fc.integer({ min: 0, max: POOL - 1 }), r: rights }) },
          // One pointer written at consecutive entries (Linux's ESPfix PUD and PMD clones).
          { weight: 2, arbitrary: fc.record({ t: fc.constant('fan' as const), d: fc.integer({ min: 1, max: 2 }), n: fc.integer({ min: 2, max: 6 }), r: fc.constant(OPEN) }) },
          { weight: 3, arbitrary: fc.record({ t: fc.constant('leaf' as const), level: fc.constantFrom(...m.leafLevels), frame: fc.integer({ min: 0, max: 3 }), r: rights }) },
          { weight: 1, arbitrary: fc.record({ t: fc.constant('raw' as const), v: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }) },
        ),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 40 }), fc.constantFrom(512, 4096, 1 << 20), async (entries, size) => {
          const mem = new SparseMemory(0x501000);
          for (const [table, index, e] of entries) {
            const at = BASE + table * 4096 + 8 * index;
            if (e.t === 'table') mem.write64(at, m.table(BASE + e.to * 4096, e.r));
            else if (e.t === 'down') mem.write64(at, m.table(BASE + Math.min(POOL - 1, table + e.d) * 4096, e.r));
            else if (e.t === 'fan') for (let k = 0; k < e.n && index + k < 512; k++) mem.write64(at + 8 * k, m.table(BASE + Math.min(POOL - 1, table + e.d) * 4096, e.r));
            else if (e.t === 'leaf') mem.write64(at, m.leaf(e.frame * 2 ** (12 + 9 * (m.levels - 1 - e.level)), e.level, e.r));
            else mem.write64(at, e.v);
          }
          const space = spaceFromRegisters(m.arch, m.regs(BASE));
          const size0 = await new PageTableSession(space, mem).expansion();
          fc.pre(size0.leaves <= 2 ** 15 && size0.tables <= 2 ** 12);
          const plain = await dump(space, mem, false, size);
          const copied = await dump(space, mem, true, size);
          assert.equal(plain.replays, 0);
          replays += copied.replays;
          assert.equal(copied.text, plain.text);
          assert.deepEqual(copied.diags, plain.diags);
        }),
        { numRuns: 120 },
      );
      // The property is about copies: some runs must have made them.
      assert.ok(replays > 0, `${replays} subtrees copied`);
      console.log(`      ${m.arch}: ${replays} subtrees copied in all`);
    });
  }

  it('a subtree whose table is on the path of a later reference is walked there, not copied', async () => {
    // x86_64: PD table T points to X as its PT. PML4[256] -> P -> T twice (walked, then recorded);
    // PML4[257] -> X as a PDPT -> T: at this third reference X is T's ancestor, so the walk
    // reports a recursive reference where the copy would list X's entries as leaves.
    const mem = new SparseMemory(0x501000);
    const [R, P, T, X] = [0, 1, 2, 3].map((i) => BASE + i * 4096);
    const t = (at: number, to: number) => mem.write64(at, x86_64.table(to, OPEN));
    t(R + 8 * 256, P);
    t(P + 8 * 0, T);
    t(P + 8 * 1, T);
    t(R + 8 * 257, X);
    t(X + 8 * 0, T);
    t(T + 8 * 0, X);
    const space = spaceFromRegisters('x86_64', x86_64.regs(R));
    const plain = await dump(space, mem, false, 4096);
    const copied = await dump(space, mem, true, 4096);
    assert.ok(plain.diags.some((d) => d.startsWith('recursive')), plain.diags.join('\n'));
    assert.equal(copied.text, plain.text);
    assert.deepEqual(copied.diags, plain.diags);
  });

  it('the ESPfix shape (65,537 leaves through one PMD and one PTE table): copies, same bytes', async () => {
    const { mem, pml4 } = espfixMemory();
    const space = spaceFromRegisters('x86_64', x86_64.regs(pml4));
    for (const size of [4096, 1 << 20]) {
      const plain = await dump(space, mem, false, size);
      const copied = await dump(space, mem, true, size);
      assert.equal(copied.text.split('\n').length - 1, 65537);
      // The PTE table: walked, recorded, then copied at the other 2046 of its 2048 references
      // (4 PUD entries x 512 PMD entries); the PMD's lines (~5 MiB) are more than a template keeps.
      assert.equal(copied.replays, 2046);
      assert.equal(copied.text, plain.text);
    }
  });
});
