// A Linux-shaped x86_64 address space (layout of Documentation/arch/x86/x86_64/mm.rst, 4-level):
// direct map at page_offset_base in 2 MiB and 1 GiB blocks, vmemmap in 2 MiB blocks, vmalloc and
// modules in 4 KiB pages, kernel text/rodata/data in 2 MiB pages, one user process in 4 KiB
// pages, a KPTI user root sharing the user half, and optionally a KASAN-like shadow: one PML4
// entry whose PUD, PMD and PTE tables are each one table shared by all 512 entries (Linux's
// kasan_early_shadow_pud/pmd/pte), i.e. 512^3 leaves of one zero page.
import { FlatMemory } from './synthetic';

export interface RealShape {
  memory: FlatMemory;
  /** Kernel root (CR3 with PCID 0) and KPTI user root (CR3 of the user copy). */
  kernelRoot: bigint;
  userRoot: bigint;
  tables: number;
}

const P = 1n, RW = 2n, US = 4n, A = 32n, D = 64n, PS = 128n, G = 256n, NX = 1n << 63n;
const GiB = 2 ** 30;
const MiB = 2 ** 20;

export function buildRealShape(opts: { kasan: boolean }): RealShape {
  const memory = new FlatMemory(96 * MiB);
  let next = 64 * MiB; // tables live above the "RAM" the leaves map
  let tables = 0;
  const alloc = () => {
    tables++;
    next += 4096;
    return next - 4096;
  };
  const set = (pa: number, v: bigint) => memory.set(pa, v);
  const kroot = alloc();
  const uroot = alloc();
  const idx = (va: bigint, level: number) => Number((va >> BigInt(39 - 9 * level)) & 511n);
  // Walks (allocating) from the kernel root to the table at `level` for `va`.
  const tableFor = (root: number, va: bigint, level: number, flags: bigint): number => {
    let t = root;
    for (let l = 0; l < level; l++) {
      const at = t + 8 * idx(va, l);
      const view = new DataView(memory.bytes.buffer);
      const e = view.getBigUint64(at, true);
      if (e & P) t = Number(e & 0x000ffffffffff000n);
      else {
        const n = alloc();
        set(at, BigInt(n) | flags);
        t = n;
      }
    }
    return t;
  };
  const K = P | RW | A | D; // kernel table entries
  const U = P | RW | US | A | D;
  const map = (root: number, va: bigint, pa: number, level: 1 | 2 | 3, leaf: bigint, tflags = K) => {
    const t = tableFor(root, va, level, tflags);
    set(t + 8 * idx(va, level), BigInt(pa) | leaf | (level < 3 ? PS : 0n));
  };
  // Direct map: 8 GiB at page_offset_base; the first GiB in 2 MiB blocks (split by the kernel
  // image and early allocations), the rest in 1 GiB blocks.
  const pob = 0xffff888000000000n;
  for (let pa = 0; pa < GiB; pa += 2 * MiB) map(kroot, pob + BigInt(pa), pa, 2, P | RW | A | D | G | NX);
  for (let g = 1; g < 8; g++) map(kroot, pob + BigInt(g * GiB), g * GiB, 1, P | RW | A | D | G | NX);
  // vmemmap: 128 MiB of struct pages for 8 GiB, in 2 MiB blocks.
  for (let k = 0; k < 64; k++) map(kroot, 0xffffea0000000000n + BigInt(k * 2 * MiB), 32 * MiB + k * 2 * MiB, 2, P | RW | A | D | G | NX);
  // vmalloc: 3000 4 KiB pages in allocations of 1-8 pages with guard pages, scattered frames.
  let va = 0xffffc90000000000n;
  let frame = 0;
  for (let n = 0, k = 0; n < 3000; k++) {
    const len = 1 + (k % 8);
    for (let j = 0; j < len; j++, n++) map(kroot, va + BigInt(j * 4096), ((frame = (frame * 1103515245 + 12345) % 16384)) * 4096, 3, P | RW | A | D | G | NX);
    va += BigInt((len + 1) * 4096);
  }
  // Modules: 600 4 KiB pages, text RX and data RW NX.
  for (let j = 0; j < 600; j++) map(kroot, 0xffffffffa0000000n + BigInt(j * 4096), 40 * MiB + j * 4096, 3, j % 3 === 0 ? P | A | G : P | RW | A | D | G | NX);
  // Kernel image: text RX, rodata R NX, data RW NX in 2 MiB pages.
  for (let j = 0; j < 24; j++) map(kroot, 0xffffffff81000000n + BigInt(j * 2 * MiB), 16 * MiB + j * 2 * MiB, 2, j < 8 ? P | A | G : j < 14 ? P | A | G | NX : P | RW | A | D | G | NX);
  // One user process: text, data, heap, libraries, stack: 5000 4 KiB pages.
  const user: [bigint, number, bigint][] = [
    [0x400000n, 300, P | US | A], [0x600000n, 200, P | RW | US | A | D | NX], [0x2000000n, 2500, P | RW | US | A | D | NX],
    [0x7f0000000000n, 1700, P | US | A], [0x7fffffe00000n, 300, P | RW | US | A | D | NX],
  ];
  for (const [base, n, bits] of user) for (let j = 0; j < n; j++) map(kroot, base + BigInt(j * 4096), 48 * MiB + ((j * 7919) % 4096) * 4096, 3, bits, U);
  if (opts.kasan) {
    // KASAN early shadow at 0xffffec0000000000: one PML4 entry → shared PUD → shared PMD → shared
    // PTE → one zero page, read-only.
    const pud = alloc();
    const pmd = alloc();
    const pte = alloc();
    set(kroot + 8 * idx(0xffffec0000000000n, 0), BigInt(pud) | K);
    for (let i = 0; i < 512; i++) {
      set(pud + 8 * i, BigInt(pmd) | K);
      set(pmd + 8 * i, BigInt(pte) | K);
      set(pte + 8 * i, BigInt(60 * MiB) | P | A | G | NX);
    }
  }
  // KPTI: the user copy shares the user half's PUD pointers and maps only the entry trampoline
  // (here: the kernel text PML4 entry) of the kernel half.
  for (let i = 0; i < 256; i++) {
    const v = new DataView(memory.bytes.buffer).getBigUint64(kroot + 8 * i, true);
    if (v) set(uroot + 8 * i, v);
  }
  set(uroot + 8 * 511, new DataView(memory.bytes.buffer).getBigUint64(kroot + 8 * 511, true));
  return { memory, kernelRoot: BigInt(kroot), userRoot: BigInt(uroot), tables };
}
