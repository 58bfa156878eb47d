// The one descent through page tables. Every operation that goes down the tables (the leaf walk,
// the graph folds, table loading, translation, the lazy tree, reverse lookups, the audit and the
// simulator's reference count) scans a table through `Descent.table`, the simulator's edits go
// down through `modifyRange`, and both decide what an entry is through `decodeEntry`; nothing
// else classifies entries or combines rights down the levels.
// The shape is Linux's mm/pagewalk.c with ptdump's callbacks (and aarch64-paging's visit_range
// and modify_range):
// the descent classifies each entry (table / leaf / invalid / reserved, with the bit and the
// manual's rule through the format), accumulates rights, flags and attributes, reports what the
// hardware would fault on, and hands the client leaves (one by one, in runs, or as a count) and
// followable child tables; the client decides whether and how to go down (recurse, memoise a
// shared subtree, queue it for the next read batch, prune it).
import { PhysAddr, hex } from './addr';
import { EntryKind, PagingFormat, Perm, entryCount, levelSize, tableBytes } from './format';
import { MemoryReadError, inRam } from './memory';
import { Root, upperHalfStart } from './space';
import type { Diagnostic, DiagnosticKind, Leaf, PathStep, TableStore } from './walker';

/**
 * An entry's kind as the hardware reads it: a table pointer at the last level, or any entry with
 * reserved bits set, is Reserved (the hardware faults there).
 */
export function entryKind(f: PagingFormat, lo: number, hi: number, level: number): EntryKind {
  const kind = f.classify(lo, hi, level);
  if (kind === EntryKind.Invalid || kind === EntryKind.Reserved) return kind;
  if (kind === EntryKind.Table && level + 1 >= f.levels.length) return EntryKind.Reserved;
  return f.reservedBits(lo, hi, level, kind) ? EntryKind.Reserved : kind;
}

/** A leaf's effective rights given what the tables above allow. */
export function effectivePerms(f: PagingFormat, lo: number, hi: number, level: number, allowed: number): number {
  const p = f.leafPerms(lo, hi, level) & allowed;
  return f.finalPerms ? f.finalPerms(p, lo, hi, level) : p;
}

/** One entry decoded under what the levels above allow and pass down. */
export interface DecodedEntry {
  kind: EntryKind;
  /** Leaf: effective rights; table: rights still allowed below it; else 0. */
  perms: number;
  /** Leaf: its flags with those inherited; table: the flags passed below; else 0. */
  flags: number;
  /** Leaf: memory type index; else 0. */
  memType: number;
  /** Leaf: mapped PA; table: next table PA; else undefined. */
  target: number | undefined;
}

/** What an entry is and what it grants, under `allowed` and `inherited` from above. */
export function decodeEntry(f: PagingFormat, lo: number, hi: number, level: number, index: number, allowed: number, inherited: number): DecodedEntry {
  const kind = entryKind(f, lo, hi, level);
  if (kind === EntryKind.Leaf) {
    return { kind, perms: effectivePerms(f, lo, hi, level, allowed), flags: f.leafFlags(lo, hi, level) | inherited, memType: f.leafMemType(lo, hi, level), target: f.leafPa(lo, hi, level, index) };
  }
  if (kind === EntryKind.Table) {
    return { kind, perms: allowed & ~f.tableRestricts(lo, hi, level), flags: f.tableFlags ? inherited | f.tableFlags(lo, hi, level) : inherited, memType: 0, target: f.tablePa(lo, hi, level) };
  }
  return { kind, perms: 0, flags: 0, memType: 0, target: undefined };
}

/** Next-table pointer check: in RAM, then (once loaded) read. */
export function childProblem(store: TableStore, pa: number, bytes: number): { kind: DiagnosticKind; message: string } | undefined {
  if (!inRam(store.memory.ram, pa, bytes)) {
    return { kind: 'outside-ram', message: `next table at ${hex(pa)} is outside guest RAM` };
  }
  const t = store.get(pa);
  if (t instanceof MemoryReadError) {
    return { kind: 'read-failed', message: `table at ${hex(pa)} could not be read: ${t.message}` };
  }
  return undefined;
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

/** The diagnostic text of a recursive reference. */
export function recursiveMessage(f: PagingFormat, level: number, index: number, tablePa: number, next: number): string {
  return `${f.levels[level].name}[${index}] at ${hex(tablePa + index * f.entryBytes)} points back to an ancestor table at ${hex(next)} (recursive mapping; not descended)`;
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

/**
 * Leaf objects get their hidden class (field representations) from the first ones made: a first
 * leaf with small numbers makes V8 specialise every field to small integers, and the first
 * kernel address, high PA or entry with bit 31 set then changes the class and throws away the
 * optimised code of every function that handles leaves (measured: a cold `dump --leaves` paid
 * for it with a large share of its time). Leaves with the general representations, made once
 * here before any real one, avoid that.
 */
function settleLeafShape(): void {
  const big = 2 ** 52 + 0.5;
  const step = { parent: undefined, level: 0, index: 0, tablePa: big as PhysAddr, lo: big, hi: big, allowed: 0, inherited: 0 };
  const shapes: Leaf[] = [
    { root: undefined as unknown as Root, linear: big, size: big, pa: big as PhysAddr, level: 0, index: 0, tablePa: big as PhysAddr, lo: big, hi: big, perms: 0, flags: 0, memType: 0, path: undefined },
    { root: {} as Root, linear: 0, size: 0, pa: 0 as PhysAddr, level: 0, index: 0, tablePa: 0 as PhysAddr, lo: 0, hi: 0, perms: 0, flags: 0, memType: 0, path: step },
  ];
  void shapes;
}
settleLeafShape();

/**
 * The entries of a table at `level` whose spans meet the linear range [lo, hi): [first, end) as
 * indices. The visit (Descent.table) and the modify-range descent (modifyRange) both clip this way.
 */
export function entrySpan(f: PagingFormat, level: number, base: number, lo: number, hi: number): [number, number] {
  const size = levelSize(f, level);
  return [Math.max(0, Math.floor((lo - base) / size)), Math.min(entryCount(f, level), Math.ceil((hi - base) / size))];
}

/** A followable child table, as the descent hands it to the client. */
export interface ChildTable {
  readonly pa: number;
  /** The child's level. */
  readonly level: number;
  /** Linear base of the child's span. */
  readonly linear: number;
  /** Offset of the child's span inside the scanned table's span (index × entry span). */
  readonly offset: number;
  readonly allowed: number;
  readonly inherited: number;
  /** The entry pointing at it. */
  readonly tablePa: number;
  readonly index: number;
  readonly lo: number;
  readonly hi: number;
}

export interface DescentVisitor {
  /** Every leaf, one object each (in VA order). */
  leaf?(l: Leaf): void;
  /**
   * Instead of `leaf`: runs of `count` leaves at consecutive entries of one table with equal
   * rights, flags and memory type; `first` describes the first, `lastPa` is the last one's PA,
   * `paContiguous` whether each PA follows the previous one.
   */
  run?(first: Leaf, count: number, paContiguous: boolean, lastPa: number): void;
  /** Instead of both: the number of leaves of the table, once at its end (when not 0). */
  count?(n: number): void;
  /** A child table the hardware would follow (in RAM, read, not on the descent path). */
  child?(c: ChildTable): void;
  /** Every table pointer (its target and the entry's index), also one not followed because it is on the descent path. */
  ref?(pa: number, index: number): void;
  /** What the hardware would fault on, or what cannot be followed. */
  diagnostic?(d: Diagnostic): void;
}

export interface DescentOptions {
  /** Linear range [start, end): entries outside it are not visited. */
  readonly range?: readonly [number, number];
  readonly signal?: AbortSignal;
  /** Runs break where a page's PA does not follow the previous one. */
  readonly contiguousRuns?: boolean;
  /** Leaves' linear addresses relative to the scanned table's span (a fold's shiftable summary). */
  readonly relative?: boolean;
  /**
   * Loading: a child is offered when it is in RAM, whether or not it was read yet (the next read
   * batch fetches it); read failures are not reported.
   */
  readonly loading?: boolean;
}

/**
 * Scans the loaded tables of one root. `table()` visits one table's entries in the range and
 * calls the visitor; a client goes down by calling `table()` again from its `child` callback
 * (the descent keeps the path of tables, so a table on its own path is reported, not offered).
 */
export class Descent {
  /** Tables on the current descent path, root first. */
  readonly ancestors: number[] = [];
  private readonly f: PagingFormat;
  private steps = 0;
  // The visitor's callbacks and the options, copied into fields of this class: each client passes
  // object literals of its own shape, and V8 threw away the optimised `table` when the next
  // client's shape came (a cold `dump` paid one more compilation of it per shape).
  private readonly onLeaf: DescentVisitor['leaf'];
  private readonly onRun: DescentVisitor['run'];
  private readonly onCount: DescentVisitor['count'];
  private readonly onChild: DescentVisitor['child'];
  private readonly onRef: DescentVisitor['ref'];
  private readonly onDiag: DescentVisitor['diagnostic'];
  private readonly range: readonly [number, number] | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly splitRuns: boolean;
  /**
   * The root-table index where a sign-extended space's upper half starts (x86_64, RISC-V: 256),
   * else -1. Consecutive root entries there are not consecutive VAs, so no run spans it (RISC-V
   * allows leaves in the root table).
   */
  private readonly halfIndex: number;
  private readonly relative: boolean;
  private readonly loading: boolean;

  constructor(readonly root: Root, readonly store: TableStore, v: DescentVisitor, opts: DescentOptions = {}) {
    this.f = root.format;
    this.onLeaf = v.leaf;
    this.onRun = v.run;
    this.onCount = v.count;
    this.onChild = v.child;
    this.onRef = v.ref;
    this.onDiag = v.diagnostic;
    this.range = opts.range;
    this.signal = opts.signal;
    this.splitRuns = opts.contiguousRuns === true;
    const upper = upperHalfStart(root);
    this.halfIndex = upper > 0 && Number.isFinite(upper) ? upper / levelSize(this.f, 0) : -1;
    this.relative = opts.relative === true;
    this.loading = opts.loading === true;
  }

  /** The root table's problem, reported as a diagnostic; true when the root can be scanned. */
  rootOk(): boolean {
    const root = this.root;
    const problem = childProblem(this.store, root.tablePa, tableBytes(this.f, 0));
    if (!problem) return true;
    this.onDiag?.({ ...problem, root, level: 0, index: -1, tablePa: root.tablePa, linear: 0, message: `root ${root.name}: ${problem.message}` });
    return false;
  }

  /** Scans the table at `pa` (level, linear base, rights allowed and flags passed from above). */
  table(pa: number, level: number, base: number, allowed: number, inh: number, path: PathStep | undefined): void {
    const { f, root, store } = this;
    const range = this.range;
    if ((++this.steps & 0xfff) === 0) this.signal?.throwIfAborted();
    const words = store.get(pa);
    if (words === undefined || words instanceof MemoryReadError) return; // only when loading
    const eb = f.entryBytes;
    const n = entryCount(f, level);
    const size = levelSize(f, level);
    const onChild = this.onChild;
    const onRef = this.onRef;
    const onDiag = this.onDiag;
    const lax = f.laxBits;
    const tFlags = f.tableFlags;
    const loading = this.loading;
    const counting = this.onCount !== undefined;
    this.ancestors.push(pa);
    const [first, end] = range ? entrySpan(f, level, base, range[0], range[1]) : [0, n];
    let counted = 0;
    // Entry indices to scan: all of [first, end) on a first visit, else only the present ones.
    const idx = store.presentIfRevisited(pa, words, eb, loading ? 'load' : 'walk') ?? identity(n);
    const kEnd = lowerBound(idx, end);
    for (let k = lowerBound(idx, first); k < kEnd; k++) {
      const i = idx[k];
      const lo = eb === 8 ? words[2 * i] : words[i];
      const hi = eb === 8 ? words[2 * i + 1] : 0;
      if (lo === 0 && hi === 0) continue;
      const kind = entryKind(f, lo, hi, level);
      if (kind === EntryKind.Invalid) continue;
      if (kind === EntryKind.Leaf) {
        // The leaves from here up to the next table or reserved entry.
        k = (counting ? this.countLeaves(words, idx, k, kEnd, pa, level, base) : this.leaves(words, idx, k, kEnd, pa, level, base, allowed, inh, path)) - 1;
        counted += this.leafCount;
        continue;
      }
      if (kind === EntryKind.Reserved) {
        onDiag?.({ kind: 'reserved-bits', root, level, index: i, tablePa: pa as PhysAddr, linear: base + i * size, message: reservedMessage(f, level, i, pa, lo, hi) });
        continue;
      }
      if (lax !== undefined && onDiag !== undefined) this.lax(lax, lo, hi, level, kind, i, pa, base + i * size);
      // Table
      const next = f.tablePa(lo, hi, level);
      const linear = base + i * size;
      const bytes = tableBytes(f, level + 1);
      const problem = loading ? (inRam(store.memory.ram, next, bytes) ? undefined : { kind: 'outside-ram' as const, message: '' }) : childProblem(store, next, bytes);
      if (problem) {
        if (!loading) onDiag?.({ ...problem, root, level, index: i, tablePa: pa as PhysAddr, linear, message: `${f.levels[level].name}[${i}] at ${hex(pa + i * eb)}: ${problem.message}` });
        continue;
      }
      onRef?.(next, i);
      if (this.ancestors.includes(next)) {
        // Reported, not descended: a table on its own descent path would unfold into every
        // path through the loop (512 self-references make 512^4 leaves of one 4 KiB page).
        onDiag?.({ kind: 'recursive', root, level, index: i, tablePa: pa as PhysAddr, linear, message: recursiveMessage(f, level, i, pa, next) });
        continue;
      }
      if (onChild !== undefined) {
        onChild({
          pa: next, level: level + 1, linear, offset: i * size, allowed: allowed & ~f.tableRestricts(lo, hi, level),
          inherited: tFlags === undefined ? inh : inh | tFlags.call(f, lo, hi, level), tablePa: pa, index: i, lo, hi,
        });
      }
    }
    if (counted !== 0) this.onCount!(counted);
    this.ancestors.pop();
  }

  /** Leaves counted by the last `countLeaves` call (0 after `leaves`). */
  private leafCount = 0;

  /** Reports an entry's bits that a real CPU rejects and QEMU TCG accepts. */
  private lax(lax: NonNullable<PagingFormat['laxBits']>, lo: number, hi: number, level: number, kind: EntryKind, i: number, pa: number, linear: number): void {
    const lb = lax.call(this.f, lo, hi, level, kind);
    if (lb) this.onDiag!({ kind: 'qemu-lenient', root: this.root, level, index: i, tablePa: pa as PhysAddr, linear, message: laxMessage(this.f, level, i, pa, BigInt(lb)) });
  }

  /** What `decodeLeaf` found: the leaf's effective rights, flags and memory type. */
  private dPerms = 0;
  private dFlags = 0;
  private dMem = 0;

  /** An entry's kind; for a leaf, its rights, flags and memory type into dPerms, dFlags, dMem (and what QEMU is lenient about reported). */
  private decodeLeaf(lo: number, hi: number, level: number, allowed: number, inh: number, i: number, pa: number, base: number): EntryKind {
    const f = this.f;
    const kind = entryKind(f, lo, hi, level);
    if (kind !== EntryKind.Leaf) return kind;
    if (f.laxBits !== undefined && this.onDiag !== undefined) this.lax(f.laxBits, lo, hi, level, kind, i, pa, base + i * levelSize(f, level));
    this.dPerms = effectivePerms(f, lo, hi, level, allowed);
    this.dFlags = f.leafFlags(lo, hi, level) | inh;
    this.dMem = f.leafMemType(lo, hi, level);
    return kind;
  }

  /** As `leaves`, for a visitor that counts them: their number into `leafCount`. */
  private countLeaves(words: Uint32Array, idx: Uint16Array, k: number, kEnd: number, pa: number, level: number, base: number): number {
    const f = this.f;
    const eb = f.entryBytes;
    const lax = this.onDiag !== undefined ? f.laxBits : undefined;
    // Entries equal to the last leaf's but for their address bits are leaves too.
    const addrLo = f.addressBitsLo ? f.addressBitsLo(level) : 0;
    let cKey = -1;
    let cHi = -1;
    let counted = 0;
    for (; k < kEnd; k++) {
      const i = idx[k];
      const lo = eb === 8 ? words[2 * i] : words[i];
      const hi = eb === 8 ? words[2 * i + 1] : 0;
      if (lo === 0 && hi === 0) continue;
      if (addrLo === 0 || (lo & ~addrLo) !== cKey || hi !== cHi) {
        const kind = entryKind(f, lo, hi, level);
        if (kind === EntryKind.Invalid) continue;
        if (kind !== EntryKind.Leaf) break;
        if (lax !== undefined) this.lax(lax, lo, hi, level, kind, i, pa, base + i * levelSize(f, level));
        if (addrLo !== 0) {
          cKey = lo & ~addrLo;
          cHi = hi;
        }
      }
      counted++;
    }
    this.leafCount = counted;
    return k;
  }

  /**
   * The leaf entries of the table at `pa` from position `k` of `idx` (a leaf) up to the next
   * table or reserved entry, or `kEnd`: handed to the visitor (one object each, or in runs);
   * returns the position where it stopped. Its own small function: it
   * is where a walk spends its time, and V8's optimising compiler takes it alone, early and
   * cheaply, while the rest of the scan (child tables, diagnostics) stays in baseline code. The
   * CLI optimises only functions under 800 bytes of bytecode (src/cli.ts): this one is ~730, so
   * rare work goes into helpers (decodeLeaf runs once per change of attribute bits).
   */
  private leaves(words: Uint32Array, idx: Uint16Array, k: number, kEnd: number, pa: number, level: number, base: number, allowed: number, inh: number, path: PathStep | undefined): number {
    const { f, root } = this;
    const eb = f.entryBytes;
    const size = levelSize(f, level);
    const onLeaf = this.onLeaf;
    const onRun = this.onRun;
    const splitRuns = this.splitRuns;
    const brk = level === 0 ? this.halfIndex : -1;
    const leafBase = this.relative ? 0 : base;
    // Entries of one table usually differ only in their address bits: when the format says
    // which low bits are pure address, decode the rest once per run of equal attribute bits.
    const addrLo = f.addressBitsLo ? f.addressBitsLo(level) : 0;
    let cKey = -1;
    let cHi = -1;
    let cPerms = 0;
    let cFlags = 0;
    let cMem = 0;
    // The pending run. Locals, not fields: a PA above 2^31 in an object slot is boxed per page.
    let run: Leaf | undefined;
    let runCount = 0;
    let runNextI = 0;
    let runLastPa = 0;
    let runContig = true;
    for (; k < kEnd; k++) {
      const i = idx[k];
      const lo = eb === 8 ? words[2 * i] : words[i];
      const hi = eb === 8 ? words[2 * i + 1] : 0;
      if (lo === 0 && hi === 0) continue;
      let perms: number;
      let flags: number;
      let mem: number;
      if (addrLo !== 0 && (lo & ~addrLo) === cKey && hi === cHi) {
        perms = cPerms;
        flags = cFlags;
        mem = cMem;
      } else {
        const kind = this.decodeLeaf(lo, hi, level, allowed, inh, i, pa, base);
        if (kind === EntryKind.Invalid) continue;
        if (kind !== EntryKind.Leaf) break; // leaves and diagnostics in VA order: the run ends first
        perms = this.dPerms;
        flags = this.dFlags;
        mem = this.dMem;
        if (addrLo !== 0) {
          cKey = lo & ~addrLo;
          cHi = hi;
          cPerms = perms;
          cFlags = flags;
          cMem = mem;
        }
      }
      const leafPa = f.leafPa(lo, hi, level, i);
      if (onRun === undefined) {
        // Called directly so V8 can inline it and elide the object.
        if (onLeaf !== undefined) onLeaf({ root, linear: leafBase + i * size, size, pa: leafPa as PhysAddr, level, index: i, tablePa: pa as PhysAddr, lo, hi, perms, flags, memType: mem, path });
        continue;
      }
      if (run !== undefined && i === runNextI && i !== brk && run.perms === perms && run.flags === flags && run.memType === mem && (!splitRuns || leafPa === runLastPa + size)) {
        if (leafPa !== runLastPa + size) runContig = false;
        runLastPa = leafPa;
        runCount++;
        runNextI++;
        continue;
      }
      if (run !== undefined) onRun(run, runCount, runContig, runLastPa);
      run = { root, linear: leafBase + i * size, size, pa: leafPa as PhysAddr, level, index: i, tablePa: pa as PhysAddr, lo, hi, perms, flags, memType: mem, path };
      runCount = 1;
      runNextI = i + 1;
      runLastPa = leafPa;
      runContig = true;
    }
    if (run !== undefined) onRun!(run, runCount, runContig, runLastPa);
    this.leafCount = 0;
    return k;
  }
}

/** Reads and writes entries of a table being modified (the simulator's copy-on-write shadow). */
export interface EntryMemory {
  readEntry(pa: number, bytes: 4 | 8): Promise<bigint>;
  writeEntry(pa: number, bytes: 4 | 8, value: bigint): Promise<void>;
}

/** One entry of a modify-range descent, clipped to the range, read as the walk reads it. */
export interface RangeEntry {
  level: number;
  index: number;
  entryPa: number;
  /** Linear base and size of the entry's whole span. */
  base: number;
  size: number;
  /** The part of its span inside the range: [lo, hi). */
  lo: number;
  hi: number;
  /** The range covers the entry's whole span. */
  full: boolean;
  raw: bigint;
  /** The entry's lo/hi 32-bit words. */
  words: readonly [number, number];
  /** What the entry is and what it grants (decodeEntry, under what the levels above pass down). */
  decoded: DecodedEntry;
  /** Flags the tables above pass down (e.g. RISC-V non-leaf G: everything below is global). */
  inherited: number;
  /** Tables on the descent path, root first (the entry's own table last). */
  path: readonly number[];
}

export interface RangeModifier {
  /**
   * Called for every entry whose span meets the range, in VA order; it may rewrite the entry
   * (through the memory). Returning 'descend' goes down through the entry as it reads after the
   * call (an existing table, a table it just created or a block it just split); anything else
   * goes on with the next entry.
   */
  entry(e: RangeEntry): Promise<'descend' | void>;
  /** The entry to descend through points back to a table on its own path (not descended). */
  recursive?(e: RangeEntry, next: number): void;
}

const splitWords = (raw: bigint): [number, number] => [Number(raw & 0xffffffffn), Number(raw >> 32n)];

/**
 * The modify-range side of the descent (aarch64-paging's `modify_range`): visits the entries of
 * `root` that meet the linear range [lo, hi), lets the client rewrite each, and goes down where
 * it asks, reading every entry through `decodeEntry` and passing rights and flags down the levels
 * as the walk does. Reads go through the memory on every entry, so a client sees its own writes.
 */
export async function modifyRange(root: Root, mem: EntryMemory, lo: number, hi: number, m: RangeModifier): Promise<void> {
  const f = root.format;
  const eb = f.entryBytes;
  const path: number[] = [];
  const table = async (pa: number, level: number, base: number, allowed: number, inherited: number): Promise<void> => {
    path.push(pa);
    try {
      const size = levelSize(f, level);
      const [first, end] = entrySpan(f, level, base, lo, hi);
      for (let i = first; i < end; i++) {
        const eBase = base + i * size;
        const eLo = Math.max(lo, eBase);
        const eHi = Math.min(hi, eBase + size);
        const entryPa = pa + i * eb;
        const read = async (): Promise<RangeEntry> => {
          const raw = await mem.readEntry(entryPa, eb);
          const words = splitWords(raw);
          return {
            level, index: i, entryPa, base: eBase, size, lo: eLo, hi: eHi, full: eLo === eBase && eHi === eBase + size,
            raw, words, decoded: decodeEntry(f, words[0], words[1], level, i, allowed, inherited), inherited, path,
          };
        };
        if ((await m.entry(await read())) !== 'descend') continue;
        const now = await read();
        const d = now.decoded;
        if (d.kind !== EntryKind.Table) continue;
        if (path.includes(d.target!)) {
          m.recursive?.(now, d.target!);
          continue;
        }
        await table(d.target!, level + 1, eBase, d.perms, d.flags);
      }
    } finally {
      path.pop();
    }
  };
  await table(root.tablePa, 0, 0, Perm.All, 0);
}

/** The (index, child table PA) of every table entry of one table, as the descent reads them. */
export function tablePointers(f: PagingFormat, level: number, words: Uint32Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  if (level + 1 >= f.levels.length) return out;
  const eb = f.entryBytes;
  const n = entryCount(f, level);
  for (let i = 0; i < n; i++) {
    const lo = eb === 8 ? words[2 * i] : words[i];
    const hi = eb === 8 ? words[2 * i + 1] : 0;
    if ((lo | hi) === 0) continue;
    if (entryKind(f, lo, hi, level) === EntryKind.Table) out.push([i, f.tablePa(lo, hi, level)]);
  }
  return out;
}

/**
 * One entry of two versions of a table side by side: index, then each side's words, kind and
 * (table entries) next-table PA.
 */
export type PairedEntry = (
  i: number, bl: number, bh: number, bk: EntryKind, bt: number | undefined, al: number, ah: number, ak: EntryKind, at: number | undefined,
) => void;

/**
 * The lockstep side of the descent (a diff of two versions of the tables): visits every index of
 * two versions of one table where either entry is non-zero, both read as the walk reads them; the
 * client goes down a pair by calling this again from the callback.
 */
export function pairedEntries(f: PagingFormat, level: number, before: Uint32Array, after: Uint32Array, visit: PairedEntry): void {
  const eb = f.entryBytes;
  const n = entryCount(f, level);
  for (let i = 0; i < n; i++) {
    const bl = eb === 8 ? before[2 * i] : before[i];
    const bh = eb === 8 ? before[2 * i + 1] : 0;
    const al = eb === 8 ? after[2 * i] : after[i];
    const ah = eb === 8 ? after[2 * i + 1] : 0;
    if ((bl | bh | al | ah) === 0) continue;
    const bk = entryKind(f, bl, bh, level);
    const ak = entryKind(f, al, ah, level);
    visit(i, bl, bh, bk, bk === EntryKind.Table ? f.tablePa(bl, bh, level) : undefined, al, ah, ak, ak === EntryKind.Table ? f.tablePa(al, ah, level) : undefined);
  }
}
