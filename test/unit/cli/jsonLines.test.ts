// The CLI's byte writer of `dump --leaves --json` lines must give exactly leafJsonLine's text (itself
// JSON.stringify(leafRecord), test/unit/core/records.test.ts), on every architecture, in both
// halves, and across buffer boundaries.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildRealShape } from '../../../bench/realShape';
import { LeafLineWriter, leafLineMax, putLeafLine } from '../../../src/cli/jsonLines';
import { spaceFromRegisters } from '../../../src/core/formats';
import { leafJsonLine } from '../../../src/core/ops/records';
import { PageTableSession } from '../../../src/core/ops/session';
import { Leaf } from '../../../src/core/walker';
import { a64, randomLeavesBothHalves, reqArb, sv39, x86_64 } from '../../support/randomTables';

function bytesOf(leaves: Leaf[]): string {
  let buf = Buffer.alloc(512);
  let pos = 0;
  const parts: Buffer[] = [];
  for (const l of leaves) {
    const need = leafLineMax(l);
    assert.ok(need >= Buffer.byteLength(leafJsonLine(l)) + 1, 'leafLineMax is an upper bound');
    if (pos + need > buf.length) {
      parts.push(buf.subarray(0, pos));
      buf = Buffer.alloc(Math.max(512, need));
      pos = 0;
    }
    pos = putLeafLine(buf, pos, l);
  }
  parts.push(buf.subarray(0, pos));
  return Buffer.concat(parts).toString('utf8');
}

const expected = (leaves: Leaf[]) => leaves.map((l) => leafJsonLine(l) + '\n').join('');

describe('cli jsonLines: leaf lines as bytes equal leafJsonLine', function () {
  this.timeout(60_000);
  it('on a Linux-shaped x86_64 space (both halves, KPTI user root)', async () => {
    const shape = buildRealShape({ kasan: false });
    for (const cr3 of [shape.kernelRoot, shape.userRoot]) {
      const space = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', cr3], ['cr4', 0x20n], ['efer', 0xd01n]]));
      const leaves = await new PageTableSession(space, shape.memory).leaves();
      assert.ok(leaves.some((l) => l.linear >= 2 ** 47) && leaves.some((l) => l.linear < 2 ** 47));
      assert.equal(bytesOf(leaves), expected(leaves));
    }
    // A line that might not fit is not written at all: the caller flushes and writes it again.
    const small = Buffer.alloc(64, 0x20);
    const space = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', shape.kernelRoot], ['cr4', 0x20n], ['efer', 0xd01n]]));
    const kernelLeaves = await new PageTableSession(space, shape.memory).leaves();
    const first = kernelLeaves[0];
    assert.equal(putLeafLine(small, 0, first), -1);
    assert.ok(small.every((b) => b === 0x20));
    // The benches' writer: the same bytes, in writes of at most 1 MiB.
    const chunks: Buffer[] = [];
    const w = new LeafLineWriter(7, (fd, b, off, len) => chunks.push(Buffer.from(b.subarray(off, off + len))) && assert.equal(fd, 7));
    const many = Array.from({ length: 4 }, () => kernelLeaves).flat();
    for (const l of many) w.leaf(l);
    w.end();
    assert.ok(chunks.length > 1 && chunks.every((c) => c.length <= 1 << 20));
    assert.equal(Buffer.concat(chunks).toString('utf8'), expected(many));
  });

  for (const m of [x86_64, sv39, a64]) {
    it(`on random ${m.arch} tables${m === a64 ? ' (TTBR0 and TTBR1 roots)' : ''}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(reqArb(m), { minLength: 1, maxLength: 30 }), async (reqs) => {
          const leaves = await randomLeavesBothHalves(m, reqs);
          assert.equal(bytesOf(leaves), expected(leaves));
        }),
        { numRuns: 40 },
      );
    });
  }
});
