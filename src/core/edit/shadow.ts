// Copy-on-write view of guest-physical memory for simulated edits: writes land in private 4 KiB
// pages, reads see them over the base source, and the guest is never written. Tables the
// simulation allocates live in a made-up region above every RAM range, so they can never be
// mistaken for (or overwrite) real guest frames.
import { PhysAddr, physAddr } from '../addr';
import { MemoryReadError, PhysicalMemory, RamRange, ReadRequest, inRam, readManyVia } from '../memory';

const PAGE = 4096;

export class ShadowMemory implements PhysicalMemory {
  readonly ram: RamRange[];
  private readonly pages = new Map<number, Uint8Array>();
  private nextFrame: number;
  /** Frames handed out by allocTable, in order. */
  readonly allocated: number[] = [];
  // Undo journal of the edit in progress, so a refused edit leaves no partial change behind.
  private journal: (() => void)[] | undefined;

  constructor(readonly base: PhysicalMemory) {
    const top = Math.max(0, ...base.ram.map((r) => r.end));
    // 1 GiB-aligned and above 4 GiB: no real RAM page shares a large page with simulated tables,
    // and they never land in the 32-bit MMIO holes a reader might confuse them with.
    const start = Math.max(2 ** 32, Math.ceil((top + 1) / 2 ** 30) * 2 ** 30);
    this.nextFrame = start;
    this.ram = [...base.ram, { start: physAddr(start), end: physAddr(start + 2 ** 30), name: 'simulated tables' }];
  }

  /** Pages written so far (physical page numbers). */
  get dirtyPages(): number[] {
    return [...this.pages.keys()].sort((a, b) => a - b);
  }

  /** Starts recording undo steps (one edit). */
  begin(): void {
    this.journal = [];
  }

  commit(): void {
    this.journal = undefined;
  }

  /** Undoes every write and allocation since begin(). */
  rollback(): void {
    const j = this.journal ?? [];
    this.journal = undefined;
    for (let i = j.length - 1; i >= 0; i--) j[i]();
  }

  isSimulated(pa: number): boolean {
    return pa >= this.ram[this.ram.length - 1].start;
  }

  /** A zeroed, aligned frame for a new table of `bytes` (≤ 64 KiB granules included). */
  allocTable(bytes: number): number {
    const align = Math.max(PAGE, bytes);
    const pa = Math.ceil(this.nextFrame / align) * align;
    if (pa + bytes > this.ram[this.ram.length - 1].end) throw new Error('simulation ran out of table frames (1 GiB of new tables)');
    const prevNext = this.nextFrame;
    this.nextFrame = pa + bytes;
    for (let off = 0; off < bytes; off += PAGE) this.pages.set((pa + off) / PAGE, new Uint8Array(PAGE));
    this.allocated.push(pa);
    this.journal?.push(() => {
      this.nextFrame = prevNext;
      this.allocated.pop();
      for (let off = 0; off < bytes; off += PAGE) this.pages.delete((pa + off) / PAGE);
    });
    return pa;
  }

  async read(addr: PhysAddr, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (!inRam(this.ram, addr, length)) throw new MemoryReadError(addr, length, 'outside-ram');
    const first = Math.floor(addr / PAGE);
    const last = Math.floor((addr + length - 1) / PAGE);
    let touched = false;
    for (let p = first; p <= last && !touched; p++) touched = this.pages.has(p);
    if (!touched) return this.base.read(addr, length, signal);
    const out = new Uint8Array(length);
    for (let off = 0; off < length; ) {
      const pa = addr + off;
      const n = Math.min(PAGE - (pa % PAGE), length - off);
      const own = this.pages.get(Math.floor(pa / PAGE));
      if (own) out.set(own.subarray(pa % PAGE, (pa % PAGE) + n), off);
      else out.set(await this.base.read(physAddr(pa), n, signal), off);
      off += n;
    }
    return out;
  }

  readMany(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]> {
    return readManyVia(this, reqs, signal);
  }

  async readEntry(pa: number, bytes: 4 | 8): Promise<bigint> {
    const b = await this.read(physAddr(pa), bytes);
    const v = new DataView(b.buffer, b.byteOffset, bytes);
    return bytes === 8 ? v.getBigUint64(0, true) : BigInt(v.getUint32(0, true));
  }

  /** Writes one entry into the private copy of its page (copying the page first). */
  async writeEntry(pa: number, bytes: 4 | 8, value: bigint): Promise<void> {
    const key = Math.floor(pa / PAGE);
    let page = this.pages.get(key);
    if (!page) {
      page = new Uint8Array(await this.base.read(physAddr(key * PAGE), PAGE));
      this.pages.set(key, page);
      this.journal?.push(() => this.pages.delete(key));
    }
    const v = new DataView(page.buffer, page.byteOffset, PAGE);
    const old = page.slice(pa % PAGE, (pa % PAGE) + bytes);
    const p = page;
    this.journal?.push(() => p.set(old, pa % PAGE));
    if (bytes === 8) v.setBigUint64(pa % PAGE, BigInt.asUintN(64, value), true);
    else v.setUint32(pa % PAGE, Number(BigInt.asUintN(32, value)), true);
  }
}
