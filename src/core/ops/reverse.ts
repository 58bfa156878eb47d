// PA → every VA that maps it. A single lookup is one walk with a leaf visitor (never one walk per
// address); many lookups go through a ReverseIndex: the leaves of one walk in compact columns
// (~50 bytes a leaf, no Leaf objects kept), sorted by PA per page size, binary-searched.
import { PhysAddr, hex } from '../addr';
import { AddressSpace, Root } from '../space';
import { Perm } from '../format';
import { Descent } from '../descent';
import { PathMemo, fold, hitAlgebra } from '../graph';
import { Leaf, PathStep, TableStore, WalkOptions, loadTables, walk, walkLoaded } from '../walker';
import { LeafRecord, leafRecord } from './records';

export interface Alias extends LeafRecord {
  /** The exact VA of the requested PA inside this leaf (for a range: of the overlap's start). */
  vaOfPa: string;
}

export interface ReverseOptions {
  readonly signal?: AbortSignal;
  /** Only these roots (default: every root of the space). */
  readonly roots?: readonly Root[];
}

function paRange(pa: number | readonly [number, number]): [number, number] {
  return typeof pa === 'number' ? [pa, pa + 1] : [pa[0], pa[1]];
}

/** The alias record of a leaf for the PA range [lo, hi) (the leaf must overlap it). */
export function aliasOf(l: Leaf, lo: number): Alias {
  const off = Math.max(lo, l.pa) - l.pa;
  return { ...leafRecord(l), vaOfPa: hex(BigInt(l.root.toVirt(l.linear)) + BigInt(off)) };
}

class Enough extends Error {}

/**
 * Every VA mapping the PA (or overlapping [start, end)), in root then VA order, at most
 * opts.max of them. One walk that enters only subtrees able to hold such a leaf (a table that
 * cannot reach one, at any depth, is skipped), so shared subtrees without the PA cost nothing.
 */
export async function findAliases(
  space: AddressSpace,
  store: TableStore,
  pa: number | readonly [number, number],
  opts: ReverseOptions & { max?: number } = {},
): Promise<Alias[]> {
  const [lo, hi] = paRange(pa);
  const out: Alias[] = [];
  const max = opts.max ?? Infinity;
  const roots = opts.roots ?? space.roots;
  await loadTables(roots, store, { signal: opts.signal });
  try {
    for (const root of roots) {
      const reach = reachability(root, store, lo, hi);
      walkLoaded(root, store, {
        leaf: (l) => {
          if (l.pa < hi && l.pa + l.size > lo) {
            out.push(aliasOf(l, lo));
            if (out.length >= max) throw new Enough();
          }
        },
      }, { signal: opts.signal, descend: reach });
    }
  } catch (e) {
    if (!(e instanceof Enough)) throw e;
  }
  return out;
}

/** How many leaves map the PA range [lo, hi), counted on the graph of tables (may exceed 2^53 only approximately). */
export async function countAliases(space: AddressSpace, store: TableStore, pa: number | readonly [number, number], opts: ReverseOptions = {}): Promise<number> {
  const [lo, hi] = paRange(pa);
  let n = 0;
  for (const s of await fold(opts.roots ?? space.roots, store, hitAlgebra(lo, hi), { signal: opts.signal })) n += s?.n ?? 0;
  return n;
}

/**
 * (table, level) → can any leaf below it, by any path, overlap [lo, hi)? Decided through the one
 * descent, where a table on the path is not followed (as in the walk): so an answer depends on the
 * path above the table when the subtree references a table on it, and is memoised as the fold's
 * summaries are (PathMemo). The walk asks with no path above: an answer that over-approximates
 * its own, which only prunes (a table unreachable with no path above is unreachable under any).
 */
function reachability(root: Root, store: TableStore, lo: number, hi: number): (pa: number, level: number) => boolean {
  const memo = new PathMemo<boolean>();
  let yes = false;
  // The tables the subtree being scanned references (a `false` is exact only with all of them).
  let refs = new Set<number>();
  const d: Descent = new Descent(root, store, {
    run: (first, _count, _contig, lastPa) => {
      // Runs of PA-contiguous pages: [first.pa, lastPa + size) is all they map.
      if (first.pa < hi && lastPa + first.size > lo) yes = true;
    },
    ref: (pa) => refs.add(pa),
    // Once true, the rest of the table is not needed: a `true` is kept whatever its references.
    child: (c) => {
      if (!yes && can(c.pa, c.level)) yes = true;
    },
  }, { contiguousRuns: true });
  const can = (pa: number, level: number): boolean => {
    const key = `${pa}:${level}`;
    const hit = memo.get(key, d.ancestors);
    if (hit) {
      for (const r of hit.refs) refs.add(r);
      return hit.value;
    }
    const savedYes = yes;
    const savedRefs = refs;
    yes = false;
    refs = new Set();
    d.table(pa, level, 0, Perm.All, 0, undefined);
    const found = yes;
    const mine = refs;
    yes = savedYes;
    refs = savedRefs;
    for (const r of mine) refs.add(r);
    memo.set(key, found, mine, d.ancestors);
    return found;
  };
  return can;
}

/** Builds a ReverseIndex from one walk of the space. */
export async function reverseIndex(space: AddressSpace, store: TableStore, opts: ReverseOptions & { filter?: (l: Leaf) => boolean } = {}): Promise<ReverseIndex> {
  const b = new ReverseIndexBuilder();
  const filter = opts.filter;
  await walk(opts.roots ?? space.roots, store, { leaf: filter ? (l) => { if (filter(l)) b.push(l); } : (l) => b.push(l) }, { signal: opts.signal } as WalkOptions);
  return b.finish();
}

/** Accumulates leaves in growable typed columns; finish() sorts them into a ReverseIndex. */
export class ReverseIndexBuilder {
  n = 0;
  private cap = 0;
  linear = new Float64Array(0);
  pa = new Float64Array(0);
  tablePa = new Float64Array(0);
  index = new Uint32Array(0);
  lo = new Uint32Array(0);
  hi = new Uint32Array(0);
  size = new Float64Array(0);
  perms = new Uint8Array(0);
  flags = new Uint8Array(0);
  memType = new Uint8Array(0);
  level = new Uint8Array(0);
  rootIdx = new Uint16Array(0);
  readonly roots: Root[] = [];
  private lastRoot: Root | undefined;
  private lastRootIdx = 0;

  constructor(initialCapacity = 1024) {
    this.grow(initialCapacity);
  }

  private grow(cap: number): void {
    const g = <T extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a.subarray(0, this.n) as never);
      return b;
    };
    this.linear = g(this.linear, (k) => new Float64Array(k));
    this.pa = g(this.pa, (k) => new Float64Array(k));
    this.tablePa = g(this.tablePa, (k) => new Float64Array(k));
    this.index = g(this.index, (k) => new Uint32Array(k));
    this.lo = g(this.lo, (k) => new Uint32Array(k));
    this.hi = g(this.hi, (k) => new Uint32Array(k));
    this.size = g(this.size, (k) => new Float64Array(k));
    this.perms = g(this.perms, (k) => new Uint8Array(k));
    this.flags = g(this.flags, (k) => new Uint8Array(k));
    this.memType = g(this.memType, (k) => new Uint8Array(k));
    this.level = g(this.level, (k) => new Uint8Array(k));
    this.rootIdx = g(this.rootIdx, (k) => new Uint16Array(k));
    this.cap = cap;
  }

  push(l: Leaf): void {
    if (this.n === this.cap) this.grow(this.cap * 2);
    const i = this.n++;
    if (l.root !== this.lastRoot) {
      let k = this.roots.indexOf(l.root);
      if (k < 0) k = this.roots.push(l.root) - 1;
      this.lastRoot = l.root;
      this.lastRootIdx = k;
    }
    this.linear[i] = l.linear;
    this.pa[i] = l.pa;
    this.tablePa[i] = l.tablePa;
    this.index[i] = l.index;
    this.lo[i] = l.lo;
    this.hi[i] = l.hi;
    this.size[i] = l.size;
    this.perms[i] = l.perms;
    this.flags[i] = l.flags;
    this.memType[i] = l.memType;
    this.level[i] = l.level;
    this.rootIdx[i] = this.lastRootIdx;
  }

  /**
   * `count` pages of `size` bytes from `linear` and `pa` on, alike but for their addresses, with
   * no walk position (tablePa, index, lo, hi 0): a merged range's pages, pushed without making a
   * Leaf object per page.
   */
  pushPages(root: Root, linear: number, pa: number, size: number, count: number, a: { perms: number; flags: number; memType: number; level: number }): void {
    while (this.n + count > this.cap) this.grow(this.cap * 2);
    if (root !== this.lastRoot) {
      let k = this.roots.indexOf(root);
      if (k < 0) k = this.roots.push(root) - 1;
      this.lastRoot = root;
      this.lastRootIdx = k;
    }
    const i0 = this.n;
    this.n += count;
    for (let k = 0; k < count; k++) {
      this.linear[i0 + k] = linear + k * size;
      this.pa[i0 + k] = pa + k * size;
      this.size[i0 + k] = size;
    }
    this.tablePa.fill(0, i0, i0 + count);
    this.index.fill(0, i0, i0 + count);
    this.lo.fill(0, i0, i0 + count);
    this.hi.fill(0, i0, i0 + count);
    this.perms.fill(a.perms, i0, i0 + count);
    this.flags.fill(a.flags, i0, i0 + count);
    this.memType.fill(a.memType, i0, i0 + count);
    this.level.fill(a.level, i0, i0 + count);
    this.rootIdx.fill(this.lastRootIdx, i0, i0 + count);
  }

  finish(): ReverseIndex {
    return new ReverseIndex(this);
  }
}

/** A leaf as the index keeps it: enough for records and rights, no walk path. */
export interface IndexedLeaf {
  readonly root: Root;
  readonly linear: number;
  readonly pa: number;
  readonly size: number;
  readonly perms: number;
  readonly flags: number;
  readonly memType: number;
  readonly level: number;
}

/**
 * Leaves sorted by PA within each page size, so a PA overlap query is one binary search per
 * distinct page size (usually 2-3) and touches only leaves that really overlap.
 */
export class ReverseIndex {
  readonly length: number;
  private readonly b: ReverseIndexBuilder;
  /** Per page size: leaf ids sorted by PA, and their PAs in that order. */
  private readonly classes: { size: number; ids: Uint32Array; pas: Float64Array }[] = [];

  constructor(b: ReverseIndexBuilder) {
    this.b = b;
    this.length = b.n;
    const bySize = new Map<number, number>();
    for (let i = 0; i < b.n; i++) bySize.set(b.size[i], (bySize.get(b.size[i]) ?? 0) + 1);
    for (const [size, count] of [...bySize].sort((x, y) => x[0] - y[0])) {
      const ids = new Uint32Array(count);
      let k = 0;
      for (let i = 0; i < b.n; i++) if (b.size[i] === size) ids[k++] = i;
      const sorted = sortIdsByKey(ids, b.pa);
      const pas = new Float64Array(count);
      for (let j = 0; j < count; j++) pas[j] = b.pa[sorted[j]];
      this.classes.push({ size, ids: sorted, pas });
    }
  }

  /** Calls fn(id) for every leaf whose physical range overlaps [lo, hi). */
  forEachOverlap(lo: number, hi: number, fn: (id: number) => void): void {
    for (const c of this.classes) {
      // Overlap ⟺ pa < hi && pa + size > lo ⟺ pa ∈ (lo - size, hi).
      const from = lo - c.size;
      let a = 0;
      let z = c.pas.length;
      while (a < z) {
        const m = (a + z) >>> 1;
        if (c.pas[m] <= from) a = m + 1;
        else z = m;
      }
      for (let j = a; j < c.pas.length && c.pas[j] < hi; j++) fn(c.ids[j]);
    }
  }

  /** Ids of the leaves overlapping the PA (or [start, end)), in PA order per page size. */
  lookup(pa: number | readonly [number, number]): number[] {
    const [lo, hi] = paRange(pa);
    const out: number[] = [];
    this.forEachOverlap(lo, hi, (id) => out.push(id));
    return out;
  }

  /** Alias records for the PA (or overlapping [start, end)), sorted by root then VA. */
  aliases(pa: number | readonly [number, number]): Alias[] {
    const [lo] = paRange(pa);
    const ids = this.lookup(pa).sort((x, y) => this.b.rootIdx[x] - this.b.rootIdx[y] || this.b.linear[x] - this.b.linear[y]);
    return ids.map((id) => aliasOf(this.leaf(id), lo));
  }

  root(id: number): Root {
    return this.b.roots[this.b.rootIdx[id]];
  }
  linear(id: number): number {
    return this.b.linear[id];
  }
  pa(id: number): number {
    return this.b.pa[id];
  }
  size(id: number): number {
    return this.b.size[id];
  }
  perms(id: number): number {
    return this.b.perms[id];
  }

  /** The leaf as a Leaf object (without its walk path: provenance needs a fresh translate). */
  leaf(id: number): Leaf {
    const b = this.b;
    return {
      root: this.root(id), linear: b.linear[id], size: b.size[id], pa: b.pa[id] as PhysAddr, level: b.level[id],
      index: b.index[id], tablePa: b.tablePa[id] as PhysAddr, lo: b.lo[id], hi: b.hi[id], perms: b.perms[id],
      flags: b.flags[id], memType: b.memType[id], path: undefined as PathStep | undefined,
    };
  }
}

/**
 * Sorts leaf ids by a non-negative integer key below 2^53 (PAs): LSD radix sort on 16-bit digits,
 * skipping digits every key shares. Stable, O(n), no comparator calls.
 */
export function sortIdsByKey(ids: Uint32Array, key: Float64Array): Uint32Array {
  const n = ids.length;
  if (n < 64) return Uint32Array.from(ids).sort((x, y) => key[x] - key[y]);
  let src = Uint32Array.from(ids);
  let dst = new Uint32Array(n);
  const digit = new Uint16Array(n);
  const count = new Uint32Array(65536);
  for (let pass = 0; pass < 4; pass++) {
    const div = 2 ** (16 * pass);
    count.fill(0);
    for (let i = 0; i < n; i++) {
      const d = Math.floor(key[src[i]] / div) & 0xffff;
      digit[i] = d;
      count[d]++;
    }
    if (count[digit[0]] === n) continue; // every key shares this digit
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const c = count[d];
      count[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) dst[count[digit[i]]++] = src[i];
    const t = src;
    src = dst;
    dst = t;
  }
  return src;
}
