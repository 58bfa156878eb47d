// Simulated map / unmap / protect on a copy-on-write shadow of guest memory: which descriptors
// change, which tables are created or split, and the exact TLB maintenance each edit needs.
// The guest is never written. One generic table-range edit drives all three operations.
import { hex, sizeLabel } from '../addr';
import { EntryKind, Flag, PagingFormat, Perm, USER_DATA, entryCount, levelSize, tableBytes } from '../format';
import { isUpperHalf } from '../space';
import { PhysicalMemory } from '../memory';
import { PageTableSession } from '../ops/session';
import { RangeRecord, rangeRecord } from '../ops/records';
import { rootFor } from '../ops/translate';
import { AddressSpace, Root } from '../space';
import { Descent, RangeEntry, modifyRange } from '../descent';
import { FoldAlgebra, foldLoaded } from '../graph';
import { TableStore, entryKind, loadTables } from '../walker';
import { archEdit } from '../arch';
import { EditError, EditRights, EntryCodec, LeafSpec, codecFor } from './codecs';
import { EntryChange, EntryState, FlushReport, Hazard, OldLeaf, UnconsumedFlushError, defaultFlushCeiling, planTlb, transition } from './tlb';
import { ShadowMemory } from './shadow';

export interface MapOptions {
  rights: EditRights;
  /** Default: global in the kernel half (or where there are no halves), non-global in the user half. */
  global?: boolean;
  /** A name from the format's memory types (WB, UC, Normal-WB, Device-nGnRE, PMA, IO...). */
  memType?: string;
  /** Largest page size to use; default the largest the alignment allows. */
  maxPageSize?: number;
  root?: string;
}

export interface EditResult {
  /** Human-readable description, e.g. "map 0x1000-0x3000 → 0x200000 rw- u". */
  edit: string;
  root: string;
  changes: EntryChange[];
  /** Tables the simulation allocated (in its 'simulated tables' region). */
  newTables: number[];
  flush: FlushReport;
  hazards: Hazard[];
}

export interface RangeDiff {
  removed: RangeRecord[];
  added: RangeRecord[];
}

type Op =
  | { kind: 'map'; pa: number; lo: number; spec: LeafSpec; memType?: number; maxPage: number }
  | { kind: 'unmap' }
  | { kind: 'protect'; rights: Partial<EditRights> };

/** At most this many old translations are listed per change (beyond any flush ceiling). */
export const OLD_LEAF_CAP = 1 << 16;

interface BelowSummary {
  count: number;
  /** At most OLD_LEAF_CAP + 1, offsets relative to the table's span. */
  leaves: { off: number; size: number; global: boolean }[];
  global: { off: number; size: number; global: boolean } | undefined;
}

/** The translations below a table, from the graph of tables (each shared subtree once). */
const belowAlgebra: FoldAlgebra<BelowSummary> = {
  empty: () => ({ count: 0, leaves: [], global: undefined }),
  run: (s, first, count) => {
    const global = (first.flags & Flag.Global) !== 0;
    for (let k = 0; k < count && s.leaves.length <= OLD_LEAF_CAP; k++) s.leaves.push({ off: first.linear + k * first.size, size: first.size, global });
    if (!s.global && global) s.global = { off: first.linear, size: first.size, global };
    s.count += count;
  },
  append: (to, from, offset) => {
    to.count += from.count;
    for (const l of from.leaves) {
      if (to.leaves.length > OLD_LEAF_CAP) break;
      to.leaves.push({ off: l.off + offset, size: l.size, global: l.global });
    }
    if (!to.global && from.global) to.global = { ...from.global, off: from.global.off + offset };
  },
};

const STATE: Record<EntryKind, EntryState> = { [EntryKind.Invalid]: 'invalid', [EntryKind.Table]: 'table', [EntryKind.Leaf]: 'leaf', [EntryKind.Reserved]: 'invalid' };
const split = (raw: bigint): [number, number] => [Number(raw & 0xffffffffn), Number(raw >> 32n)];

export function rightsLabel(r: Partial<EditRights>): string {
  const b = (v: boolean | undefined, c: string) => (v === undefined ? '.' : v ? c : '-');
  return `r${b(r.write, 'w')}${b(r.exec, 'x')}${r.user === undefined ? '' : r.user ? ' u' : ' s'}`;
}

export class EditSimulator {
  readonly shadow: ShadowMemory;
  readonly results: EditResult[] = [];

  constructor(readonly space: AddressSpace, readonly base: PhysicalMemory, readonly opts: { flushCeiling?: number } = {}) {
    this.shadow = new ShadowMemory(base);
  }

  /** The edited address space: walks, translations and audits see every simulated edit. */
  session(): PageTableSession {
    return new PageTableSession(this.space, this.shadow);
  }

  /** Maps [va, va+length) to [pa, pa+length); refuses to replace an existing mapping. */
  async map(va: bigint, pa: number, length: number, o: MapOptions): Promise<EditResult> {
    const root = this.pick(va, o.root);
    const lo = this.linearRange(root, va, length)[0];
    if (pa % smallest(root.format) !== 0) throw new EditError(`physical address ${hex(pa)} is not aligned to ${sizeLabel(smallest(root.format))}`);
    // Global by default only in the kernel half (docs/cli.md), as Linux maps: a root without
    // halves (32-bit x86) counts as kernel; a sign-extended root is split at its top half.
    const upper = root.half === 'upper' || (root.half === undefined && kernelSide(root, lo));
    let memType: number | undefined;
    if (o.memType !== undefined) {
      memType = root.format.memTypes.findIndex((m) => m.toLowerCase() === o.memType!.toLowerCase());
      if (memType < 0) throw new EditError(`unknown memory type '${o.memType}' for ${root.format.mode} (known: ${[...new Set(root.format.memTypes)].join(', ')})`);
    }
    const spec: LeafSpec = { rights: o.rights, global: o.global ?? (upper && !o.rights.user) };
    const label = `map ${hex(va)}-${hex(va + BigInt(length))} → ${hex(pa)} ${rightsLabel(o.rights)}${spec.global ? ' global' : ''}`;
    return this.run(root, va, length, label, { kind: 'map', pa, lo, spec, memType, maxPage: o.maxPageSize ?? Infinity });
  }

  /** Removes every translation in [va, va+length), splitting blocks that straddle its ends. */
  async unmap(va: bigint, length: number, o: { root?: string } = {}): Promise<EditResult> {
    const root = this.pick(va, o.root);
    return this.run(root, va, length, `unmap ${hex(va)}-${hex(va + BigInt(length))}`, { kind: 'unmap' });
  }

  /** Changes rights of every leaf in [va, va+length), splitting blocks that straddle its ends. */
  async protect(va: bigint, length: number, rights: Partial<EditRights>, o: { root?: string } = {}): Promise<EditResult> {
    const root = this.pick(va, o.root);
    return this.run(root, va, length, `protect ${hex(va)}-${hex(va + BigInt(length))} ${rightsLabel(rights)}`, { kind: 'protect', rights });
  }

  /** Merged ranges before every edit versus after them (all flush reports must be handled). */
  async diff(): Promise<RangeDiff> {
    this.requireHandled('diff');
    const key = (r: RangeRecord) => JSON.stringify(r);
    // Records and their keys cost ~1 KiB a range: bound both sides well below 512 MiB.
    const maxRanges = 1 << 17;
    const before = (await new PageTableSession(this.space, this.base).ranges({ maxRanges })).map(rangeRecord);
    const after = (await this.session().ranges({ maxRanges })).map(rangeRecord);
    const b = new Set(before.map(key));
    const a = new Set(after.map(key));
    return { removed: before.filter((r) => !a.has(key(r))), added: after.filter((r) => !b.has(key(r))) };
  }

  private pick(va: bigint, name?: string): Root {
    this.requireHandled('another edit');
    const root = rootFor(this.space, va, name);
    codecFor(root);
    return root;
  }

  /**
   * Ends a simulation: every edit's flush report must have been consumed or ignored, the last
   * one too (like the x86_64 crate's #[must_use] MapperFlush, checked when the mapper is done).
   */
  finish(): void {
    this.requireHandled('finishing the simulation');
  }

  private requireHandled(what: string): void {
    const open = this.results.find((r) => r.flush.pending);
    if (open) {
      throw new UnconsumedFlushError(`edit '${open.edit}' left its TLB maintenance unhandled: consume() or ignore() its flush report before ${what}`);
    }
  }

  private linearRange(root: Root, va: bigint, length: number): [number, number] {
    const unit = smallest(root.format);
    if (!Number.isSafeInteger(length) || length <= 0) throw new EditError(`length ${length} must be a positive number of bytes`);
    const lo = root.toLinear(va);
    const last = root.toLinear(va + BigInt(length) - 1n);
    if (lo === undefined || last === undefined || last < lo) throw new EditError(`${hex(va)}-${hex(va + BigInt(length))} is not inside ${root.name}'s address range`);
    if (lo % unit !== 0 || length % unit !== 0) throw new EditError(`${hex(va)} and length ${hex(length)} must be multiples of ${sizeLabel(unit)}`);
    return [lo, last + 1];
  }

  private async run(root: Root, va: bigint, length: number, label: string, op: Op): Promise<EditResult> {
    const [lo, hi] = this.linearRange(root, va, length);
    const ctx = new EditContext(root, codecFor(root), this.shadow, op);
    // All or nothing: a refused edit (already mapped, reserved bits...) leaves no partial change.
    this.shadow.begin();
    try {
      await ctx.edit(lo, hi);
      this.shadow.commit();
    } catch (e) {
      this.shadow.rollback();
      throw e;
    }
    const plan = planTlb(root, ctx.changes, this.opts.flushCeiling ?? defaultFlushCeiling(root));
    const hazards = [...plan.hazards, ...(await this.effectiveness(root, va, op))];
    hazards.push(...(await this.sharing(root, ctx.changes)));
    for (const g of ctx.napotRegions) {
      const at = hex(root.toVirt(g));
      hazards.push({
        kind: 'napot',
        message: `${at} is a 64 KiB Svnapot region: rewrite it as a whole: write all 16 PTEs invalid, sfence.vma (every page of the region), then write the new PTEs (Svnapot: a hart may use any of the 16 PTEs for any page of the region)`,
      });
    }
    const result: EditResult = {
      edit: label, root: root.name, changes: ctx.changes, newTables: ctx.newTables,
      flush: new FlushReport(label, plan.ops, plan.translations, plan.fullFlush, plan.notes, hazards), hazards,
    };
    this.results.push(result);
    return result;
  }

  private refs: Promise<Map<number, TableRefs>> | undefined;

  /**
   * Tables the edit changed that other entries (or other roots) also reach: the change applies
   * at every reference. And a new top-level entry in the kernel half: every address space shares
   * that half, but this edit changes one root (Linux copies such entries into every PGD, and
   * KPTI's user PGD, e.g. sync_global_pgds on x86).
   */
  private async sharing(root: Root, changes: readonly EntryChange[]): Promise<Hazard[]> {
    const out: Hazard[] = [];
    const refs = await (this.refs ??= tableReferences(this.space, this.base));
    const seen = new Set<number>();
    for (const c of changes) {
      if (c.fresh) continue;
      const table = c.entryPa - c.index * root.format.entryBytes;
      if (seen.has(table)) continue;
      seen.add(table);
      const r = refs.get(table);
      if (r && r.count > 1) {
        const names = r.some.slice(0, 4).map((x) => x.what).join(', ');
        out.push({
          kind: 'shared-table',
          message: `the ${c.levelName} at ${hex(table)} is reached through ${r.count} entries (${names}${r.count > 4 ? ', …' : ''}): this change applies at every one of them, not only at ${hex(c.va)}`,
        });
      }
    }
    const others = this.space.roots.filter((x) => x !== root && x.stage === root.stage && x.format.arch === root.format.arch && x.half === root.half);
    for (const c of changes) {
      if (c.level !== 0 || c.beforeKind !== 'invalid' || c.afterKind !== 'table' || !kernelSide(root, Number(root.toLinear(c.va) ?? 0)) || root.half === 'upper') continue;
      out.push({
        kind: 'shared-table',
        message: `${c.levelName}[${c.index}] is a new top-level entry in the kernel half of ${root.name} only: every address space shares that half, so copy it into every other root${others.length ? ` (here: ${others.map((x) => x.name).join(', ')})` : ''} and KPTI's user root, as Linux does for kernel-half PGD entries`,
      });
    }
    return out;
  }

  // Rights the edit asked for that an upper level still takes away (e.g. a table entry's R/W=0).
  private async effectiveness(root: Root, va: bigint, op: Op): Promise<Hazard[]> {
    const want = op.kind === 'map' ? op.spec.rights : op.kind === 'protect' ? op.rights : undefined;
    if (!want) return [];
    const t = await this.session().translate(va, { root: root.name });
    if (t.kind !== 'mapped' || !t.rights) return [];
    const user = want.user ?? t.rights.user;
    // The page owner's rights (user pages: the user's; others: the privileged actor's).
    const got: EditRights = { write: t.rights.user ? t.rights.userWrite : t.rights.write, user: t.rights.user, exec: user ? t.rights.userExec : t.rights.exec };
    const lost = (Object.keys(want) as (keyof EditRights)[]).filter((k) => want[k] === true && !got[k]);
    if (!lost.length) return [];
    const why = (t.provenance ?? []).map((p) => `${p.permName}: ${p.because} (${p.levelName}[${p.index}])`).join('; ');
    return [{ kind: 'ineffective', message: `${hex(va)} still lacks ${lost.join(', ')} after the edit${why ? `: ${why}` : ''}` }];
  }
}

function smallest(f: PagingFormat): number {
  return levelSize(f, f.levels.length - 1);
}

interface TableRef {
  /** "cr3" for a root, "cr3 PD[3] @ 0x…" for a table entry. */
  what: string;
}

/** How many roots and table entries reach a table, and the first few of them. */
interface TableRefs {
  count: number;
  some: TableRef[];
}

/**
 * Every table reachable from the roots with what points at it (roots and table entries), from
 * one pass over the distinct (table, level) nodes: bounded however the tables are shared.
 */
async function tableReferences(space: AddressSpace, memory: PhysicalMemory): Promise<Map<number, TableRefs>> {
  const store = new TableStore(memory);
  const refs = new Map<number, TableRefs>();
  const add = (pa: number, r: TableRef) => {
    const l = refs.get(pa);
    if (!l) refs.set(pa, { count: 1, some: [r] });
    else {
      l.count++;
      if (l.some.length < 8) l.some.push(r);
    }
  };
  await loadTables(space.roots, store);
  for (const root of space.roots) {
    const f = root.format;
    add(root.tablePa, { what: root.name });
    // Each (table, level) once, every table pointer in it counted (the one descent reads them).
    const done = new Set<string>();
    let frontier = [{ pa: root.tablePa as number, level: 0 }];
    let next: { pa: number; level: number }[] = [];
    let at = frontier[0];
    const d = new Descent(root, store, {
      ref: (child, i) => add(child, { what: `${root.name} ${f.levels[at.level].name}[${i}] @ ${hex(at.pa + i * f.entryBytes)}` }),
      child: (c) => next.push({ pa: c.pa, level: c.level }),
    }, { loading: true });
    while (frontier.length) {
      next = [];
      for (const t of frontier) {
        const key = `${t.pa}:${t.level}`;
        if (done.has(key) || t.level + 1 >= f.levels.length) continue;
        done.add(key);
        at = t;
        d.table(t.pa, t.level, 0, Perm.All, 0, undefined);
      }
      frontier = next;
    }
  }
  return refs;
}

function kernelSide(root: Root, linear: number): boolean {
  return isUpperHalf(root, linear) || !isUpperHalf(root, 2 ** root.inputBits - 4096);
}

/** One edit's walk over the tables covering [lo, hi). */
class EditContext {
  readonly changes: EntryChange[] = [];
  readonly newTables: number[] = [];
  private readonly f: PagingFormat;
  private readonly eb: 4 | 8;

  constructor(readonly root: Root, readonly codec: EntryCodec, readonly mem: ShadowMemory, readonly op: Op) {
    this.f = root.format;
    this.eb = root.format.entryBytes;
  }

  /** Tables on the current descent, root first (the modify-range descent's path). */
  private path: readonly number[] = [];

  /** Flags the tables above pass down (RISC-V non-leaf G: everything below is global). */
  private inherited = 0;

  /** Edits [lo, hi) of the root: one modify-range descent (descent.ts), this class its client. */
  async edit(lo: number, hi: number): Promise<void> {
    await modifyRange(this.root, this.mem, lo, hi, {
      entry: (e) => {
        this.path = e.path;
        this.inherited = e.inherited;
        return this.editEntry(e, lo, hi);
      },
      recursive: (e, next) => {
        throw new EditError(`${this.where(e)} points back to the table at ${hex(next)} on its own path (a recursive reference): ptview does not edit through it`);
      },
    });
  }

  /**
   * Svnapot (RISC-V): a PTE with N=1 is one of 16 that together map a 64 KiB region; changing
   * some of them leaves the region half-old, half-new (the TLB may hold either for any page of
   * it). An edit must cover the whole region; then each of its PTEs is rewritten (break first).
   */
  private checkNapot(at: { level: number; index: number; entryPa: number }, raw: bigint, eLo: number, eHi: number, size: number, base: number): void {
    const n = archEdit(this.root)?.napotGroup?.(raw, at.level, this.f.levels.length - 1);
    if (!n) return;
    const group = base + (at.index - (at.index % n)) * size;
    if (eLo > group || eHi < group + n * size) {
      throw new EditError(`${this.where(at)} is part of a ${(n * size) / 1024} KiB Svnapot region (${hex(this.root.toVirt(group))}-${hex(this.root.toVirt(group + n * size))}): edit the whole region, or none of it (a partial change leaves the TLB free to use old and new PTEs for any of its pages)`);
    }
    this.napotRegions.add(group);
  }

  /** 64 KiB Svnapot regions this edit rewrites whole (reported as a hazard with its sequence). */
  readonly napotRegions = new Set<number>();

  /** One entry of the range, as the descent read it: rewrite it, and say whether to go down through it. */
  private async editEntry(e: RangeEntry, lo: number, hi: number): Promise<'descend' | void> {
    const f = this.f;
    const { level, size, raw, full, lo: eLo } = e;
    const eBase = e.base;
    const kind = e.decoded.kind;
    if (kind === EntryKind.Reserved) throw new EditError(`${this.where(e)} sets reserved bits (the hardware faults there): fix or unmap it first`);
    if (kind === EntryKind.Leaf) this.checkNapot(e, raw, lo, hi, size, eBase - e.index * size);
    if (this.op.kind === 'map') {
      const op = this.op;
      const pa = op.pa + (eBase - op.lo);
      const leafOk = full && size <= op.maxPage && pa % size === 0 && this.leafAllowed(level);
      if (leafOk) {
        if (kind !== EntryKind.Invalid) throw new EditError(`${hex(this.root.toVirt(eBase))} is already mapped by ${this.where(e)} (${STATE[kind]}): unmap it first`);
        await this.record(e, raw, this.encodeLeaf(pa, level, op.spec, op.memType), 'map', []);
        return;
      }
      if (level === f.levels.length - 1) throw new EditError(`cannot map ${hex(this.root.toVirt(eLo))}: no page size fits`);
      if (kind === EntryKind.Leaf) throw new EditError(`${hex(this.root.toVirt(eLo))} is already mapped by the ${sizeLabel(size)} ${this.where(e)}: unmap it first`);
      if (kind === EntryKind.Invalid) await this.newTable(e, raw);
      return 'descend';
    }
    if (kind === EntryKind.Invalid) return; // nothing mapped here: unmap and protect skip holes
    if (kind === EntryKind.Leaf) {
      const [l, h] = e.words;
      if (!full) {
        await this.splitLeaf(e, raw, l, h);
        return 'descend';
      }
      if (this.op.kind === 'unmap') {
        await this.record(e, raw, 0n, 'unmap', [this.oldLeaf(eBase, size, raw, level)]);
      } else {
        const user = (f.leafPerms(l, h, level) & USER_DATA) !== 0;
        const next = this.checkedRights(this.codec.withRights(raw, level, this.op.rights, user), level, this.op.rights);
        if (next !== raw) await this.record(e, raw, next, 'protect', [this.oldLeaf(eBase, size, raw, level)]);
      }
      return;
    }
    if (this.op.kind === 'unmap' && full) {
      // The translations below, read through the fold with the flags this table entry passes down
      // (those from above included).
      await this.record(e, raw, 0n, 'unmap', await this.leavesBelow(e.decoded.target!, level + 1, eBase, e.decoded.flags));
      return;
    }
    return 'descend';
  }

  private where(at: { level: number; index: number; entryPa: number }): string {
    return `${this.f.levels[at.level].name}[${at.index}] @ ${hex(at.entryPa)}`;
  }

  private leafAllowed(level: number): boolean {
    const [l, h] = split(this.codec.leaf(0, level, { rights: { write: false, exec: false, user: false }, global: false }));
    return entryKind(this.f, l, h, level) === EntryKind.Leaf;
  }

  /** Encodes a leaf and proves it by decoding: kind, PA, no reserved bits, rights, memory type. */
  private encodeLeaf(pa: number, level: number, spec: LeafSpec, memType: number | undefined): bigint {
    const f = this.f;
    let raw = this.codec.leaf(pa, level, spec);
    const variants = this.codec.memTypeVariants(raw, level);
    const wanted = memType ?? f.memTypes.findIndex((m) => /^(WB|Normal-WB|PMA)$/.test(m));
    const fit = variants.find((v) => f.leafMemType(...split(v), level) === wanted);
    if (fit !== undefined) raw = fit;
    else if (memType !== undefined) throw new EditError(`memory type ${f.memTypes[memType]} cannot be encoded here (no PAT/MAIR/PBMT slot holds it)`);
    const [l, h] = split(raw);
    if (entryKind(f, l, h, level) !== EntryKind.Leaf || f.leafPa(l, h, level) !== pa) {
      throw new EditError(`${hex(pa)} cannot be mapped with a ${f.levels[level].name} entry (address beyond the output size?)`);
    }
    return this.checkedRights(raw, level, spec.rights);
  }

  private checkedRights(raw: bigint, level: number, want?: Partial<EditRights>): bigint {
    const f = this.f;
    const [l, h] = split(raw);
    let p = f.leafPerms(l, h, level);
    if (f.finalPerms) p = f.finalPerms(p, l, h, level);
    if (want) {
      const user = (p & USER_DATA) !== 0;
      const got = { write: (p & (user ? Perm.UserWrite : Perm.Write)) !== 0, user, exec: (p & (user ? Perm.UserExec : Perm.Exec)) !== 0 };
      if ((Object.keys(want) as (keyof EditRights)[]).some((k) => want[k] !== undefined && want[k] !== got[k])) {
        throw new EditError(`${rightsLabel(want)} cannot be expressed on this target: the entry decodes as ${rightsLabel(got)} (e.g. no-execute needs EFER.NXE on x86; EL0-writable pages are never EL1-executable on AArch64)`);
      }
    }
    return raw;
  }

  private oldLeaf(base: number, size: number, raw: bigint, level: number): OldLeaf {
    return { va: this.root.toVirt(base), size, global: this.codec.isGlobal(raw, level) || (this.inherited & Flag.Global) !== 0 };
  }

  /**
   * The translations below a table entry, as the walker reads the subtree (recursive references
   * not followed). Shared subtrees can hold astronomically many: each (table, level) is read once
   * and at most OLD_LEAF_CAP leaves are listed (a global one kept when there is one), which is
   * already past any flush ceiling, so the planner flushes everything.
   */
  private async leavesBelow(tablePa: number, level: number, base: number, inherited: number): Promise<OldLeaf[]> {
    // The subtree as it is now (earlier edits included), read through the one descent's fold,
    // the tables above it on the path (a reference back to one is recursive, not descended).
    const store = new TableStore(this.mem);
    await loadTables([this.root], store, { range: [base, base + levelSize(this.f, level - 1)] });
    const s = foldLoaded(this.root, store, belowAlgebra, {}, { pa: tablePa, level, base, allowed: Perm.All, inherited, above: this.path })!;
    // Everything below inherits G from the entries above (and the unmapped entry itself).
    const g = (inherited & Flag.Global) !== 0;
    const leaves = s.leaves.map((l) => ({ va: this.root.toVirt(base + l.off), size: l.size, global: l.global || g }));
    if (s.count > s.leaves.length && s.global && !s.leaves.some((l) => l.global)) leaves.push({ va: this.root.toVirt(base + s.global.off), size: s.global.size, global: true });
    return leaves;
  }

  private async newTable(at: { level: number; index: number; entryPa: number; base: number; size: number }, before: bigint): Promise<number> {
    const pa = this.mem.allocTable(tableBytes(this.f, at.level + 1));
    this.newTables.push(pa);
    const raw = this.codec.table(pa, at.level);
    const [l, h] = split(raw);
    if (entryKind(this.f, l, h, at.level) !== EntryKind.Table || this.f.tablePa(l, h, at.level) !== pa) throw new EditError(`cannot encode a table pointer at ${this.where(at)}`);
    await this.record(at, before, raw, 'new-table', []);
    return pa;
  }

  /** Replaces a block by a table of next-level entries mapping the same frames with the same bits. */
  private async splitLeaf(at: { level: number; index: number; entryPa: number; base: number; size: number }, raw: bigint, l: number, h: number): Promise<number> {
    const f = this.f;
    const child = at.level + 1;
    const pa0 = f.leafPa(l, h, at.level);
    const csize = levelSize(f, child);
    const table = this.mem.allocTable(tableBytes(f, child));
    this.newTables.push(table);
    for (let j = 0; j < entryCount(f, child); j++) {
      const e = this.codec.relevel(raw, at.level, child, pa0 + j * csize);
      const [el, eh] = split(e);
      if (entryKind(f, el, eh, child) !== EntryKind.Leaf) throw new EditError(`cannot split the ${sizeLabel(at.size)} block at ${this.where(at)}: ${f.levels[child].name} cannot hold its pages`);
      await this.mem.writeEntry(table + j * this.eb, this.eb, e);
    }
    const t = this.codec.table(table, at.level);
    await this.record(at, raw, t, 'split', [this.oldLeaf(at.base, at.size, raw, at.level)]);
    return table;
  }

  private async record(at: { level: number; index: number; entryPa: number; base: number; size: number }, before: bigint, after: bigint, why: EntryChange['why'], oldLeaves: OldLeaf[]): Promise<void> {
    const f = this.f;
    // Entries of a table this edit created were never visible to a walker: nothing to invalidate.
    const fresh = this.newTables.includes(at.entryPa - at.index * this.eb);
    if (fresh) oldLeaves = [];
    const [bl, bh] = split(before);
    const [al, ah] = split(after);
    const bk = STATE[entryKind(f, bl, bh, at.level)];
    const ak = STATE[entryKind(f, al, ah, at.level)];
    const t = transition(this.root, f, at.level, bk, ak, bl, bh, al, ah);
    const upgradeOnly = t.upgradeOnly;
    const needsBbm = fresh ? undefined : t.needsBbm;
    if (needsBbm !== undefined) {
      // Arm ARM (DDI 0487) D8.16.1, "Using break-before-make when updating translation table
      // entries": a valid descriptor whose output address, memory type or block/table size
      // changes must first be made invalid, the invalidation completed (DSB, TLBI, DSB), and only
      // then written anew; writing it in place may leave the TLB with conflicting or amalgamated
      // entries. aarch64-paging refuses such an update on a live table (BreakBeforeMakeViolation)
      // rather than warn: so does the simulator. An unmap whose maintenance has been performed is
      // the break; a later map writes the now-invalid entry.
      const va = this.root.toVirt(at.base);
      throw new EditError(
        `${this.where(at)} (${hex(va)}-${hex(va + BigInt(at.size))}): ${needsBbm} while the descriptor is valid, which needs break-before-make ` +
        `(Arm ARM D8.16.1): unmap ${hex(va)} ${sizeLabel(at.size)} first and perform its TLB maintenance, then map the new translation` +
        (why === 'split' ? ' (FEAT_BBM level 2 may allow the block split in place; ptview does not assume it)' : ''),
      );
    }
    this.changes.push({
      level: at.level, levelName: f.levels[at.level].name, index: at.index, entryPa: at.entryPa,
      va: this.root.toVirt(at.base), end: this.root.toVirt(at.base) + BigInt(at.size),
      before, after, beforeKind: bk, afterKind: ak, fresh, why, oldLeaves, upgradeOnly, needsBbm,
      contiguous: !fresh && bk === 'leaf' && this.codec.isContiguous(before),
      globalAfter: ak === 'leaf' && (this.codec.isGlobal(after, at.level) || (this.inherited & Flag.Global) !== 0),
    });
    await this.mem.writeEntry(at.entryPa, this.eb, after);
  }
}
