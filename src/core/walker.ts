// The generic page-table walker. Architectures contribute a PagingFormat (data + small pure
// functions over a raw entry); this module reads tables (each physical table once per walk, a
// whole level per batch) and walks them through the one descent (descent.ts), which classifies
// entries, combines permissions across levels and reports malformed tables as diagnostics
// without losing the rest of the walk.
//
// A walk has two phases: `load` fetches every table the walk needs, level by level, through
// PhysicalMemory.readMany (so live sources can pipeline one level's reads); `walk` then runs
// synchronously over the loaded tables and streams leaves in ascending VA order.

import { PhysAddr, hex } from './addr';
import { ChildTable, Descent, DescentVisitor, decodeEntry } from './descent';
import { EntryKind, PagingFormat, Perm, entryCount, levelSize, tableBytes } from './format';
import { MemoryReadError, PhysicalMemory, ReadRequest, inRam } from './memory';
import { Root } from './space';

export { childProblem, effectivePerms, entryKind, identity, laxMessage, recursiveMessage, reservedMessage } from './descent';

/** One table entry on the path from a root down to a leaf; shared by all leaves below it. */
export interface PathStep {
  readonly parent: PathStep | undefined;
  readonly level: number;
  readonly index: number;
  readonly tablePa: PhysAddr;
  readonly lo: number;
  readonly hi: number;
  /** Perm bits still allowed below this entry (cumulative). */
  readonly allowed: number;
  /** Flags every leaf below inherits (format.tableFlags of this entry and those above). */
  readonly inherited?: number;
}

export interface Leaf {
  readonly root: Root;
  /** Page-aligned linear VA (see addr.ts); root.toVirt gives the canonical VA. */
  readonly linear: number;
  readonly size: number;
  readonly pa: PhysAddr;
  /** Index into root.format.levels. */
  readonly level: number;
  readonly index: number;
  /** Physical address of the table holding this entry. */
  readonly tablePa: PhysAddr;
  readonly lo: number;
  readonly hi: number;
  /** Effective rights: the leaf's own ANDed with what every table above allows. */
  readonly perms: number;
  readonly flags: number;
  readonly memType: number;
  readonly path: PathStep | undefined;
}

export type DiagnosticKind =
  | 'outside-ram' // a table pointer leads outside guest RAM
  | 'read-failed' // the memory source failed for a table
  | 'reserved-bits' // an entry sets reserved bits: the hardware faults here
  | 'recursive' // a table is its own ancestor (recursive/looping mapping)
  | 'misaligned' // a root is not aligned as the architecture requires
  | 'qemu-lenient'; // reserved by the manual, accepted by QEMU TCG: followed as QEMU does, reported

export interface Diagnostic {
  readonly kind: DiagnosticKind;
  readonly root: Root;
  readonly level: number;
  /** Entry index in its table (-1 for a root problem). */
  readonly index: number;
  readonly tablePa: PhysAddr;
  readonly linear: number;
  readonly message: string;
}

/** What a leaf walk hands out: the descent's leaves, or its runs of like leaves (as `leafRun`). */
export interface WalkVisitor extends Pick<DescentVisitor, 'leaf' | 'diagnostic'> {
  /** DescentVisitor.run: one call per run keeps a merge of millions of 4 KiB pages from allocating per page. */
  leafRun?: DescentVisitor['run'];
  /** A leaf visitor that can repeat a shared subtree's leaves itself (with `leaf`, not `leafRun`). */
  repeats?: SubtreeRecorder;
}

/**
 * A subtree (one table at one level, under the same rights and flags from above, in one root)
 * gives the same leaves at every reference, shifted in VA: Linux x86_64's ESPfix area reaches one
 * PTE table through 2048 PMD entries (65,536 of a kernel's ~72 k leaves). A visitor that keeps
 * what it made of a subtree's leaves can repeat it there instead of being handed every leaf again.
 * Keys name the subtree; the walk asks to record one at its second reference (one that had no
 * diagnostic, inside the walk's range) and to replay it from the third on, unless a table inside
 * it is on the current path (the walk would then stop at a recursive pointer there).
 */
export interface SubtreeRecorder {
  /** Starts keeping the leaves of subtree `key`, whose span is [linear, linear + span) of `root`. */
  record(key: string, root: Root, linear: number, span: number): void;
  /** Ends the recording of `key` (always after `record`, innermost first); `keep` false: the walk reported something in it. */
  stop(key: string, keep: boolean): void;
  /** Gives the leaves of `key` again at `linear` (same span); false when nothing was kept, and the walk then goes down. */
  replay(key: string, root: Root, linear: number): boolean;
}

/** Per recorder: subtrees walked once without diagnostics (1), or recorded (the tables inside them). */
const recorded = new WeakMap<SubtreeRecorder, Map<string, 1 | number[]>>();

export interface WalkOptions {
  /** Linear range [start, end) to walk in each root; default everything. */
  readonly range?: readonly [number, number];
  readonly signal?: AbortSignal;
  /** Skip the subtree of a table entry when this says false (a reverse lookup prunes subtrees that cannot hold its PA). */
  readonly descend?: (tablePa: number, level: number) => boolean;
}

export interface WalkStats {
  tablesRead: number;
  bytesRead: number;
  readBatches: number;
}

/**
 * Raw tables by physical address, read at most once. One store serves one stop of the target:
 * a walk, translations and the lazy tree all share it.
 */
export class TableStore {
  private readonly tables = new Map<number, Uint32Array | MemoryReadError>();
  readonly stats: WalkStats = { tablesRead: 0, bytesRead: 0, readBatches: 0 };

  constructor(readonly memory: PhysicalMemory) {
    if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('ptview needs a little-endian host');
  }

  get(pa: number): Uint32Array | MemoryReadError | undefined {
    return this.tables.get(pa);
  }

  /** Tables being read, by PA: the batch that reads them (a concurrent load waits for it). */
  private readonly pending = new Map<number, Promise<void>>();

  /**
   * Fetches every not-yet-loaded table in one batch. Tables another load is reading already are
   * waited for, not read again: at a stop the map, the tree and the stop-to-stop diff load the
   * same tables at the same time. When that other load fails (its own signal aborted it), what
   * it did not read is read here.
   */
  async load(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<void> {
    for (;;) {
      const todo: ReadRequest[] = [];
      const waits = new Set<Promise<void>>();
      const seen = new Set<number>();
      for (const r of reqs) {
        if (this.tables.has(r.addr) || seen.has(r.addr)) continue;
        seen.add(r.addr);
        const p = this.pending.get(r.addr);
        if (p) waits.add(p);
        else todo.push(r);
      }
      if (todo.length === 0 && waits.size === 0) return;
      signal?.throwIfAborted();
      if (todo.length > 0) {
        const batch = this.readBatch(todo, signal).finally(() => {
          for (const r of todo) if (this.pending.get(r.addr) === batch) this.pending.delete(r.addr);
        });
        for (const r of todo) this.pending.set(r.addr, batch);
        await batch;
      }
      await Promise.allSettled(waits);
    }
  }

  private async readBatch(todo: readonly ReadRequest[], signal?: AbortSignal): Promise<void> {
    const results = await this.memory.readMany(todo, signal);
    this.stats.readBatches++;
    todo.forEach((r, i) => {
      // Every address gets an answer, also from a source that returns too few: a load waiting for
      // this batch would otherwise find the address unset and read it again, forever.
      const res = results[i] ?? new MemoryReadError(r.addr, r.length, 'io', 'the memory source gave no answer for it');
      if (res instanceof MemoryReadError) {
        this.tables.set(r.addr, res);
        return;
      }
      if (res.length < r.length) {
        this.tables.set(r.addr, new MemoryReadError(r.addr, r.length, 'truncated', `only ${res.length} bytes available`));
        return;
      }
      this.stats.tablesRead++;
      this.stats.bytesRead += r.length;
      // Copy into an aligned buffer: sources may hand out views at odd offsets.
      const words = new Uint32Array(r.length >>> 2);
      new Uint8Array(words.buffer).set(res.subarray(0, r.length));
      this.tables.set(r.addr, words);
    });
  }

  /** Loads a single table (lazy tree, translate). */
  async table(pa: PhysAddr, bytes: number, signal?: AbortSignal): Promise<Uint32Array | MemoryReadError> {
    if (!this.tables.has(pa)) {
      if (!inRam(this.memory.ram, pa, bytes)) {
        return new MemoryReadError(pa, bytes, 'outside-ram', 'table is outside guest RAM');
      }
      await this.load([{ addr: pa, length: bytes }], signal);
    }
    return this.tables.get(pa)!;
  }

  private readonly complete = new WeakMap<PagingFormat, Set<number>>();

  /** Every table reachable from the root is loaded (or failed): loadTables has nothing to do. */
  isComplete(root: Root): boolean {
    return this.complete.get(root.format)?.has(root.tablePa) === true;
  }

  markComplete(root: Root): void {
    let s = this.complete.get(root.format);
    if (!s) this.complete.set(root.format, (s = new Set()));
    s.add(root.tablePa);
  }

  private readonly presentLists = [new Map<number, Uint16Array>(), new Map<number, Uint16Array>()];
  private readonly visited = { load: new Set<number>(), walk: new Set<number>() };

  /**
   * Indices of the non-zero entries of a loaded table, from its second visit in a phase on
   * (undefined on the first: a table seen once is cheapest to scan directly). A table reached
   * many times (a recursive slot, a shared subtree) then costs its non-empty entries per visit.
   */
  presentIfRevisited(pa: number, words: Uint32Array, entryBytes: 4 | 8, phase: 'load' | 'walk'): Uint16Array | undefined {
    const seen = this.visited[phase];
    if (!seen.has(pa)) {
      seen.add(pa);
      return undefined;
    }
    const cache = this.presentLists[entryBytes === 8 ? 1 : 0];
    let list = cache.get(pa);
    if (list === undefined) {
      const n = entryBytes === 8 ? words.length >>> 1 : words.length;
      const tmp = new Uint16Array(n);
      let k = 0;
      if (entryBytes === 8) {
        for (let i = 0; i < n; i++) if ((words[2 * i] | words[2 * i + 1]) !== 0) tmp[k++] = i;
      } else {
        for (let i = 0; i < n; i++) if (words[i] !== 0) tmp[k++] = i;
      }
      list = tmp.slice(0, k);
      cache.set(pa, list);
    }
    return list;
  }
}

/** Reads entry `i` of a loaded table as two 32-bit halves. */
export function entryAt(words: Uint32Array, entryBytes: 4 | 8, i: number): [number, number] {
  return entryBytes === 8 ? [words[2 * i], words[2 * i + 1]] : [words[i], 0];
}

/**
 * Phase 1: reads every table reachable from the roots (within the range), a whole level per
 * batch. Each physical table is read once, however many entries point at it; a root loaded
 * whole once is not traversed again (every later walk of the store finds its tables there).
 */
export async function loadTables(roots: readonly Root[], store: TableStore, opts: WalkOptions = {}): Promise<void> {
  type Item = { root: Root; pa: number; level: number; base: number };
  const todo = roots.filter((r) => !store.isComplete(r));
  let frontier: Item[] = todo.map((root) => ({ root, pa: root.tablePa, level: 0, base: 0 }));
  // A (format, table, level) is expanded once: what it points to does not depend on where it is
  // referenced from, so shared subtrees and recursive slots cost one expansion, not one per path
  // (512-way fan-out at every level would otherwise enqueue 512^3 items). Only a table that the
  // VA range cuts depends on its base.
  const expanded = new Map<PagingFormat, Set<string>>();
  const descents = new Map<Root, Descent>();
  let next: Item[] = [];
  let from: Item;
  const descentOf = (root: Root): Descent => {
    let d = descents.get(root);
    if (!d) {
      d = new Descent(root, store, { child: (c) => next.push({ root: from.root, pa: c.pa, level: c.level, base: c.linear }) }, { range: opts.range, loading: true });
      descents.set(root, d);
    }
    return d;
  };
  while (frontier.length > 0) {
    opts.signal?.throwIfAborted();
    const reqs: ReadRequest[] = [];
    for (const it of frontier) {
      const bytes = tableBytes(it.root.format, it.level);
      if (inRam(store.memory.ram, it.pa, bytes)) reqs.push({ addr: it.pa as PhysAddr, length: bytes });
    }
    await store.load(reqs, opts.signal);
    next = [];
    for (const it of frontier) {
      const f = it.root.format;
      if (it.level + 1 >= f.levels.length) continue;
      const size = levelSize(f, it.level);
      const n = entryCount(f, it.level);
      const whole = !opts.range || (it.base >= opts.range[0] && it.base + n * size <= opts.range[1]);
      const key = whole ? `${it.pa}:${it.level}` : `${it.pa}:${it.level}:${it.base}`;
      let done = expanded.get(f);
      if (!done) expanded.set(f, (done = new Set()));
      if (done.has(key)) continue;
      done.add(key);
      from = it;
      descentOf(it.root).table(it.pa, it.level, it.base, Perm.All, 0, undefined);
    }
    frontier = next;
  }
  if (!opts.range) for (const r of todo) store.markComplete(r);
}

/**
 * Phase 2: streams leaves in ascending linear order for one root, and a diagnostic for every
 * entry the hardware would fault on or that cannot be followed. Tables must be loaded.
 */
export function walkLoaded(root: Root, store: TableStore, visitor: WalkVisitor, opts: WalkOptions = {}): void {
  const descend = opts.descend;
  const range = opts.range;
  const rec = visitor.leafRun || descend ? undefined : visitor.repeats;
  let seen: Map<string, 1 | number[]> | undefined;
  if (rec) {
    seen = recorded.get(rec);
    if (!seen) recorded.set(rec, (seen = new Map()));
  }
  // Subtrees being walked under a recorder: the tables met in each, and whether it stayed clean.
  const frames: { tables: Set<number>; clean: boolean }[] = [];
  const down = (c: ChildTable): void => {
    const step: PathStep = { parent: path, level: c.level - 1, index: c.index, tablePa: c.tablePa as PhysAddr, lo: c.lo, hi: c.hi, allowed: c.allowed, inherited: c.inherited };
    const saved = path;
    path = step;
    d.table(c.pa, c.level, c.linear, c.allowed, c.inherited, step);
    path = saved;
  };
  const d: Descent = new Descent(root, store, {
    leaf: visitor.leafRun ? undefined : visitor.leaf,
    run: visitor.leafRun,
    diagnostic: rec === undefined ? visitor.diagnostic : (x) => {
      if (frames.length) frames[frames.length - 1].clean = false;
      visitor.diagnostic?.(x);
    },
    child: (c) => {
      if (descend !== undefined && !descend(c.pa, c.level)) return;
      if (rec === undefined || seen === undefined) return down(c);
      const span = levelSize(root.format, c.level - 1);
      const whole = range === undefined || (c.linear >= range[0] && c.linear + span <= range[1]);
      const key = `${root.name}\n${c.pa}/${c.level}/${c.allowed}/${c.inherited}`;
      const known = whole ? seen.get(key) : undefined;
      const parent = frames.length ? frames[frames.length - 1] : undefined;
      if (Array.isArray(known) && !known.some((t) => d.ancestors.includes(t)) && rec.replay(key, root, c.linear)) {
        if (parent) for (const t of known) parent.tables.add(t);
        return;
      }
      const frame = { tables: new Set([c.pa]), clean: true };
      frames.push(frame);
      const recording = known === 1;
      if (recording) rec.record(key, root, c.linear, span);
      down(c);
      frames.pop();
      if (recording) rec.stop(key, frame.clean);
      if (frame.clean && whole && !Array.isArray(known)) seen.set(key, recording ? [...frame.tables] : 1);
      if (parent) {
        if (!frame.clean) parent.clean = false;
        for (const t of frame.tables) parent.tables.add(t);
      }
    },
  }, { range, signal: opts.signal });
  let path: PathStep | undefined;
  if (d.rootOk()) d.table(root.tablePa, 0, 0, Perm.All, 0, undefined);
}

/** Loads and walks every root, in root order then VA order. */
export async function walk(roots: readonly Root[], store: TableStore, visitor: WalkVisitor, opts: WalkOptions = {}): Promise<void> {
  await loadTables(roots, store, opts);
  for (const r of roots) walkLoaded(r, store, visitor, opts);
}

/** One step of a translation trace. */
export interface TraceStep {
  readonly level: number;
  readonly levelName: string;
  readonly index: number;
  readonly tablePa: PhysAddr;
  readonly entryPa: PhysAddr;
  readonly lo: number;
  readonly hi: number;
  readonly kind: EntryKind;
  /** Perm bits still allowed after this step. */
  readonly allowed: number;
}

export type TranslateOutcome =
  | { kind: 'mapped'; leaf: Leaf; trace: TraceStep[] }
  | { kind: 'not-mapped'; level: number; trace: TraceStep[] }
  | { kind: 'invalid'; level: number; reason: DiagnosticKind; message: string; trace: TraceStep[] };

/**
 * Follows one linear address down its path, reading one table per level through the store.
 * The same descent rules as walkLoaded, for a single address.
 */
export async function translateLinear(root: Root, linear: number, store: TableStore, signal?: AbortSignal): Promise<TranslateOutcome> {
  const f = root.format;
  const trace: TraceStep[] = [];
  let pa: number = root.tablePa;
  let allowed: number = Perm.All;
  let inh = 0;
  let path: PathStep | undefined;
  for (let level = 0; level < f.levels.length; level++) {
    const bytes = tableBytes(f, level);
    const words = await store.table(pa as PhysAddr, bytes, signal);
    if (words instanceof MemoryReadError) {
      const reason: DiagnosticKind = words.reason === 'outside-ram' ? 'outside-ram' : 'read-failed';
      return { kind: 'invalid', level, reason, message: `${f.levels[level].name} table at ${hex(pa)}: ${words.message}`, trace };
    }
    const shift = f.levels[level].shift;
    const index = Math.floor(linear / 2 ** shift) % entryCount(f, level);
    const [lo, hi] = entryAt(words, f.entryBytes, index);
    // The descent's reading of the entry (descent.ts), one entry per level.
    const e = decodeEntry(f, lo, hi, level, index, allowed, inh);
    const kind = e.kind;
    const stepAllowed = kind === EntryKind.Table ? e.perms : allowed;
    trace.push({
      level, levelName: f.levels[level].name, index, tablePa: pa as PhysAddr, entryPa: (pa + index * f.entryBytes) as PhysAddr,
      lo, hi, kind, allowed: stepAllowed,
    });
    if (kind === EntryKind.Invalid) return { kind: 'not-mapped', level, trace };
    if (kind === EntryKind.Reserved) {
      return { kind: 'invalid', level, reason: 'reserved-bits', message: `${f.levels[level].name}[${index}] has reserved bits or encoding set`, trace };
    }
    if (kind === EntryKind.Leaf) {
      const size = levelSize(f, level);
      const leaf: Leaf = {
        root, linear: Math.floor(linear / size) * size, size, pa: e.target as PhysAddr, level, index,
        tablePa: pa as PhysAddr, lo, hi, perms: e.perms, flags: e.flags, memType: e.memType, path,
      };
      return { kind: 'mapped', leaf, trace };
    }
    inh = e.flags;
    path = { parent: path, level, index, tablePa: pa as PhysAddr, lo, hi, allowed: stepAllowed, inherited: inh };
    allowed = stepAllowed;
    pa = e.target!;
    if (!inRam(store.memory.ram, pa, tableBytes(f, level + 1))) {
      return { kind: 'invalid', level, reason: 'outside-ram', message: `${f.levels[level].name}[${index}] points to ${hex(pa)}, outside guest RAM`, trace };
    }
  }
  throw new Error('unreachable: walk ran past the last level');
}
