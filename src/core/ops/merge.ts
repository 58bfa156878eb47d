// Merging leaves into ranges the way Linux ptdump prints them: "a new line whenever protection,
// level or marker changes". Here that means a new range starts when any of these differ from the
// previous leaf: root, VA contiguity (linear contiguity, except across the non-canonical hole
// between the halves of a sign-extended space), effective rights, level (hence page size), memory type, the
// Global and Contiguous flags (printed by ptdump as GLB / CON), a region-marker boundary (when a
// labeler is given), and, with requirePaContiguous, physical contiguity.
//
// Accessed and Dirty are NOT part of the key: they are per-page CPU state, not protection, and
// ptdump prints neither (x86 ptdump compares raw flag bits and so splits on them, producing
// consecutive lines that print identically; we do not reproduce that). A range's accessed/dirty
// flags are the OR over its pages: "some page in the range was accessed / written".
//
// Hot path: push() allocates only when a range starts.
import { Flag } from '../format';
import { upperHalfStart } from '../space';
import { Root } from '../space';
import { Leaf } from '../walker';

export interface MergedRange {
  root: Root;
  /** Linear start and exclusive end (see addr.ts). */
  start: number;
  end: number;
  /** PA of the first page. */
  pa: number;
  /** True while every page follows the previous one physically. */
  paContiguous: boolean;
  /** end - start, in bytes. */
  size: number;
  pages: number;
  perms: number;
  /** Global/Contiguous as in every page; Accessed/Dirty ORed over the pages. */
  flags: number;
  memType: number;
  level: number;
  /** Size of each page in the range (every page has the same level). */
  leafSize: number;
  /**
   * Folded repeats (repeats.ts): the range stands for `repeat` copies, the first at start..end,
   * each `stride` bytes after the previous, all mapping the same PAs with the same attributes.
   * start, end, size, pages and pa describe one copy. Absent: one copy.
   */
  repeat?: number;
  stride?: number;
}

/** Flags that split ranges (protection-like); the others are ORed. */
export const MERGE_KEY_FLAGS = Flag.Global | Flag.Contiguous;

/** Sorted linear boundaries where a range must be cut (region markers). */
export type Boundaries = (root: Root) => readonly number[];

export interface MergeOptions {
  /** Merge only while physically contiguous too (bata24's default; ptdump does not). */
  readonly requirePaContiguous?: boolean;
  /** Cut ranges at these linear addresses per root, as ptdump does at address markers. */
  readonly boundaries?: Boundaries;
}

export class RangeMerger {
  private readonly out: MergedRange[] = [];
  private cur: MergedRange | undefined;
  private nextPa = 0;
  private readonly requirePa: boolean;
  private readonly boundaries: Boundaries | undefined;
  private cutRoot: Root | undefined;
  private cuts: readonly number[] = [];
  private cutIdx = 0;
  private nextCut = Infinity;

  constructor(opts: MergeOptions = {}) {
    this.requirePa = opts.requirePaContiguous === true;
    this.boundaries = opts.boundaries;
  }

  push(l: Leaf): void {
    this.segment(l, l.linear, l.pa, 1);
  }

  /**
   * The walker's leafRun: `count` pages with l's attributes at consecutive VAs, the last at
   * `lastPa`: the same ranges as pushing them one by one. A run whose PAs jump cannot be cut
   * (requirePaContiguous, boundaries) without each page's PA: push those leaves one by one.
   */
  pushRun(l: Leaf, count: number, paContiguous = true, lastPa: number = l.pa + (count - 1) * l.size): void {
    if (!paContiguous && (this.requirePa || this.boundaries !== undefined)) {
      throw new Error('pushRun: a PA-discontiguous run cannot be cut; push its leaves one by one');
    }
    if (this.boundaries === undefined) return this.segment(l, l.linear, l.pa, count, false, paContiguous, lastPa);
    let linear = l.linear;
    let pa: number = l.pa;
    while (count > 0) {
      // Pages starting before the next cut stay in this segment.
      const cut = l.root !== this.cutRoot || linear >= this.nextCut ? this.advanceCut(l.root, linear) : false;
      const n = Math.min(count, this.nextCut === Infinity ? count : Math.max(1, Math.ceil((this.nextCut - linear) / l.size)));
      this.segment(l, linear, pa, n, cut);
      linear += n * l.size;
      pa += n * l.size;
      count -= n;
    }
  }

  /** Merges n pages from `linear`; `cut` when the caller already advanced past a boundary. */
  private segment(l: Leaf, linear: number, pa: number, n: number, cut = false, contig = true, lastPa = pa + (n - 1) * l.size): void {
    const c = this.cur;
    if (this.boundaries !== undefined && (l.root !== this.cutRoot || linear >= this.nextCut)) cut = this.advanceCut(l.root, linear);
    const bytes = n * l.size;
    if (
      c !== undefined && !cut && c.end === linear && linear !== upperHalfStart(l.root) && c.root === l.root && c.perms === l.perms && c.level === l.level &&
      c.memType === l.memType && ((c.flags ^ l.flags) & MERGE_KEY_FLAGS) === 0 && (!this.requirePa || pa === this.nextPa)
    ) {
      c.end += bytes;
      c.size += bytes;
      c.pages += n;
      c.flags |= l.flags;
      if (pa !== this.nextPa || !contig) c.paContiguous = false;
      this.nextPa = lastPa + l.size;
      return;
    }
    this.cur = {
      root: l.root, start: linear, end: linear + bytes, pa, paContiguous: contig, size: bytes, pages: n, perms: l.perms,
      flags: l.flags, memType: l.memType, level: l.level, leafSize: l.size,
    };
    this.nextPa = lastPa + l.size;
    this.out.push(this.cur);
  }

  /** Ranges so far, in push order; the merger can keep going afterwards (new ranges only). */
  finish(): MergedRange[] {
    this.cur = undefined;
    return this.out;
  }

  // True when a boundary lies in (previous leaf, this leaf]: the range must be cut here.
  private advanceCut(root: Root, linear: number): boolean {
    if (root !== this.cutRoot) {
      this.cutRoot = root;
      this.cuts = this.boundaries!(root);
      this.cutIdx = 0;
    }
    let crossed = false;
    while (this.cutIdx < this.cuts.length && this.cuts[this.cutIdx] <= linear) {
      this.cutIdx++;
      crossed = true;
    }
    this.nextCut = this.cutIdx < this.cuts.length ? this.cuts[this.cutIdx] : Infinity;
    // A new root always starts a new range anyway; only report crossings within a root.
    return crossed;
  }
}

/** Merges a list of leaves (convenience for small inputs). */
export function mergeLeaves(leaves: Iterable<Leaf>, opts?: MergeOptions): MergedRange[] {
  const m = new RangeMerger(opts);
  for (const l of leaves) m.push(l);
  return m.finish();
}

/** Canonical VA of the range's first byte. */
export function rangeVa(r: MergedRange): bigint {
  return BigInt(r.root.toVirt(r.start));
}

/** Canonical VA one past the range's last byte (may be 2^64 for the very top of the space). */
export function rangeEndVa(r: MergedRange): bigint {
  return rangeVa(r) + BigInt(r.size);
}
