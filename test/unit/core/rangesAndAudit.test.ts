// One fold for the map (PageTableSession.rangesAndAudit): the same merged ranges as ranges() and
// the same audit report as the leaf walk's auditReport, on random table graphs (shared subtrees,
// runs of one frame at a fixed step, blocks across the end of RAM, recursive references).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spaceFromRegisters } from '../../../src/core/formats';
import { Finding } from '../../../src/core/ops/audit';
import { MergedRange } from '../../../src/core/ops/merge';
import { PageTableSession } from '../../../src/core/ops/session';
import { espfixMemory } from '../../support/espfix';
import { a64, rights, sv39, x86_64 } from '../../support/randomTables';
import { SparseMemory } from '../../support/sparseMemory';

const plain = (r: MergedRange) => ({ ...r, root: r.root.name });
const BASE = 0x100000;
const POOL = 6;
const INDICES = [0, 1, 2, 16, 32, 255, 256, 511];
const DIAG = new Set(['outside-ram', 'read-failed', 'reserved-bits', 'recursive', 'misaligned', 'qemu-lenient']);
const isDiag = (f: Finding) => DIAG.has(f.kind);

describe('rangesAndAudit: one fold, the answers of ranges() and the leaf-walk audit', function () {
  this.timeout(120_000);
  for (const m of [x86_64, sv39, a64]) {
    it(`${m.arch}: random table graphs`, async () => {
      const entry = fc.tuple(
        fc.integer({ min: 0, max: POOL - 1 }),
        fc.constantFrom(...INDICES),
        fc.oneof(
          fc.record({ t: fc.constant('table' as const), to: fc.integer({ min: 0, max: POOL - 1 }), r: rights }),
          fc.record({ t: fc.constant('leaf' as const), level: fc.constantFrom(...m.leafLevels), frame: fc.integer({ min: 0, max: 3 }), r: rights }),
          fc.record({ t: fc.constant('raw' as const), v: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
        ),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 30 }), async (entries) => {
          // RAM ends inside a 2 MiB block (5 MiB + 4 KiB): blocks there are partly outside.
          const mem = new SparseMemory(0x501000);
          for (const [table, index, e] of entries) {
            const at = BASE + table * 4096 + 8 * index;
            if (e.t === 'table') mem.write64(at, m.table(BASE + e.to * 4096, e.r));
            else if (e.t === 'leaf') mem.write64(at, m.leaf(e.frame * 2 ** (12 + 9 * (m.levels - 1 - e.level)) + (e.level === m.levels - 2 ? 0x200000 : 0), e.level, e.r));
            else mem.write64(at, e.v);
          }
          const space = spaceFromRegisters(m.arch, m.regs(BASE));
          const s = new PageTableSession(space, mem);
          const size = await s.expansion();
          fc.pre(size.leaves <= 2 ** 16 && size.tables <= 2 ** 14);
          const both = await s.rangesAndAudit();
          const s2 = new PageTableSession(space, mem);
          assert.deepEqual(both.ranges.map(plain), (await s2.ranges()).map(plain));
          const want = await s2.audit();
          assert.equal(both.report.summary, want.summary);
          assert.equal(both.report.wxPages, want.wxPages);
          assert.equal(both.report.leaves, want.leaves);
          assert.deepEqual(both.report.findings.filter((f) => !isDiag(f)), want.findings.filter((f) => !isDiag(f)));
          const diags = (fs: Finding[]) => fs.filter(isDiag).map((f) => JSON.stringify(f)).sort();
          assert.deepEqual(diags(both.report.findings), diags(want.findings));
        }),
        { numRuns: 150 },
      );
    });
  }

  it('the ESPfix shape: the same report, and the ranges folded', async () => {
    const { mem, pml4 } = espfixMemory();
    const space = spaceFromRegisters('x86_64', x86_64.regs(pml4));
    const both = await new PageTableSession(space, mem).rangesAndAudit();
    assert.deepEqual(both.ranges.map((r) => r.repeat), [65536, undefined]);
    assert.deepEqual(both.report, await new PageTableSession(space, mem).audit());
    assert.equal(both.report.leaves, 65537);
  });
});
