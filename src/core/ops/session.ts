// One stop of a target: an address space, its memory, and one table store shared by every
// operation (walk, ranges, translate, aliases, audit), so each table is read once per stop.
import { Expansion, ExpansionError, FoldAlgebra, FoldLimitError, MAX_RANGES, expansion, fold, leafChunks } from '../graph';
import { PhysicalMemory } from '../memory';
import { AddressSpace } from '../space';
import { Diagnostic, Leaf, SubtreeRecorder, TableStore, loadTables, walk } from '../walker';
import { AUDIT_LEAF_LIMIT, AuditReport, auditAlgebra, auditFromSummaries, auditReport } from './audit';
import { LeafFilter } from './filter';
import { MergedRange, RangeMerger } from './merge';
import { foldRepeatedRanges, foldRepeats, repeatMergeAlgebra } from './repeats';
import { Alias, countAliases, findAliases } from './reverse';
import { Translation, translate } from './translate';

export interface ListOptions {
  filter?: LeafFilter;
  requirePaContiguous?: boolean;
  signal?: AbortSignal;
  /**
   * Leaf walks refuse (ExpansionError) when the tables expand to more leaves than this: shared
   * subtrees can make a 20 KiB image expand to 512^4 leaves. Default LEAF_LIMIT.
   */
  maxLeaves?: number;
  /**
   * Called between parts of the walk of at most CHUNK_LEAVES leaves each: a streaming caller
   * waits here for its output to drain (the walk itself is synchronous).
   */
  between?: () => Promise<void>;
  /** forEachLeaf without a filter: the visitor repeats shared subtrees' leaves itself (walker.ts). */
  repeats?: SubtreeRecorder;
  /** Unfiltered ranges(): refuse (FoldLimitError, with the exact count) beyond this many. */
  maxRanges?: number;
}

/** Default bound on leaf walks (a 64 GiB direct map in 4 KiB pages is 16 M leaves). */
export const LEAF_LIMIT = 2 ** 24;
/** Bound on walks that index every leaf (audit's alias check, ~50 bytes a leaf). */
export const INDEX_LIMIT = 2 ** 22;
const CHUNK_LEAVES = 2 ** 17;

export class PageTableSession {
  readonly store: TableStore;
  private wholeExpansion?: Expansion;

  constructor(readonly space: AddressSpace, readonly memory: PhysicalMemory) {
    this.store = new TableStore(memory);
  }

  get stats() {
    return this.store.stats;
  }

  /** Leaves and table visits a leaf walk (in the filter's VA range) would make, from the graph. */
  async expansion(opts: { filter?: LeafFilter; signal?: AbortSignal } = {}): Promise<Expansion> {
    if (opts.filter) return expansion(this.space.roots, this.store, (r) => opts.filter!.linearRange(r), opts.signal);
    // The whole space's count cannot change while the session lives (each table is read once):
    // a caller that counts before listing does not pay for the list's own count again.
    this.wholeExpansion ??= await expansion(this.space.roots, this.store, undefined, opts.signal);
    return { ...this.wholeExpansion };
  }

  /**
   * Streams matching leaves (and every diagnostic) in root, then VA, order. Refuses with an
   * ExpansionError, before any leaf, when the walk would exceed opts.maxLeaves.
   */
  async forEachLeaf(onLeaf: (l: Leaf) => void, opts: ListOptions = {}, onDiag?: (d: Diagnostic) => void): Promise<void> {
    // Without a VA filter every root is walked whole: load all of them together first, so a
    // live source gets one batch per level rather than one per level and root.
    if (!opts.filter || this.space.roots.every((r) => opts.filter!.linearRange(r) === undefined)) {
      await loadTables(this.space.roots, this.store, { signal: opts.signal });
    }
    const limit = opts.maxLeaves ?? LEAF_LIMIT;
    const e = await this.expansion(opts);
    if (e.leaves > limit || e.tables > limit) throw new ExpansionError(e, limit, 'refusing to list every leaf');
    const f = opts.filter;
    const filtered = f !== undefined && !f.empty;
    const visitor = { leaf: filtered ? (l: Leaf) => f.matches(l) && onLeaf(l) : onLeaf, diagnostic: onDiag, repeats: filtered ? undefined : opts.repeats };
    for (const root of this.space.roots) {
      const range = f?.linearRange(root);
      if (range === null) continue;
      if (!opts.between || e.leaves <= CHUNK_LEAVES) {
        await walk([root], this.store, visitor, { range, signal: opts.signal });
        continue;
      }
      for (const chunk of await leafChunks(root, this.store, range, CHUNK_LEAVES, opts.signal)) {
        await walk([root], this.store, visitor, { range: chunk, signal: opts.signal });
        await opts.between();
      }
    }
  }

  async leaves(opts: ListOptions = {}): Promise<Leaf[]> {
    const out: Leaf[] = [];
    await this.forEachLeaf((l) => out.push(l), opts);
    return out;
  }

  /**
   * Merged ranges, repeats folded (repeats.ts: a range mapped again and again at a fixed stride
   * is one range with `repeat` and `stride`). Unfiltered, from the graph of tables (each shared
   * subtree merged once, however often it is referenced); filtered, from a leaf walk (bounded
   * like forEachLeaf).
   */
  async ranges(opts: ListOptions = {}, onDiag?: (d: Diagnostic) => void): Promise<MergedRange[]> {
    if (opts.filter && !opts.filter.empty) {
      const m = new RangeMerger({ requirePaContiguous: opts.requirePaContiguous });
      await this.forEachLeaf((l) => m.push(l), opts, onDiag);
      return foldRepeats(m.finish());
    }
    return foldRepeatedRanges(this.space.roots, this.store, { requirePaContiguous: opts.requirePaContiguous, signal: opts.signal, diagnostic: onDiag, maxRanges: opts.maxRanges });
  }

  translate(va: bigint, opts: { root?: string; signal?: AbortSignal } = {}): Promise<Translation> {
    return translate(this.space, va, this.store, opts);
  }

  /** Every VA mapping the PA (or range), at most opts.max of them. */
  aliases(pa: number | readonly [number, number], opts: { signal?: AbortSignal; max?: number } = {}): Promise<Alias[]> {
    return findAliases(this.space, this.store, pa, opts);
  }

  /** How many VAs map the PA (or range): shared subtrees can make it astronomically many. */
  countAliases(pa: number | readonly [number, number], opts: { signal?: AbortSignal } = {}): Promise<number> {
    return countAliases(this.space, this.store, pa, opts);
  }

  audit(opts: { signal?: AbortSignal } = {}): Promise<AuditReport> {
    return auditReport(this.space, this.store, opts);
  }

  /**
   * ranges() and audit() of the whole space from one fold over the graph of tables (what the
   * map shows at every stop): each subtree decoded once for both, however often it is
   * referenced. Beyond the audit's leaf bound or the range bound, the two separately (which then
   * refuse or summarise as they do).
   */
  async rangesAndAudit(opts: { signal?: AbortSignal } = {}): Promise<{ ranges: MergedRange[]; report: AuditReport }> {
    const size = await this.expansion(opts);
    if (size.leaves <= AUDIT_LEAF_LIMIT && size.tables <= AUDIT_LEAF_LIMIT) {
      const diags: Diagnostic[] = [];
      const seen = new Set<string>();
      const onDiag = (d: Diagnostic): void => {
        const k = `${d.root.name}\n${d.message}`;
        if (!seen.has(k)) diags.push(d);
        seen.add(k);
      };
      try {
        const both = pair(repeatMergeAlgebra({ maxRanges: MAX_RANGES }), auditAlgebra(this.memory.ram));
        const sums = await fold(this.space.roots, this.store, both, { signal: opts.signal, diagnostic: onDiag });
        const ranges: MergedRange[] = [];
        for (const s of sums) if (s) for (const r of s[0].ranges) ranges.push(r);
        return { ranges, report: auditFromSummaries(this.space.roots, sums.map((s) => s?.[1]), diags) };
      } catch (e) {
        if (!(e instanceof FoldLimitError)) throw e;
      }
    }
    return { ranges: await this.ranges(opts), report: await this.audit(opts) };
  }
}

/** Two folds in one pass (runs split wherever either needs). */
function pair<A, B>(a: FoldAlgebra<A>, b: FoldAlgebra<B>): FoldAlgebra<[A, B]> {
  return {
    contiguousRuns: a.contiguousRuns === true || b.contiguousRuns === true,
    empty: (level) => [a.empty(level), b.empty(level)],
    run: (s, l, count, contig, lastPa) => {
      a.run(s[0], l, count, contig, lastPa);
      b.run(s[1], l, count, contig, lastPa);
    },
    append: (s, c, offset) => {
      a.append(s[0], c[0], offset);
      b.append(s[1], c[1], offset);
    },
  };
}
