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
// Entry classification follows walkLoaded exactly (the same format calls in the same order), so a
// fold and a leaf walk agree: test/unit/core/graph.test.ts checks merged ranges both ways.
import { PhysAddr, hex } from './addr';
import { EntryKind, Perm, entryCount, levelSize } from './format';
import { upperHalfStart } from './ops/filter';
import { MergedRange, MERGE_KEY_FLAGS } from './ops/merge';
import { Root } from './space';
import { Diagnostic, Leaf, TableStore, WalkOptions, childProblem, effectivePerms, entryKind, identity, laxMessage, loadTables, recursiveMessage, reservedMessage } from './walker';

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

interface Memo<S> {
  summary: S;
  /** Every table PA the subtree's table entries point to. */
  refs: Set<number>;
  /** Those of refs that were on the descent path above the subtree when it was computed. */
  onPath: number[];
}

/** The summary of one root's tables (loaded into the store) under the algebra. */
export function foldLoaded<S>(root: Root, store: TableStore, alg: FoldAlgebra<S>, opts: FoldOptions = {}): S | undefined {
  const f = root.format;
  const range = opts.range;
  // One report per problem entry (table, level, index), however many paths or rights reach it.
  const reported = new Set<string>();
  const onDiag = opts.diagnostic && ((d: Diagnostic): void => {
    const k = `${d.kind}:${d.tablePa}:${d.level}:${d.index}`;
    if (reported.has(k)) return;
    reported.add(k);
    opts.diagnostic!(d);
  });
  const eb = f.entryBytes;
  const splitRuns = alg.contiguousRuns === true;
  const lax = f.laxBits;
  const countOnly = alg.countOnly === true;
  const ancestors: number[] = [];
  const memo = new Map<string, Memo<S>[]>();
  const rootProblem = childProblem(store, root.tablePa, entryCount(f, 0) * eb);
  if (rootProblem) {
    onDiag?.({ ...rootProblem, root, level: 0, index: -1, tablePa: root.tablePa, linear: 0, message: `root ${root.name}: ${rootProblem.message}` });
    return undefined;
  }
  let steps = 0;

  const lookup = (key: string): Memo<S> | undefined => {
    const list = memo.get(key);
    if (!list) return undefined;
    for (const m of list) {
      let hits = 0;
      for (const a of ancestors) if (m.refs.has(a)) hits++;
      if (hits === m.onPath.length && m.onPath.every((a) => ancestors.includes(a))) return m;
    }
    return undefined;
  };

  const tFlags = f.tableFlags;
  const visit = (pa: number, level: number, base: number, allowed: number, inh: number, refs: Set<number>): S => {
    if ((++steps & 0xfff) === 0) opts.signal?.throwIfAborted();
    const words = store.get(pa) as Uint32Array;
    const n = entryCount(f, level);
    const size = levelSize(f, level);
    const addrLo = f.addressBitsLo ? f.addressBitsLo(level) : 0;
    const s = alg.empty(level);
    ancestors.push(pa);
    let first = 0;
    let end = n;
    if (range) {
      first = Math.max(0, Math.floor((range[0] - base) / size));
      end = Math.min(n, Math.ceil((range[1] - base) / size));
    }
    let run: Leaf | undefined;
    let runCount = 0;
    let runNextI = 0;
    let runLastPa = 0;
    let runContig = true;
    let cKey = -1;
    let cHi = -1;
    let cPerms = 0;
    let cFlags = 0;
    let cMem = 0;
    let counted = 0;
    const flush = (): void => {
      if (run !== undefined) alg.run(s, run, runCount, runContig, runLastPa);
      run = undefined;
    };
    const idx = store.presentIfRevisited(pa, words, eb, 'walk') ?? identity(n);
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k];
      if (i < first) continue;
      if (i >= end) break;
      const lo = eb === 8 ? words[2 * i] : words[i];
      const hi = eb === 8 ? words[2 * i + 1] : 0;
      if (lo === 0 && hi === 0) continue;
      let perms: number;
      let flags: number;
      let mem: number;
      if (addrLo !== 0 && (lo & ~addrLo) === cKey && hi === cHi) {
        if (countOnly) {
          counted++;
          continue;
        }
        perms = cPerms;
        flags = cFlags;
        mem = cMem;
      } else {
        const kind = entryKind(f, lo, hi, level);
        if (kind === EntryKind.Invalid) continue;
        if (kind === EntryKind.Reserved) {
          flush();
          onDiag?.({ kind: 'reserved-bits', root, level, index: i, tablePa: pa as PhysAddr, linear: base + i * size, message: reservedMessage(f, level, i, pa, lo, hi) });
          continue;
        }
        if (lax !== undefined && onDiag !== undefined) {
          const lb = lax.call(f, lo, hi, level, kind);
          if (lb) onDiag({ kind: 'qemu-lenient', root, level, index: i, tablePa: pa as PhysAddr, linear: base + i * size, message: laxMessage(f, level, i, pa, BigInt(lb)) });
        }
        if (kind === EntryKind.Table) {
          flush();
          const next = f.tablePa(lo, hi, level);
          const linear = base + i * size;
          const problem = childProblem(store, next, entryCount(f, level + 1) * eb);
          if (problem) {
            onDiag?.({ ...problem, root, level, index: i, tablePa: pa as PhysAddr, linear, message: `${f.levels[level].name}[${i}] at ${hex(pa + i * eb)}: ${problem.message}` });
            continue;
          }
          refs.add(next);
          if (ancestors.includes(next)) {
            onDiag?.({ kind: 'recursive', root, level, index: i, tablePa: pa as PhysAddr, linear, message: recursiveMessage(f, level, i, pa, next) });
            continue;
          }
          const nowAllowed = allowed & ~f.tableRestricts(lo, hi, level);
          const nowInh = tFlags === undefined ? inh : inh | tFlags.call(f, lo, hi, level);
          // Only a child wholly inside the range has a summary independent of where it sits.
          const whole = !range || (linear >= range[0] && linear + size <= range[1]);
          const key = `${next}:${level + 1}:${nowAllowed}:${nowInh}`;
          const hit = whole ? lookup(key) : undefined;
          if (hit) {
            alg.append(s, hit.summary, i * size);
            for (const r of hit.refs) refs.add(r);
            continue;
          }
          const childRefs = new Set<number>();
          const child = visit(next, level + 1, linear, nowAllowed, nowInh, childRefs);
          if (whole) {
            const entry: Memo<S> = { summary: child, refs: childRefs, onPath: ancestors.filter((a) => childRefs.has(a)) };
            const list = memo.get(key);
            if (list) list.push(entry);
            else memo.set(key, [entry]);
          }
          alg.append(s, child, i * size);
          for (const r of childRefs) refs.add(r);
          continue;
        }
        if (countOnly) {
          counted++;
          if (addrLo !== 0) {
            cKey = lo & ~addrLo;
            cHi = hi;
          }
          continue;
        }
        perms = effectivePerms(f, lo, hi, level, allowed);
        flags = f.leafFlags(lo, hi, level) | inh;
        mem = f.leafMemType(lo, hi, level);
        if (addrLo !== 0) {
          cKey = lo & ~addrLo;
          cHi = hi;
          cPerms = perms;
          cFlags = flags;
          cMem = mem;
        }
      }
      const leafPa = f.leafPa(lo, hi, level, i);
      if (run !== undefined && i === runNextI && run.perms === perms && run.flags === flags && run.memType === mem && (!splitRuns || leafPa === runLastPa + size)) {
        if (leafPa !== runLastPa + size) runContig = false;
        runLastPa = leafPa;
        runCount++;
        runNextI++;
        continue;
      }
      flush();
      run = { root, linear: i * size, size, pa: leafPa as PhysAddr, level, index: i, tablePa: pa as PhysAddr, lo, hi, perms, flags, memType: mem, path: undefined };
      runCount = 1;
      runNextI = i + 1;
      runLastPa = leafPa;
      runContig = true;
    }
    flush();
    if (counted !== 0) alg.run(s, undefined as unknown as Leaf, counted, false, 0);
    ancestors.pop();
    return s;
  };
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

/**
 * Splits a root's linear range into consecutive sub-ranges of at most `max` leaves each (or one
 * smallest page), following the table levels, so a caller can walk them one at a time and wait
 * between them (output backpressure) without holding the whole walk's output. The chunks cover
 * the whole range: a part without leaves joins its neighbour rather than being dropped, so a walk
 * of the chunks still reports what is wrong there (e.g. a table that cannot be read).
 */
export async function leafChunks(root: Root, store: TableStore, range: readonly [number, number] | undefined, max: number, signal?: AbortSignal): Promise<[number, number][]> {
  const f = root.format;
  const out: [number, number][] = [];
  const full: [number, number] = [0, 2 ** root.inputBits];
  const whole: [number, number] = range ? [range[0], range[1]] : full;
  let emptyFrom: number | undefined; // start of leafless parts not yet joined to a chunk
  const split = async (r: [number, number], level: number): Promise<void> => {
    const [e] = await fold([root], store, countAlgebra, { range: r, signal });
    if (!e || e.leaves <= max || level >= f.levels.length) {
      if (e && e.leaves > 0) {
        out.push([emptyFrom ?? r[0], r[1]]);
        emptyFrom = undefined;
      } else if (out.length > 0) out[out.length - 1][1] = r[1];
      else emptyFrom ??= r[0];
      return;
    }
    const size = levelSize(f, level);
    for (let a = Math.floor(r[0] / size) * size; a < r[1]; a += size) {
      await split([Math.max(a, r[0]), Math.min(a + size, r[1])], level + 1);
    }
  };
  await split(whole, 0);
  if (emptyFrom !== undefined) out.push([emptyFrom, whole[1]]);
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
