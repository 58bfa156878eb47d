// What changed in the page tables between two walks of the same guest (two stops, two cores, a
// saved snapshot and a live stop): root switches, leaves added / removed / changed (with the
// changed fields), table entries that were split, folded, retargeted, linked or unlinked, tables
// freed or allocated, and the TLB maintenance each change required, from the same per-architecture
// planner the simulator uses (edit/tlb.ts), so a diff's verdict equals the simulator's plan for the
// same edit.
//
// Cost: the two sets of tables are compared top-down. A table at the same PA with the same bytes
// on both sides is not decoded again: only its table entries are followed (their child lists are
// computed once per table), and a subtree found identical is remembered. Leaves are compared only
// under the entries whose raw bytes differ, as merged runs from the walker (leafRun), never as
// per-page objects. So the cost grows with the tables that changed, not with the address space.
//
// Intel SDM vol. 3 §4.10.4 (when invalidation is required), Arm ARM D8.13-D8.16 (TLB maintenance,
// break-before-make), RISC-V privileged spec §4.2.1 (SFENCE.VMA): see edit/tlb.ts.
import { PhysAddr } from '../addr';
import { EntryKind, Flag, PERM_NAMES, PagingFormat, Perm, entryCount, levelSize } from '../format';
import { MemoryReadError } from '../memory';
import { codecFor, EntryCodec } from '../edit/codecs';
import { EntryChange, EntryState, OldLeaf, TlbPlan, defaultFlushCeiling, planTlb, transition } from '../edit/tlb';
import { Root } from '../space';
import { decodeEntry, entryKind, pairedEntries, tablePointers } from '../descent';
import { Leaf, TableStore, entryAt, loadTables, walkLoaded } from '../walker';
import { PageTableSession } from './session';

/**
 * Leaf fields a change can touch, in the order they are listed: `pa`, `size`, the rights by their
 * names in format.ts (PERM_NAMES: read, write, exec, user, userExec), `memType`, `global`,
 * `accessed`, `dirty`, `contiguous`.
 */
export type LeafField = string;

/** What happened to one table entry above the leaves (or to a leaf descriptor). */
export type EntryWhat =
  | 'map' // invalid -> leaf
  | 'unmap' // leaf -> invalid
  | 'leaf' // leaf -> leaf (fields changed)
  | 'split' // leaf (block) -> table
  | 'fold' // table -> leaf (block)
  | 'link' // invalid -> table
  | 'unlink' // table -> invalid
  | 'retarget' // table -> another table
  | 'table-rights'; // same table, different restrictions for everything below

export interface EntryEvent {
  readonly what: EntryWhat;
  readonly root: Root;
  readonly level: number;
  readonly levelName: string;
  readonly index: number;
  /** PA of the descriptor on the NEW side (the old side's when the tables differ, see beforeEntryPa). */
  readonly entryPa: PhysAddr;
  readonly beforeEntryPa: PhysAddr;
  /** Linear span the entry covers. */
  readonly start: number;
  readonly end: number;
  readonly before: bigint;
  readonly after: bigint;
  /** Old and new next-table PAs (table entries). */
  readonly beforeTable?: PhysAddr;
  readonly afterTable?: PhysAddr;
  /** The planner's view of this descriptor change (undefined under an ancestor that already covers it). */
  readonly planned?: EntryChange;
}

export interface RootState {
  readonly tablePa: PhysAddr;
  readonly info: ReadonlyArray<readonly [string, string]>;
}

/** One run of leaves with equal attributes on one side, clipped to a change. */
export interface SideLeaves {
  /** The first leaf of the change on this side (the whole leaf: a block may start before the change). */
  readonly first: Leaf;
  /** Leaves of this side within the change. */
  readonly count: number;
}

export type DiffChange =
  | {
    kind: 'root';
    root: string;
    before?: RootState;
    after?: RootState;
    fields: string[];
    notes: string[];
  }
  | {
    kind: 'added' | 'removed' | 'changed';
    root: Root;
    start: number;
    end: number;
    before?: SideLeaves;
    after?: SideLeaves;
    fields: LeafField[];
    /** The descriptors whose change made this one. */
    entries: EntryEvent[];
    plan: TlbPlan;
  }
  | { kind: 'entry'; root: Root; event: EntryEvent; plan: TlbPlan }
  | { kind: 'table'; root: Root; what: 'freed' | 'allocated'; pa: PhysAddr; level: number; levelName: string };

export interface RootDiff {
  readonly name: string;
  readonly before?: Root;
  readonly after?: Root;
  /** Every descriptor change the planner sees (fresh ones included), in VA order. */
  readonly entryChanges: EntryChange[];
  /** The maintenance all of this root's changes required together (the simulator's plan for one edit). */
  readonly plan: TlbPlan;
}

export interface TablesDiff {
  readonly changes: DiffChange[];
  readonly roots: RootDiff[];
  /** Tables decoded (entry by entry) and tables skipped because their bytes were equal. */
  readonly stats: { tablesCompared: number; tablesIdentical: number; spansWalked: number };
}

export class DiffError extends Error {
  override name = 'DiffError';
}

export interface DiffOptions {
  /** Translations above which a full flush replaces per-address invalidation (default: the architecture's, as the simulator). */
  flushCeiling?: number;
  signal?: AbortSignal;
}

const STATE: Record<EntryKind, EntryState> = { [EntryKind.Invalid]: 'invalid', [EntryKind.Table]: 'table', [EntryKind.Leaf]: 'leaf', [EntryKind.Reserved]: 'invalid' };
const raw64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
const split64 = (raw: bigint): [number, number] => [Number(raw & 0xffffffffn), Number(raw >> 32n)];

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  // Native memcmp: a 4 KiB table compares in well under a microsecond.
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Entry kind as the one descent decides it (descent.ts: reserved bits and a table at the last level are Reserved). */
const kindOf = entryKind;

interface Run {
  readonly first: Leaf;
  readonly start: number;
  readonly count: number;
  readonly end: number;
}

// The table entries of each table of a store, decoded once per store (a store is one stop and
// its tables never change): the stop diffed as the new side is the old side of the next diff.
const KIDS = new WeakMap<TableStore, Map<string, Array<[number, number]>>>();

/** The two stores of one root pair and what is memoised about them. */
class Side {
  private readonly kids: Map<string, Array<[number, number]>>;
  constructor(readonly store: TableStore, readonly other?: Side) {
    let k = KIDS.get(store);
    if (!k) KIDS.set(store, (k = new Map()));
    this.kids = k;
  }

  words(pa: number): Uint32Array | undefined {
    const w = this.store.get(pa);
    return w instanceof MemoryReadError ? undefined : w;
  }

  /** (index, child PA) of every table entry of a table, decoded once; reused from the other side when the bytes are equal. */
  children(f: PagingFormat, pa: number, level: number): Array<[number, number]> {
    const key = `${f.mode}:${pa}:${level}`;
    let list = this.kids.get(key);
    if (list) return list;
    const w = this.words(pa);
    const ow = this.other?.words(pa);
    const theirs = this.other?.kids.get(key);
    if (w && ow && theirs && sameWords(w, ow)) list = theirs;
    else list = w ? tablePointers(f, level, w) : [];
    this.kids.set(key, list);
    return list;
  }

  /** Every table reachable from a root: PA -> level. */
  reachable(root: Root, into: Map<number, number>): void {
    const f = root.format;
    const seen = new Set<string>();
    const visit = (pa: number, level: number) => {
      const k = `${pa}:${level}`;
      if (seen.has(k)) return;
      seen.add(k);
      if (!into.has(pa)) into.set(pa, level);
      for (const [, child] of this.children(f, pa, level)) visit(child, level + 1);
    };
    visit(root.tablePa, 0);
  }
}

/** Runs of like leaves of a root within [start, end), PA-contiguous (a scattered run is cut per leaf). */
function runsOf(root: Root, store: TableStore, start: number, end: number): Run[] {
  const out: Run[] = [];
  walkLoaded(root, store, {
    leafRun(first, count, contig) {
      if (contig || count === 1) {
        out.push({ first, start: first.linear, count, end: first.linear + count * first.size });
        return;
      }
      walkLoaded(root, store, { leaf: (l) => void out.push({ first: l, start: l.linear, count: 1, end: l.linear + l.size }) }, { range: [first.linear, first.linear + count * first.size] });
    },
  }, { range: [start, end] });
  // The walker reports leaves overlapping the range whole; the spans here are entry-aligned.
  return out;
}

function leafAt(run: Run, store: TableStore, x: number): Leaf {
  const l = run.first;
  const k = Math.floor((x - run.start) / l.size);
  if (k === 0) return l;
  const f = l.root.format;
  const w = store.get(l.tablePa) as Uint32Array;
  const [lo, hi] = entryAt(w, f.entryBytes, l.index + k);
  return { ...l, linear: l.linear + k * l.size, index: l.index + k, lo, hi, pa: f.leafPa(lo, hi, l.level) as PhysAddr };
}

const paAt = (r: Run, x: number): number => r.first.pa + (x - r.start);

const FLAGS: Array<[Flag, LeafField]> = [[Flag.Global, 'global'], [Flag.Accessed, 'accessed'], [Flag.Dirty, 'dirty'], [Flag.Contiguous, 'contiguous']];

function fieldsOf(b: Run, a: Run, x: number): LeafField[] {
  const out: LeafField[] = [];
  const bl = b.first;
  const al = a.first;
  if (paAt(b, x) !== paAt(a, x)) out.push('pa');
  if (bl.size !== al.size) out.push('size');
  for (const [p, n] of PERM_NAMES) if ((bl.perms & p) !== (al.perms & p)) out.push(n);
  if (bl.memType !== al.memType) out.push('memType');
  for (const [fl, n] of FLAGS) if ((bl.flags & fl) !== (al.flags & fl)) out.push(n);
  return out;
}

// What a table entry passes to everything below it besides its pointer, as the descent reads it
// (descent.ts): the rights it leaves and, on formats that define them, inherited leaf flags (a
// RISC-V G bit in a non-leaf PTE makes every leaf below global).
function passedDown(f: PagingFormat, lo: number, hi: number, level: number): string {
  const e = decodeEntry(f, lo, hi, level, 0, Perm.All, 0);
  return `${e.perms}:${e.flags}`;
}

const sameAttrs = (p: Run, q: Run) =>
  p.first.size === q.first.size && p.first.perms === q.first.perms && p.first.flags === q.first.flags && p.first.memType === q.first.memType;

interface Piece { start: number; end: number; b?: Run; a?: Run; fields: LeafField[] }

/** Cuts [start, end) at every run boundary of either side; keeps the pieces that differ. */
function sweep(bRuns: Run[], aRuns: Run[], start: number, end: number): Piece[] {
  const cuts = new Set<number>([start, end]);
  for (const r of bRuns) (cuts.add(Math.max(start, r.start)), cuts.add(Math.min(end, r.end)));
  for (const r of aRuns) (cuts.add(Math.max(start, r.start)), cuts.add(Math.min(end, r.end)));
  const xs = [...cuts].sort((p, q) => p - q);
  const out: Piece[] = [];
  let bi = 0;
  let ai = 0;
  for (let k = 0; k + 1 < xs.length; k++) {
    const x = xs[k];
    const y = xs[k + 1];
    while (bi < bRuns.length && bRuns[bi].end <= x) bi++;
    while (ai < aRuns.length && aRuns[ai].end <= x) ai++;
    const b = bi < bRuns.length && bRuns[bi].start <= x ? bRuns[bi] : undefined;
    const a = ai < aRuns.length && aRuns[ai].start <= x ? aRuns[ai] : undefined;
    if (!b && !a) continue;
    const fields = b && a ? fieldsOf(b, a, x) : [];
    if (b && a && fields.length === 0) continue;
    out.push({ start: x, end: y, b, a, fields });
  }
  return out;
}

/** Adjacent pieces that read as one change: same kind, same fields, each side continuing like itself. */
function mergeable(p: Piece, q: Piece): boolean {
  if (p.end !== q.start || !p.b !== !q.b || !p.a !== !q.a) return false;
  if (p.fields.join() !== q.fields.join()) return false;
  const cont = (r: Run | undefined, s: Run | undefined) => !r || !s || (sameAttrs(r, s) && paAt(s, q.start) === paAt(r, p.start) + (p.end - p.start));
  return cont(p.b, q.b) && cont(p.a, q.a);
}

/** One root pair's descent. */
class RootDiffer {
  readonly events: EntryEvent[] = [];
  /** Linear spans whose leaves must be compared, with the events that made them. */
  readonly spans: Array<[number, number]> = [];
  readonly entryChanges: EntryChange[] = [];
  readonly identical = new Set<string>();
  tablesCompared = 0;
  tablesIdentical = 0;
  private readonly codec: EntryCodec | undefined;
  private readonly f: PagingFormat;

  constructor(
    readonly before: Root,
    readonly after: Root,
    readonly bs: Side,
    readonly as: Side,
    readonly beforeTables: ReadonlyMap<number, number>,
  ) {
    this.f = after.format;
    try {
      this.codec = codecFor(after);
    } catch {
      this.codec = undefined; // formats the simulator cannot edit: global from the decoded flags
    }
  }

  private isGlobal(raw: bigint, level: number): boolean {
    if (this.codec) return this.codec.isGlobal(raw, level);
    const [lo, hi] = split64(raw);
    return (this.f.leafFlags(lo, hi, level) & Flag.Global) !== 0;
  }

  private oldLeaves(start: number, end: number): OldLeaf[] {
    const out: OldLeaf[] = [];
    for (const r of runsOf(this.before, this.bs.store, start, end)) {
      const g = this.isGlobal(raw64(r.first.lo, r.first.hi), r.first.level);
      for (let k = 0; k < r.count; k++) out.push({ va: this.before.toVirt(r.start + k * r.first.size), size: r.first.size, global: g });
    }
    return out;
  }

  /** Compares the before table bPa with the after table aPa at `level`, covering linear `base`. */
  compare(bPa: number, aPa: number, level: number, base: number, covered: boolean): void {
    const f = this.f;
    const size = levelSize(f, level);
    const bw = this.bs.words(bPa);
    const aw = this.as.words(aPa);
    if (!bw || !aw) {
      // Unreadable on one side: compare the leaves (the walker reports the diagnostic).
      if (bw !== aw) this.spans.push([base, base + size * entryCount(f, level)]);
      return;
    }
    if (bPa === aPa && sameWords(bw, aw)) {
      const key = `${bPa}:${level}`;
      if (this.identical.has(key)) return;
      this.tablesIdentical++;
      const mark = this.spans.length + this.events.length;
      for (const [i, child] of this.bs.children(f, bPa, level)) this.compare(child, child, level + 1, base + i * size, covered);
      if (this.spans.length + this.events.length === mark) this.identical.add(key);
      return;
    }
    this.tablesCompared++;
    // The descent's lockstep scan reads both versions of each entry; this decides where to go down.
    pairedEntries(f, level, bw, aw, (i, bl, bh, bk, bt, al, ah, ak, at) => {
      const start = base + i * size;
      const end = start + size;
      if (bl === al && bh === ah) {
        if (bk === EntryKind.Table) this.compare(bt!, at!, level + 1, start, covered);
        return;
      }
      const bs = STATE[bk];
      const as = STATE[ak];
      if (bs === 'invalid' && as === 'invalid') return;
      if (bs === 'table' && as === 'table') {
        const sameRights = passedDown(f, bl, bh, level) === passedDown(f, al, ah, level);
        if (bt === at && sameRights) {
          // Only bits the leaves do not depend on changed (A set by the walker, ignored bits).
          this.compare(bt!, at!, level + 1, start, covered);
          return;
        }
        this.event(bt === at ? 'table-rights' : 'retarget', level, i, bPa, aPa, start, end, bl, bh, al, ah, covered, bt, at);
        if (sameRights) this.compare(bt!, at!, level + 1, start, true);
        else this.spans.push([start, end]);
        return;
      }
      const what: EntryWhat =
        bs === 'invalid' ? (as === 'leaf' ? 'map' : 'link')
        : as === 'invalid' ? (bs === 'leaf' ? 'unmap' : 'unlink')
        : bs === 'leaf' ? (as === 'leaf' ? 'leaf' : 'split')
        : 'fold';
      this.event(what, level, i, bPa, aPa, start, end, bl, bh, al, ah, covered, bt, at);
      this.spans.push([start, end]);
    });
  }

  // The planner's record of one descriptor change: the same rule as the simulator's EditContext.record.
  private event(
    what: EntryWhat, level: number, index: number, bPa: number, aPa: number, start: number, end: number,
    bl: number, bh: number, al: number, ah: number, covered: boolean, beforeTable?: number, afterTable?: number,
  ): EntryEvent {
    const f = this.f;
    const before = raw64(bl, bh);
    const after = raw64(al, ah);
    let planned: EntryChange | undefined;
    if (!covered) {
      const bk = STATE[kindOf(f, bl, bh, level)];
      const ak = STATE[kindOf(f, al, ah, level)];
      // Break-before-make is the architecture's rule (Arm ARM D8.16.1), as the simulator asks it.
      const { upgradeOnly, needsBbm } = transition(this.after, f, level, bk, ak, bl, bh, al, ah, what === 'retarget');
      const oldLeaves = bk === 'leaf' ? [{ va: this.before.toVirt(start), size: end - start, global: this.isGlobal(before, level) }]
        : bk === 'table' ? this.oldLeaves(start, end) : [];
      const why: EntryChange['why'] = ak === 'invalid' ? 'unmap' : bk === 'invalid' ? (ak === 'leaf' ? 'map' : 'new-table') : bk === 'leaf' && ak === 'table' ? 'split' : ak === 'table' ? 'new-table' : 'protect';
      planned = {
        level, levelName: f.levels[level].name, index, entryPa: aPa + index * f.entryBytes,
        va: this.after.toVirt(start), end: this.after.toVirt(start) + BigInt(end - start),
        before, after, beforeKind: bk, afterKind: ak, fresh: false, why, oldLeaves, upgradeOnly, needsBbm,
        contiguous: bk === 'leaf' && this.codec !== undefined && this.codec.isContiguous(before),
        globalAfter: ak === 'leaf' && this.isGlobal(after, level),
      };
      this.entryChanges.push(planned);
      // Entries of a table the new side allocated were never visible to a walker: the planner
      // only needs whether they map global pages (RISC-V: an ASID fence misses those).
      if (afterTable !== undefined && !this.beforeTables.has(afterTable)) {
        for (const r of runsOf(this.after, this.as.store, start, end)) {
          const g = this.isGlobal(raw64(r.first.lo, r.first.hi), r.first.level);
          this.entryChanges.push({
            level: r.first.level, levelName: f.levels[r.first.level].name, index: r.first.index, entryPa: r.first.tablePa + r.first.index * f.entryBytes,
            va: this.after.toVirt(r.start), end: this.after.toVirt(r.end), before: 0n, after: raw64(r.first.lo, r.first.hi),
            beforeKind: 'invalid', afterKind: 'leaf', fresh: true, why: 'map', oldLeaves: [], upgradeOnly: false, needsBbm: undefined,
            contiguous: false, globalAfter: g,
          });
        }
      }
    }
    const ev: EntryEvent = {
      what, root: this.after, level, levelName: f.levels[level].name, index,
      entryPa: (aPa + index * f.entryBytes) as PhysAddr, beforeEntryPa: (bPa + index * f.entryBytes) as PhysAddr,
      start, end, before, after, beforeTable: beforeTable as PhysAddr | undefined, afterTable: afterTable as PhysAddr | undefined, planned,
    };
    this.events.push(ev);
    return ev;
  }
}

/**
 * Diffs two walks of the same guest. Roots are matched by name; a root's table address or its
 * PCID / ASID changing is itself a change. Both sessions' tables are loaded here.
 */
export async function diffSessions(before: PageTableSession, after: PageTableSession, opts: DiffOptions = {}): Promise<TablesDiff> {
  if (before.space.arch !== after.space.arch) throw new DiffError(`the two sides are different architectures (${before.space.arch} and ${after.space.arch})`);
  await loadTables(before.space.roots, before.store, { signal: opts.signal });
  await loadTables(after.space.roots, after.store, { signal: opts.signal });
  // Linux's threshold per architecture (x86 33, arm64 PTRS_PER_PTE-1, RISC-V 64), as the simulator.
  const ceiling = (root: Root) => opts.flushCeiling ?? defaultFlushCeiling(root);
  const bSide = new Side(before.store);
  const aSide = new Side(after.store, bSide);
  const beforeTables = new Map<number, number>();
  const afterTables = new Map<number, number>();
  for (const r of before.space.roots) bSide.reachable(r, beforeTables);
  for (const r of after.space.roots) aSide.reachable(r, afterTables);

  const changes: DiffChange[] = [];
  const roots: RootDiff[] = [];
  const stats = { tablesCompared: 0, tablesIdentical: 0, spansWalked: 0 };
  const names = [...new Set([...before.space.roots.map((r) => r.name), ...after.space.roots.map((r) => r.name)])];
  for (const name of names) {
    opts.signal?.throwIfAborted();
    const b = before.space.roots.find((r) => r.name === name);
    const a = after.space.roots.find((r) => r.name === name);
    const state = (r: Root): RootState => ({ tablePa: r.tablePa, info: r.info });
    const fields: string[] = [];
    if (!b || !a || b.tablePa !== a.tablePa) fields.push('tablePa');
    if (b && a) {
      const keys = new Set([...b.info.map(([k]) => k), ...a.info.map(([k]) => k)]);
      for (const k of keys) if (b.info.find(([x]) => x === k)?.[1] !== a.info.find(([x]) => x === k)?.[1]) fields.push(k);
      if (b.format.mode !== a.format.mode) fields.push('mode');
    }
    if (fields.length) {
      changes.push({
        kind: 'root', root: name, before: b && state(b), after: a && state(a), fields,
        notes: !b ? ['a root the old side did not have'] : !a ? ['the new side has no such root'] : [
          'a root load invalidates at most the untagged or new-tag non-global translations (x86 SDM 4.10.4.1: MOV to CR3 flushes the new PCID\'s entries unless bit 63 is set, all non-global ones when CR4.PCIDE=0); translations tagged with the old PCID / ASID and global ones stay cached, so changes below still need their own maintenance before the old tag is reused. The leaf changes below compare the old root\'s tree with the new one\'s',
        ],
      });
    }
    const rootChanges: EntryChange[] = [];
    const leafChanges: DiffChange[] = [];
    let differ: RootDiffer | undefined;
    let spans: Array<[number, number]>;
    if (b && a && b.format.mode === a.format.mode && b.inputBits === a.inputBits) {
      differ = new RootDiffer(b, a, bSide, aSide, beforeTables);
      differ.compare(b.tablePa, a.tablePa, 0, 0, false);
      stats.tablesCompared += differ.tablesCompared;
      stats.tablesIdentical += differ.tablesIdentical;
      rootChanges.push(...differ.entryChanges);
      spans = differ.spans;
    } else {
      const r = (a ?? b)!;
      spans = [[0, 2 ** r.inputBits]];
    }
    // Leaves under the entries that differ, as runs, compared piece by piece.
    const pieces: Piece[] = [];
    for (const [s, e] of spans.sort((p, q) => p[0] - q[0])) {
      stats.spansWalked++;
      const bRuns = b ? runsOf(b, before.store, s, e) : [];
      const aRuns = a ? runsOf(a, after.store, s, e) : [];
      pieces.push(...sweep(bRuns, aRuns, s, e));
    }
    const merged: Piece[] = [];
    for (const p of pieces) {
      const last = merged[merged.length - 1];
      if (last && mergeable(last, p)) merged[merged.length - 1] = { ...last, end: p.end };
      else merged.push(p);
    }
    const planRoot = (b ?? a)!;
    const events = differ?.events ?? [];
    const fresh = rootChanges.filter((c) => c.fresh);
    for (const p of merged) {
      const entries = events.filter((ev) => ev.start < p.end && ev.end > p.start);
      const planned = entries.flatMap((ev) => (ev.planned ? [ev.planned] : []));
      // Covered by an ancestor's change (a retargeted table): that ancestor's plan applies.
      for (const ev of events) if (ev.planned && ev.start <= p.start && ev.end >= p.end && !planned.includes(ev.planned)) planned.push(ev.planned);
      const plan = planTlb(planRoot, withFresh(planned, fresh), ceiling(planRoot));
      // The CPU sets A/D as it walks: say so rather than let "gained rights" stand alone.
      if (p.fields.length && p.fields.every((f) => f === 'accessed' || f === 'dirty')) {
        plan.notes.unshift('only the accessed/dirty bits differ (the CPU sets them as it uses the page; software clears them): the translation itself did not change');
      }
      const count = (r: Run | undefined) => (r ? Math.max(1, Math.ceil((Math.min(r.end, p.end) - Math.max(r.start, p.start)) / r.first.size)) : 0);
      leafChanges.push({
        kind: p.b && p.a ? 'changed' : p.a ? 'added' : 'removed', root: (a ?? b)!, start: p.start, end: p.end,
        before: p.b && { first: leafAt(p.b, before.store, Math.floor(p.start / p.b.first.size) * p.b.first.size), count: count(p.b) },
        after: p.a && { first: leafAt(p.a, after.store, Math.floor(p.start / p.a.first.size) * p.a.first.size), count: count(p.a) },
        fields: p.fields, entries, plan,
      });
    }
    changes.push(...leafChanges);
    for (const ev of events) {
      if (ev.what === 'map' || ev.what === 'unmap' || ev.what === 'leaf') continue; // leaf descriptors: the leaf change says it
      changes.push({ kind: 'entry', root: (a ?? b)!, event: ev, plan: planTlb(planRoot, withFresh(ev.planned ? [ev.planned] : [], fresh), ceiling(planRoot)) });
    }
    roots.push({ name, before: b, after: a, entryChanges: rootChanges, plan: planTlb(planRoot, rootChanges, ceiling(planRoot)) });
  }
  for (const [pa, level] of beforeTables) {
    if (afterTables.has(pa)) continue;
    const r = before.space.roots[0];
    changes.push({ kind: 'table', root: r, what: 'freed', pa: pa as PhysAddr, level, levelName: r.format.levels[level]?.name ?? `L${level}` });
  }
  for (const [pa, level] of afterTables) {
    if (beforeTables.has(pa)) continue;
    const r = after.space.roots[0];
    changes.push({ kind: 'table', root: r, what: 'allocated', pa: pa as PhysAddr, level, levelName: r.format.levels[level]?.name ?? `L${level}` });
  }
  return { changes, roots, stats };
}

// A change's own descriptors, plus the fresh entries of the root within them (they only tell the
// RISC-V planner whether a new global page appeared, exactly as the simulator passes them).
// `fresh` is the root's fresh entries alone: scanning all of its changes for each change was
// quadratic (118 ms of one stop's diff on a real kernel).
function withFresh(own: EntryChange[], fresh: readonly EntryChange[]): EntryChange[] {
  if (fresh.length === 0) return own;
  return [...own, ...fresh.filter((c) => own.some((o) => c.va >= o.va && c.end <= o.end))];
}
