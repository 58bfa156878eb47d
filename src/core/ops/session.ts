// One stop of a target: an address space, its memory, and one table store shared by every
// operation (walk, ranges, translate, aliases, audit), so each table is read once per stop.
import { PhysicalMemory } from '../memory';
import { AddressSpace } from '../space';
import { Diagnostic, Leaf, TableStore, loadTables, walk } from '../walker';
import { AuditReport, auditReport } from './audit';
import { LeafFilter } from './filter';
import { MergedRange, RangeMerger } from './merge';
import { Alias, findAliases } from './reverse';
import { Translation, translate } from './translate';

export interface ListOptions {
  filter?: LeafFilter;
  requirePaContiguous?: boolean;
  signal?: AbortSignal;
}

export class PageTableSession {
  readonly store: TableStore;

  constructor(readonly space: AddressSpace, readonly memory: PhysicalMemory) {
    this.store = new TableStore(memory);
  }

  get stats() {
    return this.store.stats;
  }

  /** Streams matching leaves (and every diagnostic) in root, then VA, order. */
  async forEachLeaf(onLeaf: (l: Leaf) => void, opts: ListOptions = {}, onDiag?: (d: Diagnostic) => void): Promise<void> {
    // Without a VA filter every root is walked whole: load all of them together first, so a
    // live source gets one batch per level rather than one per level and root.
    if (!opts.filter || this.space.roots.every((r) => opts.filter!.linearRange(r) === undefined)) {
      await loadTables(this.space.roots, this.store, { signal: opts.signal });
    }
    for (const root of this.space.roots) {
      const range = opts.filter?.linearRange(root);
      if (range === null) continue;
      const f = opts.filter;
      await walk([root], this.store, { leaf: f ? (l) => f.matches(l) && onLeaf(l) : onLeaf, diagnostic: onDiag }, { range, signal: opts.signal });
    }
  }

  async leaves(opts: ListOptions = {}): Promise<Leaf[]> {
    const out: Leaf[] = [];
    await this.forEachLeaf((l) => out.push(l), opts);
    return out;
  }

  async ranges(opts: ListOptions = {}): Promise<MergedRange[]> {
    const m = new RangeMerger({ requirePaContiguous: opts.requirePaContiguous });
    if ((opts.filter && !opts.filter.empty) || opts.requirePaContiguous) {
      await this.forEachLeaf((l) => m.push(l), opts);
    } else {
      // Unfiltered: one call per run of like pages instead of one Leaf per page.
      await walk(this.space.roots, this.store, { leafRun: (l, n, contig, lastPa) => m.pushRun(l, n, contig, lastPa) }, { signal: opts.signal });
    }
    return m.finish();
  }

  translate(va: bigint, opts: { root?: string; signal?: AbortSignal } = {}): Promise<Translation> {
    return translate(this.space, va, this.store, opts);
  }

  aliases(pa: number | readonly [number, number], opts: { signal?: AbortSignal } = {}): Promise<Alias[]> {
    return findAliases(this.space, this.store, pa, opts);
  }

  audit(opts: { signal?: AbortSignal } = {}): Promise<AuditReport> {
    return auditReport(this.space, this.store, opts);
  }
}
