// ReverseIndexBuilder.pushPages: a range's pages as the per-leaf push would have stored them.
import assert from 'node:assert/strict';
import { PhysAddr } from '../../../src/core/addr';
import { spaceFromRegisters } from '../../../src/core/formats';
import { ReverseIndexBuilder } from '../../../src/core/ops/reverse';
import { Leaf } from '../../../src/core/walker';

describe('ReverseIndexBuilder', () => {
  it('pushPages stores what pushing each page as a leaf stores, past the initial capacity and across roots', () => {
    const regs = (cr3: bigint) => new Map<string, bigint>([['cr0', (1n << 31n) | 1n], ['cr3', cr3], ['cr4', 1n << 5n], ['efer', 1n << 10n]]);
    const r1 = spaceFromRegisters('x86_64', regs(0x1000n)).roots[0];
    const r2 = spaceFromRegisters('x86_64', regs(0x2000n)).roots[0];
    const runs = [
      { root: r1, linear: 0x400000, pa: 0x100000, size: 4096, count: 3, a: { perms: 5, flags: 2, memType: 0, level: 3 } },
      { root: r2, linear: 0x7f0000000000, pa: 0x200000, size: 0x200000, count: 2, a: { perms: 7, flags: 1, memType: 6, level: 2 } },
      { root: r1, linear: 0x900000, pa: 0x500000, size: 4096, count: 5, a: { perms: 1, flags: 0, memType: 1, level: 3 } },
    ];
    const byLeaf = new ReverseIndexBuilder(2);
    const byRun = new ReverseIndexBuilder(2);
    for (const r of runs) {
      for (let k = 0; k < r.count; k++) {
        byLeaf.push({ root: r.root, linear: r.linear + k * r.size, pa: (r.pa + k * r.size) as PhysAddr, size: r.size, ...r.a, tablePa: 0 as PhysAddr, index: 0, lo: 0, hi: 0, path: undefined } as Leaf);
      }
      byRun.pushPages(r.root, r.linear, r.pa, r.size, r.count, r.a);
    }
    assert.equal(byRun.n, 10);
    for (const col of ['linear', 'pa', 'tablePa', 'index', 'lo', 'hi', 'size', 'perms', 'flags', 'memType', 'level', 'rootIdx'] as const) {
      assert.deepEqual([...byRun[col].subarray(0, byRun.n)], [...byLeaf[col].subarray(0, byLeaf.n)], col);
    }
    assert.deepEqual(byRun.roots, byLeaf.roots);
  });
});
