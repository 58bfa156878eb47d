// Region names for Linux kernel layouts, recognised from the tables themselves, KASLR included.
// A wrong label is worse than none: a region is named only when the tables prove it, otherwise
// the range stays unlabelled.
//
// The direct map (x86_64, Documentation/arch/x86/x86_64/mm.rst "direct mapping of all physical
// memory (page_offset_base)") / linear map (arm64 Documentation/arch/arm64/memory.rst, riscv64
// Documentation/arch/riscv/vm-layout.rst) is found here for every architecture: the kernel-half
// region whose pages map guest RAM at one fixed offset (VA - PA) over most of RAM, from the merged
// ranges, wherever KASLR put it. The other regions are each architecture module's
// (../arch, LinuxFacts.regions), given that direct map.
import { findArch } from '../arch';
import { RamRange } from '../memory';
import { AddressSpace, Root } from '../space';
import { isUpperHalf } from '../space';
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

/** [start VA, exclusive end, name] of one region. */
export type RegionDef = readonly [bigint, bigint, string];

/** A merged range of the kernel half, by VA. */
export interface LayoutSpan {
  va: bigint;
  end: bigint;
  pa: number;
  paContiguous: boolean;
}

/**
 * The kernel-half offset VA - PA at which most of RAM is mapped, with the VA span its RAM pages
 * cover. Only pages of RAM count: an ioremap of a large device window (e.g. 256 MiB of PCIe
 * ECAM) is linear too, but maps no RAM.
 */
function directMap(spans: readonly LayoutSpan[], ram: readonly RamRange[]): { start: bigint; end: bigint } | undefined {
  const inRam = (s: LayoutSpan) => ram.some((r) => s.pa >= r.start && s.pa + Number(s.end - s.va) <= r.end);
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

function build(root: Root, defs: readonly RegionDef[]): RegionMarker[] {
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
  const regions = findArch(space.arch)?.linux.regions;
  if (!regions) return undefined;
  let layout: string | undefined;
  for (const root of space.roots) {
    if (root.stage === 2) continue;
    const spans: LayoutSpan[] = ranges
      .filter((r) => r.root === root && isUpperHalf(root, r.start))
      .map((r) => ({ va: rangeVa(r), end: rangeVa(r) + BigInt(r.size), pa: r.pa, paContiguous: r.paContiguous }))
      .sort((a, b) => (a.va < b.va ? -1 : a.va > b.va ? 1 : 0));
    const direct = directMap(spans, ram);
    const found = direct && regions(root, spans, direct, ram);
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
