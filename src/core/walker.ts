// The one generic page-table walker. Architectures contribute a PagingFormat (data + small pure
// functions over a raw entry); this module does everything else: reading tables (each physical
// table once per walk, a whole level per batch), descending, combining permissions across levels,
// and reporting malformed tables as diagnostics without losing the rest of the walk.
//
// A walk has two phases: `load` fetches every table the walk needs, level by level, through
// PhysicalMemory.readMany (so live sources can pipeline one level's reads); `walk` then runs
// synchronously over the loaded tables and streams leaves in ascending VA order.

import { PhysAddr, hex } from './addr';
import { EntryKind, PagingFormat, Perm, entryCount, levelSize, tableBytes } from './format';
import { MemoryReadError, PhysicalMemory, ReadRequest, inRam } from './memory';
import { Root } from './space';

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

export interface WalkVisitor {
  leaf?(leaf: Leaf): void;
  /**
   * Instead of `leaf`: runs of `count` consecutive entries of one table with identical
   * non-address bits; `first` describes the first of them, `lastPa` is the last one's PA and
   * `paContiguous` says whether each PA follows the previous one. One call per run keeps a merge
   * of millions of 4 KiB pages from allocating per page.
   */
  leafRun?(first: Leaf, count: number, paContiguous: boolean, lastPa: number): void;
  diagnostic?(d: Diagnostic): void;
}

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

  /** Fetches every not-yet-loaded table in one batch. */
  async load(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<void> {
    const todo: ReadRequest[] = [];
    const seen = new Set<number>();
    for (const r of reqs) {
      if (!this.tables.has(r.addr) && !seen.has(r.addr)) {
        seen.add(r.addr);
        todo.push(r);
      }
    }
    if (todo.length === 0) return;
    signal?.throwIfAborted();
    const results = await this.memory.readMany(todo, signal);
    this.stats.readBatches++;
    results.forEach((res, i) => {
      const r = todo[i];
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

const identities = new Map<number, Uint16Array>();
/** [0, 1, …, n-1], shared: the index list of a table scanned whole. */
export function identity(n: number): Uint16Array {
  let a = identities.get(n);
  if (!a) identities.set(n, (a = Uint16Array.from({ length: n }, (_, i) => i)));
  return a;
}

/** First position in the ascending list whose value is >= v. */
function lowerBound(list: Uint16Array, v: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function overlaps(base: number, size: number, range: readonly [number, number] | undefined): boolean {
  return !range || (base < range[1] && base + size > range[0]);
}

/** Next-table pointer check shared by load and walk: RAM, then read result. */
export function childProblem(
  store: TableStore,
  pa: number,
  bytes: number,
): { kind: DiagnosticKind; message: string } | undefined {
  if (!inRam(store.memory.ram, pa, bytes)) {
    return { kind: 'outside-ram', message: `next table at ${hex(pa)} is outside guest RAM` };
  }
  const t = store.get(pa);
  if (t instanceof MemoryReadError) {
    return { kind: 'read-failed', message: `table at ${hex(pa)} could not be read: ${t.message}` };
  }
  return undefined;
}

/**
 * Phase 1: reads every table reachable from the roots (within the range), a whole level per
 * batch. Each physical table is read once, however many entries point at it.
 */
export async function loadTables(roots: readonly Root[], store: TableStore, opts: WalkOptions = {}): Promise<void> {
  type Item = { root: Root; pa: number; level: number; base: number };
  let frontier: Item[] = roots.map((root) => ({ root, pa: root.tablePa, level: 0, base: 0 }));
  // A (format, table, level) is expanded once: what it points to does not depend on where it is
  // referenced from, so shared subtrees and recursive slots cost one expansion, not one per path
  // (512-way fan-out at every level would otherwise enqueue 512^3 items). Only a table that the
  // VA range cuts depends on its base.
  const expanded = new Map<PagingFormat, Set<string>>();
  while (frontier.length > 0) {
    opts.signal?.throwIfAborted();
    const reqs: ReadRequest[] = [];
    for (const it of frontier) {
      const bytes = tableBytes(it.root.format, it.level);
      if (inRam(store.memory.ram, it.pa, bytes)) reqs.push({ addr: it.pa as PhysAddr, length: bytes });
    }
    await store.load(reqs, opts.signal);
    const next: Item[] = [];
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
      const words = store.get(it.pa);
      if (!words || words instanceof MemoryReadError) continue;
      const idx = store.presentIfRevisited(it.pa, words, f.entryBytes, 'load') ?? identity(n);
      for (let k = 0; k < idx.length; k++) {
        const i = idx[k];
        const base = it.base + i * size;
        if (!overlaps(base, size, opts.range)) continue;
        const lo = f.entryBytes === 8 ? words[2 * i] : words[i];
        const hi = f.entryBytes === 8 ? words[2 * i + 1] : 0;
        if (f.classify(lo, hi, it.level) !== EntryKind.Table) continue;
        next.push({ root: it.root, pa: f.tablePa(lo, hi, it.level), level: it.level + 1, base });
      }
    }
    frontier = next;
  }
}

/**
 * Phase 2: streams leaves in ascending linear order for one root, and a diagnostic for every
 * entry the hardware would fault on or that cannot be followed. Tables must be loaded.
 */
export function walkLoaded(root: Root, store: TableStore, visitor: WalkVisitor, opts: WalkOptions = {}): void {
  const f = root.format;
  const range = opts.range;
  const onLeaf = visitor.leaf;
  const onDiag = visitor.diagnostic;
  const eb = f.entryBytes;
  const lax = f.laxBits;
  const descend = opts.descend;
  const ancestors: number[] = [];

  const rootBytes = tableBytes(f, 0);
  const rootProblem = childProblem(store, root.tablePa, rootBytes);
  if (rootProblem) {
    onDiag?.({ ...rootProblem, root, level: 0, index: -1, tablePa: root.tablePa, linear: 0, message: `root ${root.name}: ${rootProblem.message}` });
    return;
  }

  const onRun = visitor.leafRun;

  const tFlags = f.tableFlags;
  const visit = (pa: number, level: number, base: number, path: PathStep | undefined, allowed: number, inh: number): void => {
    const words = store.get(pa) as Uint32Array;
    const n = entryCount(f, level);
    const size = levelSize(f, level);
    ancestors.push(pa);
    // Clip the index range once per table instead of testing the VA range per entry.
    let first = 0;
    let end = n;
    if (range) {
      first = Math.max(0, Math.floor((range[0] - base) / size));
      end = Math.min(n, Math.ceil((range[1] - base) / size));
    }
    // Entries of one table usually differ only in their address bits: when the format says
    // which low bits are pure address, decode the rest once per run of equal attribute bits.
    const addrLo = f.addressBitsLo ? f.addressBitsLo(level) : 0;
    // The pending run (leafRun mode): first leaf, length, next index, last PA. Locals, not
    // closure variables: a PA above 2^31 stored in a closure slot is boxed on every page.
    let run: Leaf | undefined;
    let runCount = 0;
    let runNextI = 0;
    let runLastPa = 0;
    let runPaContig = true;
    let cKey = -1;
    let cHi = -1;
    let cPerms = 0;
    let cFlags = 0;
    let cMem = 0;
    // Entry indices to scan: all of [first, end) on a first visit, else only the present ones.
    const idx = store.presentIfRevisited(pa, words, eb, 'walk') ?? identity(n);
    const kEnd = lowerBound(idx, end);
    for (let k = lowerBound(idx, first); k < kEnd; k++) {
      const i = idx[k];
      const lo = eb === 8 ? words[2 * i] : words[i];
      const hi = eb === 8 ? words[2 * i + 1] : 0;
      if (lo === 0 && hi === 0) continue; // fast path: empty entry
      const linear = base + i * size;
      if (addrLo !== 0 && (lo & ~addrLo) === cKey && hi === cHi) {
        const leafPa = f.leafPa(lo, hi, level, i);
        if (onRun === undefined) {
          // Called directly (not through emit) so V8 can inline it and elide the object.
          if (onLeaf) onLeaf({ root, linear, size, pa: leafPa as PhysAddr, level, index: i, tablePa: pa as PhysAddr, lo, hi, perms: cPerms, flags: cFlags, memType: cMem, path });
        } else if (run !== undefined && i === runNextI) {
          if (leafPa !== runLastPa + size) runPaContig = false;
          runLastPa = leafPa;
          runCount++;
          runNextI++;
        } else {
          if (run !== undefined) onRun(run, runCount, runPaContig, runLastPa);
          run = { root, linear, size, pa: leafPa as PhysAddr, level, index: i, tablePa: pa as PhysAddr, lo, hi, perms: cPerms, flags: cFlags, memType: cMem, path };
          runCount = 1;
          runNextI = i + 1;
          runLastPa = leafPa;
          runPaContig = true;
        }
        continue;
      }
      // The rules live in entryKind and effectivePerms (shared with the graph fold, translate,
      // the tree and the simulator); this loop only caches their answer per run of like entries.
      const kind = entryKind(f, lo, hi, level);
      if (kind === EntryKind.Invalid) continue;
      if (kind === EntryKind.Leaf && addrLo !== 0) {
        cKey = lo & ~addrLo;
        cHi = hi;
        cPerms = effectivePerms(f, lo, hi, level, allowed);
        cFlags = f.leafFlags(lo, hi, level) | inh;
        cMem = f.leafMemType(lo, hi, level);
      }
      if (kind !== EntryKind.Leaf && run !== undefined) {
        onRun!(run, runCount, runPaContig, runLastPa); // keep leaves and diagnostics in VA order
        run = undefined;
      }
      if (kind === EntryKind.Reserved) {
        onDiag?.({ kind: 'reserved-bits', root, level, index: i, tablePa: pa as PhysAddr, linear, message: reservedMessage(f, level, i, pa, lo, hi) });
        continue;
      }
      if (lax !== undefined && onDiag !== undefined) {
        const lb = lax.call(f, lo, hi, level, kind);
        if (lb) onDiag({ kind: 'qemu-lenient', root, level, index: i, tablePa: pa as PhysAddr, linear, message: laxMessage(f, level, i, pa, BigInt(lb)) });
      }
      if (kind === EntryKind.Table) {
        const next = f.tablePa(lo, hi, level);
        const problem = childProblem(store, next, tableBytes(f, level + 1));
        if (problem) {
          onDiag?.({ ...problem, root, level, index: i, tablePa: pa as PhysAddr, linear, message: `${f.levels[level].name}[${i}] at ${hex(pa + i * eb)}: ${problem.message}` });
          continue;
        }
        if (ancestors.includes(next)) {
          // Reported, not descended: a table on its own descent path would unfold into every
          // path through the loop (512 self-references make 512^4 leaves of one 4 KiB page).
          onDiag?.({
            kind: 'recursive', root, level, index: i, tablePa: pa as PhysAddr, linear,
            message: recursiveMessage(f, level, i, pa, next),
          });
          continue;
        }
        if (descend !== undefined && !descend(next, level + 1)) continue;
        const nowAllowed = allowed & ~f.tableRestricts(lo, hi, level);
        const nowInh = tFlags === undefined ? inh : inh | tFlags.call(f, lo, hi, level);
        const step: PathStep = { parent: path, level, index: i, tablePa: pa as PhysAddr, lo, hi, allowed: nowAllowed, inherited: nowInh };
        visit(next, level + 1, linear, step, nowAllowed, nowInh);
        continue;
      }
      // Leaf
      if (!onLeaf && !onRun) continue;
      const leaf: Leaf = addrLo !== 0
        ? { root, linear, size, pa: f.leafPa(lo, hi, level, i) as PhysAddr, level, index: i, tablePa: pa as PhysAddr, lo, hi, perms: cPerms, flags: cFlags, memType: cMem, path }
        : {
          root, linear, size, pa: f.leafPa(lo, hi, level, i) as PhysAddr, level, index: i, tablePa: pa as PhysAddr, lo, hi,
          perms: effectivePerms(f, lo, hi, level, allowed), flags: f.leafFlags(lo, hi, level) | inh, memType: f.leafMemType(lo, hi, level), path,
        };
      if (onRun === undefined) {
        onLeaf!(leaf);
        continue;
      }
      if (run !== undefined) onRun(run, runCount, runPaContig, runLastPa);
      run = leaf;
      runCount = 1;
      runNextI = i + 1;
      runLastPa = leaf.pa;
      runPaContig = true;
    }
    if (run !== undefined) onRun!(run, runCount, runPaContig, runLastPa);
    ancestors.pop();
  };
  visit(root.tablePa, 0, 0, undefined, Perm.All, 0);
}

/**
 * An entry's kind as the walker reads it: a table pointer at the last level, or any entry with
 * reserved bits set, is Reserved (the hardware faults there). Every client that decides what an
 * entry is (the simulator too) asks this, so they cannot read an entry differently.
 */
export function entryKind(f: PagingFormat, lo: number, hi: number, level: number): EntryKind {
  const kind = f.classify(lo, hi, level);
  if (kind === EntryKind.Invalid || kind === EntryKind.Reserved) return kind;
  if (kind === EntryKind.Table && level + 1 >= f.levels.length) return EntryKind.Reserved;
  return f.reservedBits(lo, hi, level, kind) ? EntryKind.Reserved : kind;
}

/** The diagnostic text of an entry with reserved bits or a reserved encoding. */
export function reservedMessage(f: PagingFormat, level: number, i: number, tablePa: number, lo: number, hi: number): string {
  const eb = f.entryBytes;
  // The bits of the entry's own kind (a leaf's A bit is not a non-leaf's reserved A bit).
  const k = f.classify(lo, hi, level);
  const bits = k === EntryKind.Leaf || k === EntryKind.Table
    ? BigInt(f.reservedBits(lo, hi, level, k))
    : BigInt(f.reservedBits(lo, hi, level, EntryKind.Leaf)) | BigInt(f.reservedBits(lo, hi, level, EntryKind.Table));
  return `${f.levels[level].name}[${i}] at ${hex(tablePa + i * eb)} = ${hex(BigInt(hi >>> 0) * 2n ** 32n + BigInt(lo >>> 0), eb * 2)}: ` +
    (bits ? `reserved bits ${hex(bits)} set` : 'reserved encoding') + ' (the hardware faults here)';
}

/** The diagnostic of bits a real CPU rejects and QEMU TCG accepts (format.laxBits). */
export function laxMessage(f: PagingFormat, level: number, i: number, tablePa: number, bits: bigint): string {
  return `${f.levels[level].name}[${i}] at ${hex(tablePa + i * f.entryBytes)}: bits ${hex(bits)} are reserved by the manual (a real CPU faults on them) but QEMU TCG accepts them; ptview follows QEMU`;
}

/** The diagnostic text of a recursive reference (walker and graph fold say it alike). */
export function recursiveMessage(f: PagingFormat, level: number, index: number, tablePa: number, next: number): string {
  return `${f.levels[level].name}[${index}] at ${hex(tablePa + index * f.entryBytes)} points back to an ancestor table at ${hex(next)} (recursive mapping; not descended)`;
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
  const ancestors: number[] = [];
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
    const kind = entryKind(f, lo, hi, level);
    const stepAllowed = kind === EntryKind.Table ? allowed & ~f.tableRestricts(lo, hi, level) : allowed;
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
        root, linear: Math.floor(linear / size) * size, size, pa: f.leafPa(lo, hi, level, index) as PhysAddr, level, index,
        tablePa: pa as PhysAddr, lo, hi, perms: effectivePerms(f, lo, hi, level, allowed), flags: f.leafFlags(lo, hi, level) | inh,
        memType: f.leafMemType(lo, hi, level), path,
      };
      return { kind: 'mapped', leaf, trace };
    }
    ancestors.push(pa);
    if (f.tableFlags) inh |= f.tableFlags(lo, hi, level);
    path = { parent: path, level, index, tablePa: pa as PhysAddr, lo, hi, allowed: stepAllowed, inherited: inh };
    allowed = stepAllowed;
    pa = f.tablePa(lo, hi, level);
    if (!inRam(store.memory.ram, pa, tableBytes(f, level + 1))) {
      return { kind: 'invalid', level, reason: 'outside-ram', message: `${f.levels[level].name}[${index}] points to ${hex(pa)}, outside guest RAM`, trace };
    }
  }
  throw new Error('unreachable: walk ran past the last level');
}

/** A leaf's effective rights given what the tables above allow (slow path helper). */
export function effectivePerms(f: PagingFormat, lo: number, hi: number, level: number, allowed: number): number {
  const p = f.leafPerms(lo, hi, level) & allowed;
  return f.finalPerms ? f.finalPerms(p, lo, hi, level) : p;
}
