// The TLB maintenance a set of entry changes needs, per architecture, as a value the caller must
// consume (like the x86_64 crate's #[must_use] MapperFlush): an edit whose report is neither
// consumed nor ignored makes the simulator refuse to go on.
import { hex, sizeLabel } from '../addr';
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

const info = (root: Root, key: string): number | undefined => {
  const v = root.info.find(([k]) => k === key)?.[1];
  return v === undefined ? undefined : Number(v);
};

const touching = (changes: readonly EntryChange[]) => changes.filter((c) => c.beforeKind !== 'invalid');
const leavesOf = (changes: readonly EntryChange[]) => changes.flatMap((c) => c.oldLeaves);
const freed = (changes: readonly EntryChange[]): Hazard[] =>
  changes
    .filter((c) => c.beforeKind === 'table' && c.afterKind !== 'table')
    .map((c) => ({
      kind: 'free-after-flush' as const,
      message: `${c.levelName}[${c.index}] no longer points at its table (${c.oldLeaves.length} translations below): free that table only after the invalidation has completed on every CPU (paging-structure/walk caches may still use it), and only if no other entry points at it`,
    }));

/** Intel SDM vol. 3 §4.10.4: INVLPG per page (also drops paging-structure caches), or a full flush. */
function x86Plan(root: Root, changes: readonly EntryChange[], ceiling: number): TlbPlan {
  const notes: string[] = [];
  const hazards = freed(changes);
  const live = touching(changes);
  const optional = live.filter((c) => c.upgradeOnly);
  if (optional.length) notes.push(`${optional.length} entries only gained rights: no invalidation is required (a stale entry causes at most one spurious page fault, which re-walks; Linux's flush_tlb_fix_spurious_fault)`);
  const leaves = leavesOf(live.filter((c) => !c.upgradeOnly));
  if (changes.some((c) => c.beforeKind === 'invalid' && c.afterKind !== 'invalid')) notes.push('entries that were not present need no invalidation: x86 never caches a not-present translation');
  const pcid = info(root, 'PCID');
  if (leaves.length === 0) return { ops: [], translations: 0, fullFlush: false, notes, hazards };
  if (pcid !== undefined) notes.push(`INVLPG acts on PCID ${pcid} (and global entries) only: other PCIDs using these tables (e.g. KPTI's user PCID) need INVPCID type 0 per address or a flush of that PCID`);
  if (changes.some((c) => c.beforeKind === 'table')) notes.push('a table entry changed: every INVLPG also drops the paging-structure caches of the current PCID (SDM 4.10.4.1)');
  notes.push('run on every CPU that may use this address space (IPI shootdown), after the entry writes');
  if (leaves.length > ceiling) {
    const global = leaves.some((l) => l.global);
    const op = global
      ? { insn: 'invpcid type 2 (or toggle CR4.PGE)', why: `${leaves.length} translations > ceiling ${ceiling}, some global: a CR3 reload would keep global entries` }
      : { insn: 'mov cr3, cr3', why: `${leaves.length} translations > ceiling ${ceiling} (Linux x86 tlb_single_page_flush_ceiling): reload CR3 to flush all non-global entries` };
    return { ops: [op], translations: leaves.length, fullFlush: true, notes, hazards };
  }
  const ops = leaves.map((l) => ({ insn: `invlpg [${hex(l.va)}]`, why: `${sizeLabel(l.size)} page${l.global ? ' (global)' : ''}` }));
  return { ops, translations: leaves.length, fullFlush: false, notes, hazards };
}

/** Arm ARM D8.13-D8.16: TLBI per descriptor (last-level when only a leaf changed), DSB, ISB; BBM. */
function aarch64Plan(root: Root, changes: readonly EntryChange[], ceiling: number): TlbPlan {
  const notes: string[] = [];
  const hazards = freed(changes);
  const el = /el2/i.test(root.name) ? 'e2' : 'e1';
  const asid = el === 'e1' ? info(root, 'ASID') : undefined;
  for (const c of changes) {
    if (c.needsBbm) {
      hazards.push({
        kind: 'break-before-make',
        message: `${c.levelName}[${c.index}] at ${hex(c.va)}: ${c.needsBbm} while valid: write an invalid descriptor, DSB ISH, TLBI, DSB ISH, then the new descriptor (break-before-make${c.why === 'split' ? '; FEAT_BBM level 2 may allow the block split in place' : ''})`,
      });
    }
    if (c.contiguous) hazards.push({ kind: 'contiguous', message: `${c.levelName}[${c.index}] at ${hex(c.va)} is part of a contiguous-hint run: change every entry of the run the same way, or clear the hint on all of them first (break-before-make), or the TLB may hold conflicting entries` });
  }
  const live = touching(changes);
  const ops: TlbOp[] = [];
  if (changes.some((c) => c.beforeKind === 'invalid' && c.afterKind !== 'invalid') && live.length === 0) {
    notes.push('only invalid entries became valid: no TLBI is needed (invalid descriptors are not cached), but DSB ISHST before use and ISB make the new translations visible');
    return { ops: [{ insn: 'dsb ishst', why: 'complete the descriptor writes' }, { insn: 'isb', why: 'synchronise this CPU' }], translations: 0, fullFlush: false, notes, hazards };
  }
  const leaves = leavesOf(live);
  if (leaves.length === 0) return { ops, translations: 0, fullFlush: false, notes, hazards };
  ops.push({ insn: 'dsb ishst', why: 'make the descriptor writes visible to the table walkers before invalidating' });
  if (leaves.length > ceiling) {
    const global = leaves.some((l) => l.global);
    const insn = el === 'e2' ? 'tlbi alle2is' : !global && asid !== undefined ? `tlbi aside1is, ${hex(BigInt(asid) << 48n)}` : 'tlbi vmalle1is';
    ops.push({ insn, why: `${leaves.length} translations > ceiling ${ceiling}` });
  } else {
    for (const c of live) {
      // Only a leaf changed: last-level TLBI; a table entry: the walk caches hold it too.
      const lastLevel = c.beforeKind === 'leaf';
      for (const l of c.oldLeaves) {
        const page = BigInt.asUintN(44, l.va >> 12n);
        const byAsid = el === 'e1' && !l.global && asid !== undefined;
        const name = `tlbi ${lastLevel ? 'va' + (byAsid || el === 'e2' ? 'l' : 'al') : 'va' + (byAsid || el === 'e2' ? '' : 'a')}${el}is`;
        ops.push({ insn: `${name}, ${hex(byAsid ? (BigInt(asid!) << 48n) | page : page)}`, why: `${hex(l.va)} (${sizeLabel(l.size)} ${c.oldLeaves.length === 1 && lastLevel ? 'descriptor' : 'translation below a table'}${l.global ? ', global' : ''})` });
      }
    }
  }
  ops.push({ insn: 'dsb ish', why: 'wait for the invalidation on every CPU in the inner-shareable domain' });
  ops.push({ insn: 'isb', why: 'resynchronise this CPU\'s instruction stream' });
  notes.push('one TLBI per descriptor (a block needs one, not one per page); broadcast (IS) TLBIs reach every CPU, no IPI needed');
  return { ops, translations: leaves.length, fullFlush: leaves.length > ceiling, notes, hazards };
}

/** RISC-V privileged spec §4.2.1: SFENCE.VMA after every PTE change, rs1=x0 when a non-leaf changed. */
function riscvPlan(root: Root, changes: readonly EntryChange[], ceiling: number, newGlobal: boolean): TlbPlan {
  const notes: string[] = [];
  const hazards = freed(changes);
  const asid = info(root, 'ASID');
  const changed = changes.filter((c) => c.before !== c.after);
  if (changed.length === 0) return { ops: [], translations: 0, fullFlush: false, notes, hazards };
  const nonLeaf = changed.some((c) => c.beforeKind === 'table' || c.afterKind === 'table');
  // New leaves count too: a hart may have cached the invalid PTE (unless Svvptc).
  const vas: OldLeaf[] = changed.flatMap((c) => (c.oldLeaves.length ? c.oldLeaves : c.afterKind === 'leaf' ? [{ va: c.va, size: Number(c.end - c.va), global: false }] : []));
  const anyGlobal = newGlobal || vas.some((l) => l.global);
  const rs2 = anyGlobal || asid === undefined ? 'zero' : `${asid}`;
  if (changes.some((c) => c.beforeKind === 'invalid')) notes.push('invalid→valid changes also need the fence (a hart may cache invalid PTEs) unless the hart implements Svvptc');
  if (anyGlobal) notes.push('global mappings: rs2 must be zero (an ASID-specific fence does not affect global mappings)');
  notes.push('SFENCE.VMA is local: other harts need a remote fence (SBI rfence / IPI)');
  if (nonLeaf || vas.length > ceiling) {
    return {
      ops: [{ insn: `sfence.vma zero, ${rs2}`, why: nonLeaf ? 'a non-leaf PTE changed: only rs1=zero orders every level of the tables' : `${vas.length} pages > ceiling ${ceiling}` }],
      translations: vas.length, fullFlush: true, notes, hazards,
    };
  }
  return { ops: vas.map((l) => ({ insn: `sfence.vma ${hex(l.va)}, ${l.global ? 'zero' : rs2}`, why: `${sizeLabel(l.size)} page` })), translations: vas.length, fullFlush: false, notes, hazards };
}

/**
 * The number of translations above which each architecture's Linux flushes everything instead
 * of invalidating page by page (`--flush-ceiling` overrides):
 * - x86: tlb_single_page_flush_ceiling = 33 (arch/x86/mm/tlb.c; full flush when more);
 * - arm64: MAX_DVM_OPS = PTRS_PER_PTE (arch/arm64/include/asm/tlbflush.h, __flush_tlb_range:
 *   flush_tlb_mm from MAX_DVM_OPS pages on, so the per-page ceiling is PTRS_PER_PTE - 1);
 *   PTRS_PER_PTE is 512, 2048 or 8192 for the 4K, 16K, 64K granule;
 * - RISC-V: tlb_flush_all_threshold = 64 (arch/riscv/mm/tlbflush.c; full flush when more).
 */
export function defaultFlushCeiling(root: Root): number {
  const a = root.format.arch;
  if (a === 'aarch64') return 2 ** root.format.levels[root.format.levels.length - 1].indexBits - 1;
  if (a === 'riscv64' || a === 'riscv32') return 64;
  return 33;
}

export function planTlb(root: Root, all: readonly EntryChange[], ceiling: number = defaultFlushCeiling(root)): TlbPlan {
  const a = root.format.arch;
  const changes = all.filter((c) => !c.fresh);
  const newGlobal = all.some((c) => c.globalAfter);
  if (a === 'aarch64') return aarch64Plan(root, changes, ceiling);
  if (a === 'riscv64' || a === 'riscv32') return riscvPlan(root, changes, ceiling, newGlobal);
  return x86Plan(root, changes, ceiling);
}
