// A synthetic Linux-like x86_64 address space in memory: a user half with N 4 KiB pages in
// scattered PT runs, a kernel half with a 2 MiB-page direct map, 1 GiB pages, a 4 KiB vmalloc
// area, and a kernel half shared by several process PML4s (read once, walked per reference).
import { PhysAddr, physAddr } from '../src/core/addr';
import { MemoryReadError, PhysicalMemory, ReadRequest, inRam } from '../src/core/memory';

export class FlatMemory implements PhysicalMemory {
  readonly ram;
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  reads = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
    this.ram = [{ start: physAddr(0), end: physAddr(size) }];
  }
  set(pa: number, v: bigint): void {
    this.view.setBigUint64(pa, v, true);
  }
  async read(addr: PhysAddr, length: number): Promise<Uint8Array> {
    if (!inRam(this.ram, addr, length)) throw new MemoryReadError(addr, length, 'outside-ram');
    this.reads++;
    return this.bytes.subarray(addr, addr + length);
  }
  async readMany(reqs: readonly ReadRequest[]): Promise<(Uint8Array | MemoryReadError)[]> {
    return Promise.all(reqs.map((r) => this.read(r.addr, r.length).catch((e) => e as MemoryReadError)));
  }
}

export interface Synthetic {
  memory: FlatMemory;
  cr3: bigint;
  tables: number;
  leaves4k: number;
}

/** ~`pages4k` user 4 KiB pages plus a kernel half of huge pages. */
export function buildLinuxLike(pages4k: number): Synthetic {
  const P = 1n, RW = 2n, US = 4n, A = 32n, D = 64n, PS = 128n, G = 256n, NX = 1n << 63n;
  const ptCount = Math.ceil(pages4k / 512);
  const tablesNeeded = ptCount + Math.ceil(ptCount / 512) + 64;
  const mem = new FlatMemory((tablesNeeded + 16) * 4096);
  let next = 0x1000;
  let tables = 0;
  const alloc = () => {
    tables++;
    const pa = next;
    next += 4096;
    return pa;
  };
  const pml4 = alloc();
  // User half: PML4[0] → PDPT → PDs → PTs; text (RX), data (RW NX) and heap runs.
  const pdpt = alloc();
  mem.set(pml4, BigInt(pdpt) | P | RW | US);
  let made = 0;
  for (let pdi = 0; made < pages4k; pdi++) {
    const pd = alloc();
    mem.set(pdpt + 8 * pdi, BigInt(pd) | P | RW | US);
    for (let i = 0; i < 512 && made < pages4k; i++) {
      const pt = alloc();
      mem.set(pd + 8 * i, BigInt(pt) | P | RW | US);
      for (let j = 0; j < 512 && made < pages4k; j++, made++) {
        const kind = (i + (j >> 6)) % 4; // runs of 64 pages with one attribute set
        // Text and data are physically contiguous; heap pages (kinds 2, 3) get scattered frames
        // as a buddy allocator hands them out.
        const frame = BigInt(0x100000000 + (kind >= 2 ? (made * 7919) % pages4k : made) * 4096);
        const bits = kind === 0 ? P | US | A : kind === 1 ? P | RW | US | NX | A | D : P | RW | US | NX | A;
        mem.set(pt + 8 * j, frame | bits);
      }
    }
  }
  // Kernel half: direct map of 64 GiB in 1 GiB pages and 4 GiB in 2 MiB pages, kernel text.
  const kpdpt = alloc();
  mem.set(pml4 + 8 * 273, BigInt(kpdpt) | P | RW);
  for (let i = 0; i < 64; i++) mem.set(kpdpt + 8 * i, BigInt(i * 2 ** 30) | P | RW | PS | G | NX);
  const kpdpt2 = alloc();
  mem.set(pml4 + 8 * 511, BigInt(kpdpt2) | P | RW);
  for (let p = 0; p < 4; p++) {
    const pd = alloc();
    mem.set(kpdpt2 + 8 * (508 + p), BigInt(pd) | P | RW);
    for (let i = 0; i < 512; i++) mem.set(pd + 8 * i, BigInt((p * 512 + i) * 2 ** 21) | P | RW | PS | G | (p === 2 ? 0n : NX));
  }
  return { memory: mem, cr3: BigInt(pml4), tables, leaves4k: made };
}
