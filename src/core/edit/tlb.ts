// The TLB maintenance a set of entry changes needs, per architecture, as a value the caller must
// consume (like the x86_64 crate's #[must_use] MapperFlush): an edit whose report is neither
// consumed nor ignored makes the simulator refuse to go on.
import { archEdit } from '../arch';
import { PagingFormat } from '../format';
import { Root } from '../space';

export type EntryState = 'invalid' | 'table' | 'leaf';

export interface OldLeaf {
  va: bigint;
  size: number;
  global: boolean;
}

/** One descriptor the edit rewrote. */
export interface EntryChange {
  level: number;
  levelName: string;
  index: number;
  entryPa: number;
  /** VA range the entry covers, end exclusive. */
  va: bigint;
  end: bigint;
  before: bigint;
  after: bigint;
  beforeKind: EntryState;
  afterKind: EntryState;
  /** What the edit did here: map, unmap, protect, split (a block became a table), new-table. */
  why: 'map' | 'unmap' | 'protect' | 'split' | 'new-table';
  /** Translations that went through the old entry: itself if a leaf, every leaf below if a table. */
  oldLeaves: OldLeaf[];
  /** Leaf change whose new rights include the old ones, same frame and attributes otherwise. */
  upgradeOnly: boolean;
  /** AArch64: output address, memory type or descriptor type of a valid entry changed. */
  needsBbm: string | undefined;
  contiguous: boolean;
  /** The new entry is a global leaf. */
  globalAfter: boolean;
  /** In a table this edit created: never seen by a walker, so it needs no maintenance itself. */
  fresh: boolean;
}

export interface TlbOp {
  /** The instruction as written in assembly, with its operand. */
  insn: string;
  /** Why this one (which entry or range it covers). */
  why: string;
}

export interface Hazard {
  kind: 'break-before-make' | 'free-after-flush' | 'contiguous' | 'ineffective' | 'shared-table' | 'napot';
  message: string;
}

export class UnconsumedFlushError extends Error {
  override name = 'UnconsumedFlushError';
}

export class FlushReport {
  private state: 'pending' | 'consumed' | 'ignored' = 'pending';
  private ignoredBecause = '';

  constructor(
    /** The edit this report belongs to, for error messages. */
    readonly edit: string,
    /** In order, on every CPU that may hold this address space's translations. */
    readonly ops: readonly TlbOp[],
    /** Translations that must be invalidated (0: none required). */
    readonly translations: number,
    /** True when the ceiling turned per-address invalidation into a full flush. */
    readonly fullFlush: boolean,
    readonly notes: readonly string[],
    /** The edit's hazards travel with its maintenance: whoever performs the ops sees them. */
    readonly hazards: readonly Hazard[] = [],
  ) {}

  get pending(): boolean {
    return this.state === 'pending';
  }

  /** Takes the operations to perform; marks the report handled. */
  consume(): readonly TlbOp[] {
    this.state = 'consumed';
    return this.ops;
  }

  /** Declares the maintenance unnecessary (e.g. the space is not live on any CPU). */
  ignore(because: string): void {
    this.state = 'ignored';
    this.ignoredBecause = because;
  }

  get disposition(): string {
    return this.state === 'ignored' ? `ignored: ${this.ignoredBecause}` : this.state;
  }
}

export interface TlbPlan {
  ops: TlbOp[];
  translations: number;
  fullFlush: boolean;
  notes: string[];
  hazards: Hazard[];
}

/**
 * What a descriptor change is, by the rule the simulator and the snapshot diff share: a rights-only
 * upgrade (optional maintenance), or a change that the architecture's break-before-make rule
 * covers (Arm ARM D8.16.1: output address, memory type, block/table/size of a valid descriptor),
 * as a reason; `needsBbm` is set only where the root's architecture has that rule.
 */
export function transition(
  root: Root, f: PagingFormat, level: number, bk: EntryState, ak: EntryState,
  bl: number, bh: number, al: number, ah: number, tableRetargeted = false,
): { upgradeOnly: boolean; needsBbm: string | undefined } {
  let upgradeOnly = false;
  let needsBbm: string | undefined;
  if (bk === 'leaf' && ak === 'leaf') {
    const bp = f.leafPerms(bl, bh, level);
    const ap = f.leafPerms(al, ah, level);
    const samePa = f.leafPa(bl, bh, level) === f.leafPa(al, ah, level);
    const sameType = f.leafMemType(bl, bh, level) === f.leafMemType(al, ah, level);
    upgradeOnly = samePa && sameType && (ap & bp) === bp;
    if (!samePa) needsBbm = 'the output address changes';
    else if (!sameType) needsBbm = 'the memory type changes';
  } else if (bk !== 'invalid' && ak !== 'invalid' && bk !== ak) {
    needsBbm = `a ${bk === 'leaf' ? 'block' : bk} descriptor becomes a ${ak === 'leaf' ? 'block' : ak} descriptor`;
  } else if (bk === 'table' && ak === 'table' && tableRetargeted) {
    needsBbm = 'the next-level table address changes';
  }
  return { upgradeOnly, needsBbm: archEdit(root)?.breakBeforeMake ? needsBbm : undefined };
}

export const info = (root: Root, key: string): number | undefined => {
  const v = root.info.find(([k]) => k === key)?.[1];
  return v === undefined ? undefined : Number(v);
};

export const touching = (changes: readonly EntryChange[]) => changes.filter((c) => c.beforeKind !== 'invalid');
export const leavesOf = (changes: readonly EntryChange[]) => changes.flatMap((c) => c.oldLeaves);
/** leavesOf's length and whether one is global, without building the list (a full flush needs no more). */
export function leafCount(changes: readonly EntryChange[]): number {
  let n = 0;
  for (const c of changes) n += c.oldLeaves.length;
  return n;
}
export const anyGlobal = (changes: readonly EntryChange[]) => changes.some((c) => c.oldLeaves.some((l) => l.global));
export const freed = (changes: readonly EntryChange[]): Hazard[] =>
  changes
    .filter((c) => c.beforeKind === 'table' && c.afterKind !== 'table')
    .map((c) => ({
      kind: 'free-after-flush' as const,
      message: `${c.levelName}[${c.index}] no longer points at its table (${c.oldLeaves.length} translations below): free that table only after the invalidation has completed on every CPU (paging-structure/walk caches may still use it), and only if no other entry points at it`,
    }));

/**
 * The number of translations above which the architecture's Linux flushes everything instead of
 * invalidating page by page (`--flush-ceiling` overrides); see each ../arch/<arch>.ts.
 */
export function defaultFlushCeiling(root: Root): number {
  return archEdit(root)?.flushCeiling(root) ?? 33;
}

/** The TLB maintenance for an edit's entry changes, by the root's architecture's policy. */
export function planTlb(root: Root, all: readonly EntryChange[], ceiling: number = defaultFlushCeiling(root)): TlbPlan {
  const changes = all.filter((c) => !c.fresh);
  const a = archEdit(root);
  if (!a) throw new Error(`no TLB policy for ${root.format.arch}`);
  return a.planTlb(root, changes, ceiling, all.some((c) => c.globalAfter));
}
