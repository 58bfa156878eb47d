// Merged ranges with repeats folded: one range object for "N copies of this range, one every S
// bytes, all mapping the same physical bytes with the same attributes". Linux x86_64's ESPfix
// area (arch/x86/kernel/espfix_64.c: ESPFIX_BASE_ADDR, espfix_pud_page / espfix_pmd_page) maps
// one read-only stack page at 65,536 VAs, one every 64 KiB, through PUD, PMD and PTE tables that
// repeat the same entries: ptdump prints 65,536 lines there, ptview printed 65,536 ranges, and
// walking, labelling and drawing them cost hundreds of milliseconds per stop. Folded, the area
// is one range (`repeat` 65536, `stride` 64K).
//
// The fold is exact: unfolding every range (copy k at start + k·stride) gives the ranges of
// graph.ts's mergeAlgebra / RangeMerger, except that a folded range's Accessed/Dirty flags are
// ORed over all its copies (as merge.ts already ORs them over a range's pages). It runs as a
// FoldAlgebra over the graph of tables, so a repeated subtree folds once per table, not once per
// copy: the PTE table's 32 copies fold when it is decoded, the PMD table appends that one folded
// range 512 times, the PUD entries 4 times.
import { sizeLabel } from '../addr';
import { FoldAlgebra, FoldLimitError, FoldOptions, MAX_RANGES, fold, rangeCountAlgebra } from '../graph';
import { Root } from '../space';
import { TableStore } from '../walker';
import { upperHalfStart } from '../space';
import { MERGE_KEY_FLAGS, MergedRange } from './merge';

/** Copies of a range (1 unless folded). */
export function repeatCount(r: MergedRange): number {
  return r.repeat ?? 1;
}

/** Linear end of the last copy (exclusive): where the folded range's span ends. */
export function spanEnd(r: MergedRange): number {
  return r.start + (repeatCount(r) - 1) * (r.stride ?? 0) + r.size;
}

/** Pages over all copies. */
export function totalPages(r: MergedRange): number {
  return r.pages * repeatCount(r);
}

/** " ×65536 every 64K" for a folded range (text outputs), "" for one copy. */
export function repeatText(r: MergedRange): string {
  return repeatCount(r) > 1 ? ` \u00d7${r.repeat} every ${sizeLabel(r.stride!)}` : '';
}

/** The copies of a folded range as plain ranges (tests, and callers that need one per copy). */
export function unfold(r: MergedRange): MergedRange[] {
  const n = repeatCount(r);
  const out: MergedRange[] = [];
  for (let k = 0; k < n; k++) {
    const start = r.start + k * (r.stride ?? 0);
    const { repeat: _r, stride: _s, ...plain } = r;
    out.push({ ...plain, start, end: start + r.size });
  }
  return out;
}

/** Sets the copies (a range of one copy has neither field). */
function setRepeat(r: MergedRange, n: number, stride: number): MergedRange {
  if (n > 1) {
    r.repeat = n;
    r.stride = stride;
  } else {
    delete r.repeat;
    delete r.stride;
  }
  return r;
}

interface Summary {
  ranges: MergedRange[];
  /** PA of the last page of each range (of each copy: they are equal). */
  lastPa: number[];
}

// Two copies of one range: everything but the position (Accessed/Dirty are ORed, not compared).
function sameCopy(a: MergedRange, aLastPa: number, b: MergedRange, bLastPa: number): boolean {
  return a.pa === b.pa && aLastPa === bLastPa && a.size === b.size && a.pages === b.pages && a.paContiguous === b.paContiguous &&
    a.perms === b.perms && a.level === b.level && a.memType === b.memType && a.leafSize === b.leafSize && a.root === b.root &&
    ((a.flags ^ b.flags) & MERGE_KEY_FLAGS) === 0;
}

/**
 * mergeAlgebra (graph.ts) with repeats folded. A range joins the previous one exactly when it
 * would there (the previous range's last copy is split off a folded range first, so the unfolded
 * result is the same); a range that does not join is folded into the previous one when it is a
 * further copy at the same stride.
 */
export function repeatMergeAlgebra(opts: { requirePaContiguous?: boolean; maxRanges?: number } = {}): FoldAlgebra<Summary> {
  const requirePa = opts.requirePaContiguous === true;
  const max = opts.maxRanges ?? 1 << 22;
  const add = (s: Summary, r: MergedRange, lastPa: number): void => {
    if (s.ranges.length >= max) throw new FoldLimitError(`more than ${max} merged ranges`);
    s.ranges.push(r);
    s.lastPa.push(lastPa);
  };
  // `r` may be a child's range (shared by every reference of a memoised subtree): never changed,
  // copied when kept. `start` is its position in this summary's span.
  const push = (s: Summary, r: MergedRange, start: number, lastPa: number): void => {
    let k = s.ranges.length - 1;
    let c = s.ranges[k];
    const n = repeatCount(r);
    if (c !== undefined) {
      const cN = repeatCount(c);
      const cLast = c.start + (cN - 1) * (c.stride ?? 0);
      if (
        cLast + c.size === start && start !== upperHalfStart(r.root) && c.perms === r.perms && c.level === r.level && c.memType === r.memType &&
        ((c.flags ^ r.flags) & MERGE_KEY_FLAGS) === 0 && (!requirePa || r.pa === s.lastPa[k] + c.leafSize)
      ) {
        // r's first copy continues c's last copy: that copy leaves the fold and grows.
        if (cN > 1) {
          const { repeat: _r, stride: _s, ...plain } = c;
          setRepeat(c, cN - 1, c.stride!);
          c = { ...plain, start: cLast, end: cLast + c.size };
          add(s, c, s.lastPa[k]);
          k++;
        }
        if (r.pa !== s.lastPa[k] + c.leafSize || !r.paContiguous) c.paContiguous = false;
        c.end += r.size;
        c.size += r.size;
        c.pages += r.pages;
        c.flags |= r.flags;
        s.lastPa[k] = lastPa;
        if (n > 1) {
          const rest = start + r.stride!;
          const { repeat: _r, stride: _s, ...plain } = r;
          add(s, setRepeat({ ...plain, start: rest, end: rest + r.size }, n - 1, r.stride!), lastPa);
        }
        return;
      }
      const gap = start - cLast;
      if (gap > c.size && (cN === 1 || c.stride === gap) && (n === 1 || r.stride === gap) && sameCopy(c, s.lastPa[k], r, lastPa)) {
        c.repeat = cN + n;
        c.stride = gap;
        c.flags |= r.flags;
        return;
      }
    }
    add(s, { ...r, start, end: start + r.size }, lastPa);
  };
  return {
    contiguousRuns: requirePa,
    empty: () => ({ ranges: [], lastPa: [] }),
    run: (s, l, count, contig, lastPa) => {
      const bytes = count * l.size;
      const r: MergedRange = { root: l.root, start: l.linear, end: l.linear + bytes, pa: l.pa, paContiguous: contig, size: bytes, pages: count, perms: l.perms, flags: l.flags, memType: l.memType, level: l.level, leafSize: l.size };
      push(s, r, l.linear, lastPa);
    },
    append: (s, child, offset) => {
      const rs = child.ranges;
      for (let k = 0; k < rs.length; k++) push(s, rs[k], rs[k].start + offset, child.lastPa[k]);
    },
  };
}

/**
 * Merged ranges of every root with repeats folded, in root then VA order (of each range's first
 * copy), from the graph of tables; bounded like graph.ts foldRanges (the exact count of ranges
 * before folding says how many when refusing).
 */
export async function foldRepeatedRanges(
  roots: readonly Root[],
  store: TableStore,
  opts: FoldOptions & { requirePaContiguous?: boolean; maxRanges?: number } = {},
): Promise<MergedRange[]> {
  const max = opts.maxRanges ?? MAX_RANGES;
  const refuse = async (): Promise<never> => {
    let n = 0;
    for (const c of await fold(roots, store, rangeCountAlgebra(opts), { range: opts.range, signal: opts.signal })) n += c?.n ?? 0;
    throw new FoldLimitError(`the tables merge into ${n.toLocaleString('en-US')} ranges, more than ${max.toLocaleString('en-US')} even with repeats folded`);
  };
  const out: MergedRange[] = [];
  try {
    for (const s of await fold(roots, store, repeatMergeAlgebra({ ...opts, maxRanges: max }), opts)) if (s) for (const r of s.ranges) out.push(r);
  } catch (e) {
    if (!(e instanceof FoldLimitError)) throw e;
    return refuse();
  }
  return out.length <= max ? out : refuse();
}

/**
 * Folds repeats in a list of merged ranges (from a leaf walk: filtered dumps). Only physically
 * contiguous ranges fold here: a scattered range's pages other than the first are not known.
 */
export function foldRepeats(ranges: readonly MergedRange[]): MergedRange[] {
  const out: MergedRange[] = [];
  const lastPa = (r: MergedRange) => r.pa + r.size - r.leafSize;
  for (const r of ranges) {
    const c = out[out.length - 1];
    if (c !== undefined && r.paContiguous && repeatCount(r) === 1) {
      const cN = repeatCount(c);
      const cLast = c.start + (cN - 1) * (c.stride ?? 0);
      const gap = r.start - cLast;
      if (gap > c.size && (cN === 1 || c.stride === gap) && sameCopy(c, lastPa(c), r, lastPa(r))) {
        c.repeat = cN + 1;
        c.stride = gap;
        c.flags |= r.flags;
        continue;
      }
    }
    out.push({ ...r });
  }
  return out;
}
