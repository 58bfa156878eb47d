// The fast JSON line of `dump --leaves --json` (number-only hex, cached attribute text) must be
// exactly the record's JSON, on every architecture and in both halves of each space.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildRealShape } from '../../../bench/realShape';
import { spaceFromRegisters } from '../../../src/core/formats';
import { leafJsonLine, leafRecord, rangeJsonLine, rangeRecord } from '../../../src/core/ops/records';
import { PageTableSession } from '../../../src/core/ops/session';
import { a64, randomLeavesBothHalves, reqArb, sv39, x86_64 } from '../../support/randomTables';

describe('records: leafJsonLine is JSON.stringify(leafRecord)', function () {
  this.timeout(60_000);
  it('on a Linux-shaped x86_64 space (both halves)', async () => {
    const shape = buildRealShape({ kasan: false });
    const space = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', shape.kernelRoot], ['cr4', 0x20n], ['efer', 0xd01n]]));
    const s = new PageTableSession(space, shape.memory);
    const leaves = await s.leaves();
    assert.ok(leaves.some((l) => l.linear >= 2 ** 47) && leaves.some((l) => l.linear < 2 ** 47));
    for (const l of leaves) assert.equal(leafJsonLine(l), JSON.stringify(leafRecord(l)));
    for (const r of await s.ranges()) assert.equal(rangeJsonLine(r), JSON.stringify(rangeRecord(r)));
  });

  for (const m of [x86_64, sv39, a64]) {
    it(`on random ${m.arch} tables${m === a64 ? ' (TTBR0 and TTBR1 roots)' : ''}`, async () => {
      let upper = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(reqArb(m), { minLength: 1, maxLength: 30 }), async (reqs) => {
          for (const l of await randomLeavesBothHalves(m, reqs)) {
            assert.equal(leafJsonLine(l), JSON.stringify(leafRecord(l)));
            if (l.root.name.startsWith('ttbr1')) upper++;
          }
        }),
        { numRuns: 40 },
      );
      if (m === a64) assert.ok(upper > 0, 'TTBR1 leaves were checked');
    });
  }
});
