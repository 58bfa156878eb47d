// Folds over the graph the page tables form, not the tree they unfold to. A subtree (table,
// level, rights still allowed above it) is decoded once; its summary (merged ranges, counts) is
// computed once and appended, shifted, at every other reference. Shared subtrees (KASAN's early
// shadow, hostile 512-way fan-out at every level) therefore cost their distinct tables, not the
// leaves they expand to (up to 512^4 per root), and memory stays bounded.
//
// A table on its own descent path is reported and not descended (as in walkLoaded). That makes a
// subtree's result depend on the path above it when it references one of the tables on that
// path; a memo entry therefore records which tables the subtree references and which of those
// were on the path when it was computed, and is reused only where the same ones are.
//
// Entries are scanned by the one descent (descent.ts) the leaf walk uses too, so a fold and a
// leaf walk agree: test/unit/core/graph.test.ts checks merged ranges both ways.
import { Perm, levelSize } from './format';
import { upperHalfStart } from './space';
import { MergedRange, MERGE_KEY_FLAGS } from './ops/merge';
import { Root } from './space';
import { Descent } from './descent';
import { Diagnostic, Leaf, TableStore, WalkOptions, loadTables } from './walker';

/** How one operation summarises a table's span (counts, merged ranges, …). */
export interface FoldAlgebra<S> {
  /** The summary of a table before any entry. */
  empty(level: number): S;
  /** `count` leaves with first's attributes at consecutive entries; first.linear is relative to the table's span. */
  run(s: S, first: Leaf, count: number, paContiguous: boolean, lastPa: number): void;
  /** A child table's summary, its span starting `offset` bytes into this table's span. */
  append(s: S, child: S, offset: number): void;
  /** Runs only while each page's PA follows the previous one (the algebra needs every PA). */
  readonly contiguousRuns?: boolean;
  /** Only the number of leaves matters: run() gets one call per table with a placeholder leaf. */
  readonly countOnly?: boolean;
}

export interface FoldOptions extends Pick<WalkOptions, 'range' | 'signal'> {
  diagnostic?(d: Diagnostic): void;
}

/**
 * Results of subtrees (by a key naming the table, its level and whatever else decides them), each
 * kept with the tables the subtree references and those of them that were on the descent path
 * when it was computed: reused only under a path holding exactly those of the references (see the
 * file header). The fold's summaries and the reverse lookup's reachability use it.
 */
export class PathMemo<T> {
  private readonly entries = new Map<string, { value: T; refs: Set<number>; onPath: number[] }[]>();

  /** The result of `key` valid under `ancestors` (the descent path above the subtree), with its references. */
  get(key: string, ancestors: readonly number[]): { readonly value: T; readonly refs: ReadonlySet<number> } | undefined {
    const list = this.entries.get(key);
    if (!list) return undefined;
    for (const m of list) {
      let hits = 0;
      for (const a of ancestors) if (m.refs.has(a)) hits++;
      if (hits === m.onPath.length && m.onPath.every((a) => ancestors.includes(a))) return m;
    }
    return undefined;
  }

  /** Keeps `value`, computed under `ancestors`, whose subtree references the tables in `refs`. */
  set(key: string, value: T, refs: Set<number>, ancestors: readonly number[]): void {
    const entry = { value, refs, onPath: ancestors.filter((a) => refs.has(a)) };
    const list = this.entries.get(key);
    if (list) list.push(entry);
    else this.entries.set(key, [entry]);
  }
}

/**
 * The summary of one root's tables (loaded into the store) under the algebra; from `start` (a
 * table, its level, linear base and what the levels above allow and pass down) instead of the
 * root table when given.
 */
export function foldLoaded<S>(
  root: Root, store: TableStore, alg: FoldAlgebra<S>, opts: FoldOptions = {},
  start?: { pa: number; level: number; base: number; allowed: number; inherited: number; above?: readonly number[] },
): S | undefined {
  const range = opts.range;
  // One report per problem entry (table, level, index), however many paths or rights reach it.
  const reported = new Set<string>();
  const onDiag = opts.diagnostic && ((d: Diagnostic): void => {
    const k = `${d.kind}:${d.tablePa}:${d.level}:${d.index}`;
    if (reported.has(k)) return;
    reported.add(k);
    opts.diagnostic!(d);
  });
  const memo = new PathMemo<S>();
  // The summary and references of the table being scanned (restored after each child).
  let cur: S;
  let curRefs: Set<number>;
  const d: Descent = new Descent(root, store, {
    run: alg.countOnly ? undefined : (first, count, contig, lastPa) => alg.run(cur, first, count, contig, lastPa),
    count: alg.countOnly ? (n) => alg.run(cur, undefined as unknown as Leaf, n, false, 0) : undefined,
    diagnostic: onDiag,
    ref: (pa) => curRefs.add(pa),
    child: (c) => {
      // Only a child wholly inside the range has a summary independent of where it sits.
      const whole = !range || (c.linear >= range[0] && c.linear + levelSize(root.format, c.level - 1) <= range[1]);
      const key = `${c.pa}:${c.level}:${c.allowed}:${c.inherited}`;
      const hit = whole ? memo.get(key, d.ancestors) : undefined;
      if (hit) {
        alg.append(cur, hit.value, c.offset);
        for (const r of hit.refs) curRefs.add(r);
        return;
      }
      const childRefs = new Set<number>();
      const child = visit(c.pa, c.level, c.linear, c.allowed, c.inherited, childRefs);
      if (whole) memo.set(key, child, childRefs, d.ancestors);
      alg.append(cur, child, c.offset);
      for (const r of childRefs) curRefs.add(r);
    },
  }, { range, signal: opts.signal, contiguousRuns: alg.contiguousRuns === true, relative: true });

  const visit = (pa: number, level: number, base: number, allowed: number, inh: number, refs: Set<number>): S => {
    const s = alg.empty(level);
    const savedS = cur;
    const savedRefs = curRefs;
    cur = s;
    curRefs = refs;
    d.table(pa, level, base, allowed, inh, undefined);
    cur = savedS;
    curRefs = savedRefs;
    return s;
  };
  if (start) {
    // A subtree: the tables above it are on the descent path (a reference back to one is recursive).
    for (const a of start.above ?? []) d.ancestors.push(a);
    return visit(start.pa, start.level, start.base, start.allowed, start.inherited, new Set());
  }
  if (!d.rootOk()) return undefined;
  return visit(root.tablePa, 0, 0, Perm.All, 0, new Set());
}

/** Loads the roots' tables (each once) and folds each root. */
export async function fold<S>(roots: readonly Root[], store: TableStore, alg: FoldAlgebra<S>, opts: FoldOptions = {}): Promise<(S | undefined)[]> {
  await loadTables(roots, store, opts);
  return roots.map((r) => foldLoaded(r, store, alg, opts));
}

/** Leaves and table visits a leaf walk would make: the tree's size, from the graph. */
export interface Expansion {
  leaves: number;
  tables: number;
}

export const countAlgebra: FoldAlgebra<Expansion> = {
  countOnly: true,
  empty: () => ({ leaves: 0, tables: 1 }),
  run: (s, _first, count) => {
    s.leaves += count;
  },
  append: (s, c) => {
    s.leaves += c.leaves;
    s.tables += c.tables;
  },
};

/** What a leaf walk of these roots (in their ranges) would visit. Diagnostics are not reported. */
export async function expansion(roots: readonly Root[], store: TableStore, range?: (r: Root) => [number, number] | undefined | null, signal?: AbortSignal): Promise<Expansion> {
  const total: Expansion = { leaves: 0, tables: 0 };
  for (const root of roots) {
    const r = range?.(root);
    if (r === null) continue;
    const [e] = await fold([root], store, countAlgebra, { range: r, signal });
    if (e) countAlgebra.append(total, e, 0);
  }
  return total;
}

export class FoldLimitError extends Error {
  override name = 'FoldLimitError';
}

interface RangeSummary {
  ranges: MergedRange[];
  /** PA of the last page of each range (the next page continues it when it follows this). */
  lastPa: number[];
}

/**
 * Merged ranges exactly as RangeMerger gives them from a leaf walk (no region boundaries):
 * merging is associative, so a subtree's ranges, appended where it is referenced and stitched at
 * the ends, are the ranges of its leaves.
 */
export function mergeAlgebra(opts: { requirePaContiguous?: boolean; maxRanges?: number } = {}): FoldAlgebra<RangeSummary> {
  const requirePa = opts.requirePaContiguous === true;
  const max = opts.maxRanges ?? 1 << 22;
  const push = (s: RangeSummary, r: Omit<MergedRange, 'start' | 'end' | 'size'>, start: number, bytes: number, lastPa: number): void => {
    const k = s.ranges.length - 1;
    const c = s.ranges[k];
    if (
      c !== undefined && c.end === start && start !== upperHalfStart(r.root) && c.perms === r.perms && c.level === r.level && c.memType === r.memType &&
      ((c.flags ^ r.flags) & MERGE_KEY_FLAGS) === 0 && (!requirePa || r.pa === s.lastPa[k] + c.leafSize)
    ) {
      if (r.pa !== s.lastPa[k] + c.leafSize || !r.paContiguous) c.paContiguous = false;
      c.end += bytes;
      c.size += bytes;
      c.pages += r.pages;
      c.flags |= r.flags;
      s.lastPa[k] = lastPa;
      return;
    }
    if (s.ranges.length >= max) {
      throw new FoldLimitError(`more than ${max} merged ranges`);
    }
    s.ranges.push({
      root: r.root, start, end: start + bytes, pa: r.pa, paContiguous: r.paContiguous, size: bytes, pages: r.pages, perms: r.perms,
      flags: r.flags, memType: r.memType, level: r.level, leafSize: r.leafSize,
    });
    s.lastPa.push(lastPa);
  };
  return {
    contiguousRuns: requirePa,
    empty: () => ({ ranges: [], lastPa: [] }),
    run: (s, l, count, contig, lastPa) => {
      push(s, { root: l.root, pa: l.pa, paContiguous: contig, pages: count, perms: l.perms, flags: l.flags, memType: l.memType, level: l.level, leafSize: l.size }, l.linear, count * l.size, lastPa);
    },
    append: (s, child, offset) => {
      const rs = child.ranges;
      for (let k = 0; k < rs.length; k++) push(s, rs[k], rs[k].start + offset, rs[k].size, child.lastPa[k]);
    },
  };
}

interface Edge {
  /** Where the root's VAs jump (the non-canonical hole): ranges never join there. */
  brk: number;
  start: number;
  end: number;
  pa: number;
  lastPa: number;
  perms: number;
  flags: number;
  memType: number;
  level: number;
  leafSize: number;
}

/** How many merged ranges: a count and the two end ranges of each subtree (where it can stitch). */
interface RangeCount {
  n: number;
  first?: Edge;
  last?: Edge;
}

/** Counts merged ranges without building them (exact: the same stitching as mergeAlgebra). */
export function rangeCountAlgebra(opts: { requirePaContiguous?: boolean } = {}): FoldAlgebra<RangeCount> {
  const requirePa = opts.requirePaContiguous === true;
  const joins = (a: Edge, b: Edge): boolean =>
    a.end === b.start && b.start !== a.brk && a.perms === b.perms && a.level === b.level && a.memType === b.memType &&
    ((a.flags ^ b.flags) & MERGE_KEY_FLAGS) === 0 && (!requirePa || b.pa === a.lastPa + a.leafSize);
  const add = (s: RangeCount, n: number, first: Edge, last: Edge): void => {
    if (s.last !== undefined && joins(s.last, first)) {
      const merged = { ...s.last, end: first.end, lastPa: first.lastPa };
      if (s.n === 1) s.first = merged;
      s.n += n - 1;
      s.last = n === 1 ? merged : last;
      return;
    }
    if (s.n === 0) s.first = first;
    s.n += n;
    s.last = last;
  };
  const shift = (e: Edge, by: number): Edge => ({ ...e, start: e.start + by, end: e.end + by });
  return {
    contiguousRuns: requirePa,
    empty: () => ({ n: 0 }),
    run: (s, l, count, _contig, lastPa) => {
      const e: Edge = { brk: upperHalfStart(l.root), start: l.linear, end: l.linear + count * l.size, pa: l.pa, lastPa, perms: l.perms, flags: l.flags, memType: l.memType, level: l.level, leafSize: l.size };
      add(s, 1, e, e);
    },
    append: (s, c, offset) => {
      if (c.n > 0) add(s, c.n, shift(c.first!, offset), shift(c.last!, offset));
    },
  };
}

/** Merged ranges of every root, in root then VA order, from the graph of tables. */
export async function foldRanges(
  roots: readonly Root[],
  store: TableStore,
  opts: FoldOptions & { requirePaContiguous?: boolean; maxRanges?: number } = {},
): Promise<MergedRange[]> {
  // Cheap folds first when the tree is big: its leaf count bounds the ranges; past the bound,
  // the exact range count (counts and end ranges only) refuses before any range is built.
  const max = opts.maxRanges ?? MAX_RANGES;
  let leaves = 0;
  for (const c of await fold(roots, store, countAlgebra, { range: opts.range, signal: opts.signal })) leaves += c?.leaves ?? 0;
  if (leaves > max) {
    const n = await countRanges(roots, store, opts);
    if (n > max) throw new FoldLimitError(`the tables merge into ${n.toLocaleString('en-US')} ranges, more than ${max.toLocaleString('en-US')}`);
  }
  const out: MergedRange[] = [];
  let overflow = false;
  try {
    for (const s of await fold(roots, store, mergeAlgebra({ ...opts, maxRanges: max }), opts)) if (s) for (const r of s.ranges) out.push(r);
  } catch (e) {
    if (!(e instanceof FoldLimitError)) throw e;
    overflow = true;
  }
  if (!overflow && out.length <= max) return out;
  out.length = 0;
  const n = await countRanges(roots, store, opts);
  throw new FoldLimitError(`the tables merge into ${n.toLocaleString('en-US')} ranges, more than ${max.toLocaleString('en-US')}`);
}

async function countRanges(roots: readonly Root[], store: TableStore, opts: FoldOptions & { requirePaContiguous?: boolean }): Promise<number> {
  let n = 0;
  for (const c of await fold(roots, store, rangeCountAlgebra(opts), { range: opts.range, signal: opts.signal })) n += c?.n ?? 0;
  return n;
}

/** Default bound on merged ranges built at once (a real kernel has thousands). */
export const MAX_RANGES = 1 << 20;

/** A leaf walk that would exceed the bound: how long it would be, and what to do instead. */
export class ExpansionError extends Error {
  override name = 'ExpansionError';
  constructor(readonly expansion: Expansion, readonly limit: number, what: string) {
    super(`${what}: the tables expand to ${expansion.leaves.toLocaleString('en-US')} leaves in ${expansion.tables.toLocaleString('en-US')} table visits (shared subtrees), more than ${limit.toLocaleString('en-US')}`);
  }
}

/** Leaves below each entry of the tables at `level`: [linear start, leaves] pairs in VA order. */
interface EntryCounts {
  n: number;
  at?: [number, number][];
}

function entryCountAlgebra(level: number): FoldAlgebra<EntryCounts> {
  return {
    empty: (l) => (l <= level ? { n: 0, at: [] } : { n: 0 }),
    run: (s, first, count) => {
      s.n += count;
      if (s.at && first.level <= level) for (let k = 0; k < count; k++) s.at.push([first.linear + k * first.size, 1]);
    },
    append: (s, child, offset) => {
      s.n += child.n;
      if (!s.at) return;
      if (child.at) for (const [a, n] of child.at) s.at.push([a + offset, n]);
      else if (child.n > 0) s.at.push([offset, child.n]); // the child is the table below an entry at `level`
    },
  };
}

/**
 * Splits a root's linear range into consecutive sub-ranges of at most `max` leaves each (or one
 * smallest page), following the table levels, so a caller can walk them one at a time and wait
 * between them (output backpressure) without holding the whole walk's output. One fold per
 * level that needs splitting (it counts the leaves below every entry of that level at once). The
 * chunks cover the whole range: a part without leaves joins its neighbour rather than being
 * dropped, so a walk of the chunks still reports what is wrong there (e.g. a table that cannot be read).
 */
export async function leafChunks(root: Root, store: TableStore, range: readonly [number, number] | undefined, max: number, signal?: AbortSignal): Promise<[number, number][]> {
  const f = root.format;
  const out: [number, number][] = [];
  const whole: [number, number] = range ? [range[0], range[1]] : [0, 2 ** root.inputBits];
  await loadTables([root], store, { range, signal });
  const split = (r: [number, number], level: number): void => {
    const counts = foldLoaded(root, store, entryCountAlgebra(level), { range: r, signal })?.at ?? [];
    const size = levelSize(f, level);
    let from = -1;
    let to = 0;
    let acc = 0;
    const flush = (): void => {
      if (from >= 0) out.push([from, to]);
      from = -1;
      acc = 0;
    };
    for (const [start, n] of counts) {
      const a = Math.max(start, r[0]);
      const b = Math.min(start + size, r[1]);
      if (n > max && level + 1 < f.levels.length) {
        flush();
        split([a, b], level + 1);
        continue;
      }
      if (acc + n > max) flush();
      if (from < 0) from = a;
      to = b;
      acc += n;
    }
    flush();
  };
  split(whole, 0);
  // Stretch the chunks over the leafless gaps between them (they hold no leaves, only diagnostics).
  if (out.length === 0) return [whole];
  out[0][0] = whole[0];
  for (let i = 1; i < out.length; i++) out[i - 1][1] = out[i][0];
  out[out.length - 1][1] = whole[1];
  return out;
}

/** Leaves overlapping the PA range [lo, hi): a count, from the graph (one number per subtree). */
export function hitAlgebra(lo: number, hi: number): FoldAlgebra<{ n: number }> {
  return {
    contiguousRuns: true,
    empty: () => ({ n: 0 }),
    run: (s, l, count) => {
      // Pages at l.pa + k * size, k < count: those with pa < hi and pa + size > lo.
      const kFirst = Math.max(0, Math.floor((lo - l.pa) / l.size));
      const kEnd = Math.min(count, Math.ceil((hi - l.pa) / l.size));
      if (kEnd > kFirst) s.n += kEnd - kFirst;
    },
    append: (s, c) => {
      s.n += c.n;
    },
  };
}
