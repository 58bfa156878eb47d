// Region names for well-known kernel layouts, as Linux ptdump's address markers print them
// ("---[ vmalloc() Area ]---"). Only offered when the layout is recognised from the tables
// themselves; nothing depends on it.
//
// Recognised:
// - Linux x86_64, 4-level and 5-level, with the documented fixed bases
//   (Documentation/arch/x86/x86_64/mm.rst; markers of arch/x86/mm/dump_pagetables.c), when the
//   root table maps both the direct map base (PML4/PML5 slot 273: 0xffff888000000000 or
//   0xff11000000000000) and the top slot (kernel image). A kernel with CONFIG_RANDOMIZE_MEMORY
//   active moves the direct map, vmalloc and vmemmap bases: then nothing is recognised. Modules
//   start at 0xffffffffc0000000 (KERNEL_IMAGE_SIZE = 1 GiB, as with CONFIG_RANDOMIZE_BASE, the
//   default); the fixmap start depends on the kernel build and has no marker here.
// - Linux arm64 (5.4+ layout) on the TTBR1 root: "Linear Mapping start" at PAGE_OFFSET and
//   "Linear Mapping end" at PAGE_END (without KASAN), when both halves of the TTBR1 range map
//   something. The markers above PAGE_END move between kernel versions and are left out.
import { EntryKind } from '../format';
import { MemoryReadError } from '../memory';
import { AddressSpace, Root } from '../space';
import { TableStore, entryAt } from '../walker';

export interface RegionMarker {
  /** Canonical VA where the region starts. */
  readonly va: bigint;
  /** The same as a linear address of the root. */
  readonly linear: number;
  readonly name: string;
  /** Linux prints at most this many lines in the region (ESPfix: 16). */
  readonly maxLines?: number;
}

export type RegionLabeler = ((linear: number, root: Root) => string | undefined) & {
  /** "Linux x86_64 4-level", ... */
  readonly layout: string;
  /** Markers of `root` in ascending order (empty for roots the layout does not cover). */
  markers(root: Root): readonly RegionMarker[];
  /** Marker starts as linear addresses: RangeMerger's `boundaries` option. */
  boundaries(root: Root): readonly number[];
};

type MarkerDef = readonly [bigint, string, number?];

const X86_COMMON_TOP: readonly MarkerDef[] = [
  [0xfffffe0000000000n, 'CPU entry Area'],
  [0xffffff0000000000n, 'ESPfix Area', 16],
  [0xffffffef00000000n, 'EFI Runtime Services'],
  [0xffffffff80000000n, 'High Kernel Mapping'],
  [0xffffffffc0000000n, 'Modules'],
  [0xffffffffff000000n, 'End Modules'],
];

const X86_4LEVEL: readonly MarkerDef[] = [
  [0n, 'User Space'],
  [0x8000000000000000n, 'Kernel Space'],
  [0xffff880000000000n, 'LDT remap'],
  [0xffff888000000000n, 'Low Kernel Mapping'],
  [0xffffc90000000000n, 'vmalloc() Area'],
  [0xffffea0000000000n, 'Vmemmap'],
  [0xffffec0000000000n, 'KASAN shadow'],
  [0xfffffc0000000000n, 'KASAN shadow end'],
  ...X86_COMMON_TOP,
];

const X86_5LEVEL: readonly MarkerDef[] = [
  [0n, 'User Space'],
  [0x8000000000000000n, 'Kernel Space'],
  [0xff10000000000000n, 'LDT remap'],
  [0xff11000000000000n, 'Low Kernel Mapping'],
  [0xffa0000000000000n, 'vmalloc() Area'],
  [0xffd4000000000000n, 'Vmemmap'],
  [0xffdffc0000000000n, 'KASAN shadow'],
  [0xfffffc0000000000n, 'KASAN shadow end'],
  ...X86_COMMON_TOP,
];

/** Root table entry `index` is valid (maps or points to something), from an already-loaded table. */
function rootEntryValid(root: Root, store: TableStore, index: number): boolean | undefined {
  const words = store.get(root.tablePa);
  if (!words || words instanceof MemoryReadError) return undefined;
  const [lo, hi] = entryAt(words, root.format.entryBytes, index);
  return root.format.classify(lo, hi, 0) !== EntryKind.Invalid;
}

function anyValid(root: Root, store: TableStore, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (rootEntryValid(root, store, i)) return true;
  return false;
}

// A marker VA in a non-canonical hole starts at the first canonical address above it.
function markerLinear(root: Root, va: bigint): number | undefined {
  const l = root.toLinear(va);
  if (l !== undefined) return l;
  if (root.half) return undefined;
  const mid = 2 ** (root.inputBits - 1);
  const midVa = BigInt(root.toVirt(mid));
  return va < midVa && va > BigInt(root.toVirt(mid - 4096)) ? mid : undefined;
}

function build(root: Root, defs: readonly MarkerDef[]): RegionMarker[] {
  const out: RegionMarker[] = [];
  for (const [va, name, maxLines] of defs) {
    const linear = markerLinear(root, va);
    if (linear === undefined) continue;
    out.push(maxLines ? { va, linear, name, maxLines } : { va, linear, name });
  }
  return out.sort((a, b) => a.linear - b.linear);
}

function recognise(space: AddressSpace, root: Root, store: TableStore | undefined): { layout: string; markers: RegionMarker[] } | undefined {
  if (!store) return undefined;
  const f = root.format;
  if (space.arch === 'x86_64' && root.inputBits === 48 && f.levels.length === 4 && root.stage !== 2) {
    if (rootEntryValid(root, store, 273) && rootEntryValid(root, store, 511)) return { layout: 'Linux x86_64 4-level', markers: build(root, X86_4LEVEL) };
  }
  if (space.arch === 'x86_64' && root.inputBits === 57 && f.levels.length === 5 && root.stage !== 2) {
    if (rootEntryValid(root, store, 273) && rootEntryValid(root, store, 511)) return { layout: 'Linux x86_64 5-level', markers: build(root, X86_5LEVEL) };
  }
  if (space.arch === 'aarch64' && root.half === 'upper' && root.stage !== 2) {
    const n = 2 ** f.levels[0].indexBits;
    if (n >= 2 && anyValid(root, store, 0, n / 2) && anyValid(root, store, n / 2, n)) {
      const vaBits = root.inputBits;
      const U64 = 1n << 64n;
      const pageOffset = U64 - (1n << BigInt(vaBits));
      const pageEnd = U64 - (1n << BigInt(Math.min(vaBits, 48) - 1));
      return { layout: `Linux arm64 ${vaBits}-bit VA`, markers: build(root, [[pageOffset, 'Linear Mapping start'], [pageEnd, 'Linear Mapping end']]) };
    }
  }
  return undefined;
}

/**
 * A labeler for the space's recognised roots, or undefined when no root matches a known layout.
 * Recognition reads the root tables from `store` (they must already be loaded, e.g. by a walk);
 * without a store nothing is recognised.
 */
export function regionLabeler(space: AddressSpace, store?: TableStore): RegionLabeler | undefined {
  const byRoot = new Map<Root, RegionMarker[]>();
  let layout: string | undefined;
  for (const root of space.roots) {
    const r = recognise(space, root, store);
    if (!r) continue;
    byRoot.set(root, r.markers);
    layout ??= r.layout;
  }
  if (!layout) return undefined;
  const bounds = new Map<Root, number[]>();
  for (const [root, ms] of byRoot) bounds.set(root, ms.map((m) => m.linear));
  const label = (linear: number, root: Root): string | undefined => {
    const ms = byRoot.get(root);
    if (!ms || ms.length === 0 || linear < ms[0].linear) return undefined;
    let a = 0;
    let z = ms.length - 1;
    while (a < z) {
      const m = (a + z + 1) >>> 1;
      if (ms[m].linear <= linear) a = m;
      else z = m - 1;
    }
    return ms[a].name;
  };
  return Object.assign(label, {
    layout,
    markers: (root: Root) => byRoot.get(root) ?? [],
    boundaries: (root: Root) => bounds.get(root) ?? [],
  });
}
