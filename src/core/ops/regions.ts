// Region names for Linux kernel layouts, recognised from the tables themselves, KASLR included.
// A wrong label is worse than none: a region is named only when the tables prove it, otherwise
// the range stays unlabelled.
//
// - Direct map (x86_64, Documentation/arch/x86/x86_64/mm.rst "direct mapping of all physical
//   memory (page_offset_base)") / linear map (arm64 Documentation/arch/arm64/memory.rst, riscv64
//   Documentation/arch/riscv/vm-layout.rst): the kernel-half region whose pages map guest RAM at
//   one fixed offset (VA - PA) over most of RAM. Found from the merged ranges, wherever KASLR put
//   it (arch/x86/mm/kaslr.c randomizes page_offset_base, vmalloc_base and vmemmap_base).
// - x86_64 regions at fixed addresses (mm.rst, both paging modes): LDT remap, cpu_entry_area,
//   %esp fixup stacks, EFI runtime services, the kernel image at __START_KERNEL_map (KASLR moves
//   the kernel inside it), modules at __START_KERNEL_map + KERNEL_IMAGE_SIZE (1 GiB with
//   CONFIG_RANDOMIZE_BASE), the fixmap up to FIXADDR_TOP with the vsyscall page.
// - x86_64 vmemmap: struct page array at vmemmap_base, pfn N at vmemmap_base + N * 64
//   (sizeof(struct page) without debug options). Taken only when the highest mappings below the
//   cpu_entry_area fit that rule for RAM's page frames from a 1 GiB-aligned base (kaslr.c aligns
//   each region to PUD_SIZE); then what lies between the direct map and it is vmalloc space
//   (vmalloc_base comes before vmemmap_base in kaslr.c's order). A KASAN shadow (mapped below the
//   cpu_entry_area too) fails the rule, so then neither is named.
// - riscv64: the kernel image at KERNEL_LINK_ADDR = 0xffffffff80000000 (vm-layout.rst).
// arm64's other regions move between kernel versions and are not named.
import { RamRange } from '../memory';
import { AddressSpace, Root } from '../space';
import { isUpperHalf } from './filter';
import { MergedRange, rangeVa } from './merge';

export interface RegionMarker {
  /** Canonical VA where the region starts, and its exclusive end. */
  readonly va: bigint;
  readonly end: bigint;
  /** The same as linear addresses of the root. */
  readonly linear: number;
  readonly linearEnd: number;
  readonly name: string;
}

export type RegionLabeler = ((linear: number, root: Root) => string | undefined) & {
  /** "Linux x86_64 4-level", ... */
  readonly layout: string;
  /** Regions of `root` in ascending order (empty for roots the layout does not cover). */
  markers(root: Root): readonly RegionMarker[];
  /** Region starts and ends as linear addresses: RangeMerger's `boundaries` option. */
  boundaries(root: Root): readonly number[];
};

const GIB = 1n << 30n;
const STRUCT_PAGE = 64n;
const X86_CPU_ENTRY_AREA = 0xfffffe0000000000n;

type Def = readonly [bigint, bigint, string];

const X86_FIXED: readonly Def[] = [
  [X86_CPU_ENTRY_AREA, 0xfffffe8000000000n, 'cpu_entry_area'],
  [0xffffff0000000000n, 0xffffff8000000000n, 'ESPfix stacks'],
  [0xffffffef00000000n, 0xffffffff00000000n, 'EFI runtime services'],
  [0xffffffff80000000n, 0xffffffffc0000000n, 'Kernel image'],
  [0xffffffffc0000000n, 0xffffffffff000000n, 'Modules'],
  [0xffffffffff000000n, 0xffffffffff600000n, 'Fixmap'],
  [0xffffffffff600000n, 0xffffffffff601000n, 'vsyscall page'],
  [0xffffffffff601000n, 0xffffffffff800000n, 'Fixmap'],
];

interface Span {
  va: bigint;
  end: bigint;
  pa: number;
  paContiguous: boolean;
}

function alignDown(v: bigint, a: bigint): bigint {
  return v - (v % a);
}

function alignUp(v: bigint, a: bigint): bigint {
  return ((v + a - 1n) / a) * a;
}

/**
 * The kernel-half offset VA - PA at which most of RAM is mapped, with the VA span its RAM pages
 * cover. Only pages of RAM count: an ioremap of a large device window (e.g. 256 MiB of PCIe
 * ECAM) is linear too, but maps no RAM.
 */
function directMap(spans: readonly Span[], ram: readonly RamRange[]): { start: bigint; end: bigint } | undefined {
  const inRam = (s: Span) => ram.some((r) => s.pa >= r.start && s.pa + Number(s.end - s.va) <= r.end);
  const ramBytes = ram.reduce((n, r) => n + (r.end - r.start), 0);
  if (ramBytes <= 0) return undefined;
  const byOffset = new Map<bigint, { bytes: number; start: bigint; end: bigint }>();
  for (const s of spans) {
    if (!s.paContiguous || !inRam(s)) continue;
    const off = s.va - BigInt(s.pa);
    const e = byOffset.get(off);
    if (e) {
      e.bytes += Number(s.end - s.va);
      if (s.end > e.end) e.end = s.end;
    } else byOffset.set(off, { bytes: Number(s.end - s.va), start: s.va, end: s.end });
  }
  let best: { bytes: number; start: bigint; end: bigint } | undefined;
  for (const e of byOffset.values()) if (!best || e.bytes > best.bytes) best = e;
  // Linux maps all of RAM there (less holes the firmware reserved, and ROM the monitor lists
  // with RAM): demand most of it.
  if (!best || best.bytes < 0.75 * ramBytes) return undefined;
  return { start: best.start, end: best.end };
}

/** x86_64: vmemmap (and vmalloc below it) by the struct page rule; undefined when unsure. */
function x86Vmemmap(spans: readonly Span[], direct: { end: bigint }, ram: readonly RamRange[]): { vmalloc?: Def; vmemmap: Def } | undefined {
  const between = spans.filter((s) => s.va >= direct.end && s.end <= X86_CPU_ENTRY_AREA);
  if (between.length === 0) return undefined;
  const top = between[between.length - 1];
  const base = alignDown(top.va, GIB);
  const maxPfn = BigInt(Math.max(...ram.map((r) => r.end))) / 4096n;
  const end = base + alignUp(maxPfn * STRUCT_PAGE, GIB);
  const inside = between.filter((s) => s.va >= base);
  // Every mapping from the base up is a struct page of a RAM frame, backed by RAM itself.
  const fits = inside.every((s) => s.end <= base + alignUp(maxPfn * STRUCT_PAGE, 2n * 1024n * 1024n) && ram.some((r) => s.pa >= r.start && s.pa < r.end));
  if (!fits) return undefined;
  const below = between.filter((s) => s.va < base);
  const vmemmap: Def = [base, end, 'vmemmap'];
  if (below.length === 0) return { vmemmap };
  return { vmemmap, vmalloc: [alignDown(below[0].va, GIB), base, 'vmalloc'] };
}

function x86Layout(root: Root, spans: readonly Span[], ram: readonly RamRange[]): { layout: string; defs: Def[] } | undefined {
  const direct = directMap(spans, ram);
  if (!direct) return undefined;
  const five = root.inputBits === 57;
  const defs: Def[] = [];
  // The LDT remap slot (PTI): one PGD entry below the direct map's lowest possible base.
  defs.push(five ? [0xff10000000000000n, 0xff11000000000000n, 'LDT remap'] : [0xffff880000000000n, 0xffff888000000000n, 'LDT remap']);
  defs.push([direct.start, direct.end, 'Direct map']);
  const vm = x86Vmemmap(spans, direct, ram);
  if (vm?.vmalloc) defs.push(vm.vmalloc);
  if (vm) defs.push(vm.vmemmap);
  defs.push(...X86_FIXED);
  return { layout: `Linux x86_64 ${five ? '5' : '4'}-level`, defs };
}

function linearLayout(arch: string, spans: readonly Span[], ram: readonly RamRange[]): { layout: string; defs: Def[] } | undefined {
  const direct = directMap(spans, ram);
  if (!direct) return undefined;
  const defs: Def[] = [[direct.start, direct.end, 'Linear map']];
  if (arch === 'riscv64') defs.push([0xffffffff80000000n, 1n << 64n, 'Kernel image']);
  return { layout: `Linux ${arch === 'aarch64' ? 'arm64' : arch}`, defs };
}

function build(root: Root, defs: readonly Def[]): RegionMarker[] {
  const out: RegionMarker[] = [];
  for (const [va, end, name] of defs) {
    const linear = root.toLinear(va);
    const last = root.toLinear(end - 1n);
    if (linear === undefined || last === undefined) continue;
    out.push({ va, end, linear, linearEnd: last + 1, name });
  }
  out.sort((a, b) => a.linear - b.linear);
  // Overlaps (a fixed region inside a wrongly sized guess) would make labels ambiguous: drop both.
  return out.filter((m, i) => !out.some((o, k) => k !== i && o.linear < m.linearEnd && m.linear < o.linearEnd));
}

/**
 * A labeler for the kernel-half regions of the space's stage-1 roots, from the walk's merged
 * ranges and guest RAM; undefined when no root shows a known layout.
 */
export function regionLabeler(space: AddressSpace, ranges: readonly MergedRange[], ram: readonly RamRange[]): RegionLabeler | undefined {
  const byRoot = new Map<Root, RegionMarker[]>();
  let layout: string | undefined;
  for (const root of space.roots) {
    if (root.stage === 2) continue;
    const spans: Span[] = ranges
      .filter((r) => r.root === root && isUpperHalf(root, r.start))
      .map((r) => ({ va: rangeVa(r), end: rangeVa(r) + BigInt(r.size), pa: r.pa, paContiguous: r.paContiguous }))
      .sort((a, b) => (a.va < b.va ? -1 : a.va > b.va ? 1 : 0));
    const found = space.arch === 'x86_64' ? x86Layout(root, spans, ram) : space.arch === 'aarch64' || space.arch === 'riscv64' ? linearLayout(space.arch, spans, ram) : undefined;
    if (!found) continue;
    byRoot.set(root, build(root, found.defs));
    layout ??= found.layout;
  }
  if (!layout) return undefined;
  const label = (linear: number, root: Root): string | undefined => {
    const ms = byRoot.get(root);
    if (!ms) return undefined;
    let a = 0;
    let z = ms.length - 1;
    while (a <= z) {
      const m = (a + z) >>> 1;
      if (ms[m].linearEnd <= linear) a = m + 1;
      else if (ms[m].linear > linear) z = m - 1;
      else return ms[m].name;
    }
    return undefined;
  };
  return Object.assign(label, {
    layout,
    markers: (root: Root) => byRoot.get(root) ?? [],
    boundaries: (root: Root) => (byRoot.get(root) ?? []).flatMap((m) => [m.linear, m.linearEnd]),
  });
}
