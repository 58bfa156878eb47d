// In-memory guest-physical memory for unit tests of pure logic (hand-built tables).
import { PhysAddr, physAddr } from '../../src/core/addr';
import { MemoryReadError, PhysicalMemory, RamRange, ReadRequest, inRam, readManyVia } from '../../src/core/memory';

export class SparseMemory implements PhysicalMemory {
  readonly ram: RamRange[];
  private readonly pages = new Map<number, Uint8Array>();
  reads = 0;

  constructor(ramBytes = 64 * 1024 * 1024, base = 0) {
    this.ram = [{ start: physAddr(base), end: physAddr(base + ramBytes), name: 'ram' }];
  }

  private page(pa: number): Uint8Array {
    const key = Math.floor(pa / 4096);
    let p = this.pages.get(key);
    if (!p) {
      p = new Uint8Array(4096);
      this.pages.set(key, p);
    }
    return p;
  }

  write64(pa: number, value: bigint): void {
    const p = this.page(pa);
    new DataView(p.buffer).setBigUint64(pa % 4096, BigInt.asUintN(64, value), true);
  }

  write32(pa: number, value: number): void {
    const p = this.page(pa);
    new DataView(p.buffer).setUint32(pa % 4096, value >>> 0, true);
  }

  async read(addr: PhysAddr, length: number): Promise<Uint8Array> {
    if (!inRam(this.ram, addr, length)) throw new MemoryReadError(addr, length, 'outside-ram');
    this.reads++;
    const out = new Uint8Array(length);
    for (let off = 0; off < length; ) {
      const pa = addr + off;
      const inPage = Math.min(4096 - (pa % 4096), length - off);
      const p = this.pages.get(Math.floor(pa / 4096));
      if (p) out.set(p.subarray(pa % 4096, (pa % 4096) + inPage), off);
      off += inPage;
    }
    return out;
  }

  readMany(reqs: readonly ReadRequest[]): Promise<(Uint8Array | MemoryReadError)[]> {
    return readManyVia(this, reqs);
  }
}
