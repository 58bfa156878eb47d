// Linux region labels from the tables alone, on an x86_64 space laid out as arch/x86/mm/kaslr.c
// places it with KASLR (direct map, vmalloc and vmemmap at randomized 1 GiB-aligned bases, in that
// order) and the fixed regions of Documentation/arch/x86/x86_64/mm.rst. Entries are encoded from
// the Intel SDM (Vol. 3A §4.5): P=1, R/W=2, PS=0x80, XD=bit 63.
import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { regionLabeler } from '../../../src/core/ops/regions';
import { PageTableSession } from '../../../src/core/ops/session';
import { SparseMemory } from '../../support/sparseMemory';

const P = 1n, RW = 2n, PS = 0x80n, NX = 1n << 63n;
const MiB = 1024 * 1024;
const RAM = 64 * MiB;

class Builder {
  readonly m = new SparseMemory(RAM);
  private next = 0x3000000; // table frames, inside RAM
  private readonly tables = new Map<string, number>();
  constructor(readonly root = 0x1000) {}
  private table(pa: number, index: number): number {
    const key = `${pa}:${index}`;
    let t = this.tables.get(key);
    if (t === undefined) {
      t = this.next;
      this.next += 0x1000;
      this.tables.set(key, t);
      this.m.write64(pa + 8 * index, BigInt(t) | P | RW);
    }
    return t;
  }
  /** Maps [va, va + size) to pa with pages of `page` bytes (4 KiB or 2 MiB). */
  map(va: bigint, pa: number, size: number, page: number, bits = P | RW | NX): void {
    for (let off = 0; off < size; off += page) {
      const v = va + BigInt(off);
      const idx = (shift: bigint) => Number((v >> shift) & 511n);
      const pdpt = this.table(this.root, idx(39n));
      const pd = this.table(pdpt, idx(30n));
      if (page === 2 * MiB) this.m.write64(pd + 8 * idx(21n), BigInt(pa + off) | bits | PS);
      else this.m.write64(this.table(pd, idx(21n)) + 8 * idx(12n), BigInt(pa + off) | bits);
    }
  }
}

async function labels(b: Builder) {
  const space = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', BigInt(b.root)], ['cr4', 0x20n], ['efer', 0xd00n]]));
  const s = new PageTableSession(space, b.m);
  const ranges = await s.ranges();
  const l = regionLabeler(space, ranges, b.m.ram);
  const at = (va: bigint) => l?.(space.roots[0].toLinear(va)!, space.roots[0]);
  return { l, at };
}

describe('region labels (Linux x86_64 with KASLR, from the tables)', () => {
  // Bases as kaslr.c could pick them (1 GiB-aligned, in order).
  const direct = 0xffff9a3fc0000000n;
  const vmalloc = 0xffffb51a80000000n;
  const vmemmap = 0xffffd7a2c0000000n;

  function kernel(): Builder {
    const b = new Builder();
    b.map(direct, 0, RAM, 2 * MiB); // all of RAM
    b.map(vmalloc + 0x5000n, 0x2100000, 0x3000, 4096); // vmalloc pages
    b.map(vmemmap, 0x2200000, 2 * MiB, 2 * MiB); // struct pages of RAM's 16384 frames (1 MiB)
    b.map(0xffffffff81000000n, 0x1000000, 4 * MiB, 2 * MiB, P); // kernel text
    b.map(0xffffffffc0010000n, 0x2300000, 0x2000, 4096); // a module
    b.map(0xffffffffff5fc000n, 0xfec00000, 0x1000, 4096, P | RW | NX | 0x10n); // IO-APIC fixmap slot
    b.map(0xfffffe0000001000n, 0x2400000, 0x1000, 4096); // cpu_entry_area
    return b;
  }

  it('names the direct map, vmalloc, vmemmap, kernel image, modules, fixmap and cpu_entry_area where KASLR put them', async () => {
    const { l, at } = await labels(kernel());
    assert.equal(l?.layout, 'Linux x86_64 4-level');
    assert.equal(at(direct + 0x1234000n), 'Direct map');
    assert.equal(at(vmalloc + 0x5000n), 'vmalloc');
    assert.equal(at(vmemmap + 0x1000n), 'vmemmap');
    assert.equal(at(0xffffffff81000000n), 'Kernel image');
    assert.equal(at(0xffffffffc0010000n), 'Modules');
    assert.equal(at(0xffffffffff5fc000n), 'Fixmap', 'not "End Modules"');
    assert.equal(at(0xfffffe0000001000n), 'cpu_entry_area');
    assert.equal(at(0x1000n), undefined, 'user space is not labelled');
  });

  it('labels nothing it cannot prove: a KASAN-like shadow below the cpu_entry_area leaves vmalloc and vmemmap unnamed', async () => {
    const b = kernel();
    b.map(0xfffff00000000000n, 0x2600000, 16 * MiB, 2 * MiB); // more than RAM's struct pages
    const { at } = await labels(b);
    assert.equal(at(direct), 'Direct map');
    assert.equal(at(vmalloc + 0x5000n), undefined);
    assert.equal(at(vmemmap + 0x1000n), undefined);
    assert.equal(at(0xfffff00000000000n), undefined);
  });

  it('no layout without a direct map of RAM', async () => {
    const b = new Builder();
    b.map(0xffffffff81000000n, 0x1000000, 4 * MiB, 2 * MiB, P);
    const { l } = await labels(b);
    assert.equal(l, undefined);
  });
});
