// The contract between the one generic walker and each architecture's descriptor format.
// A format is data (levels, shifts, sizes) plus small pure functions over one raw entry,
// given as two 32-bit halves so the hot loop never allocates a bigint.

export type Arch = 'x86_64' | 'x86' | 'aarch64' | 'riscv64' | 'riscv32';

/**
 * Effective-permission bits: answers to "may this actor do this access here, under the control
 * state in effect" (rights contract v2). The privileged actor is x86 CPL 0, AArch64 the regime's
 * privileged EL (EL1, or EL2 for EL2 regimes), RISC-V S-mode; the unprivileged one x86 CPL 3,
 * AArch64 EL0, RISC-V U-mode. For stage 2 the user bits equal the privileged ones. A leaf's
 * rights are ANDed with what the tables above it still allow, then the format's control rules
 * (SMEP, SMAP, PKRU, PAN, WXN, SUM, …) apply.
 */
export const enum Perm {
  Read = 1, // privileged read
  Write = 2, // privileged write
  Exec = 4, // privileged execute
  UserRead = 8, // unprivileged read
  UserExec = 16, // unprivileged execute
  UserWrite = 32, // unprivileged write
  All = 63,
  /** v1 name of UserRead ("user data access" was user read; user write was folded into Write). */
  User = 8,
}

/** Either actor may write / execute; the unprivileged actor may access data (the `user` field). */
export const ANY_WRITE = Perm.Write | Perm.UserWrite;
export const ANY_EXEC = Perm.Exec | Perm.UserExec;
export const USER_DATA = Perm.UserRead | Perm.UserWrite;
export const USER_ANY = Perm.UserRead | Perm.UserWrite | Perm.UserExec;

export const PERM_NAMES: ReadonlyArray<[Perm, string]> = [
  [Perm.Read, 'read'],
  [Perm.Write, 'write'],
  [Perm.Exec, 'exec'],
  [Perm.UserRead, 'userRead'],
  [Perm.UserWrite, 'userWrite'],
  [Perm.UserExec, 'userExec'],
];

/** Architecture-neutral leaf flags used by filters, merging and JSON. */
export const enum Flag {
  Global = 1,
  Accessed = 2,
  Dirty = 4,
  Contiguous = 8, // AArch64 contiguous hint / RISC-V Svnapot
}

export const enum EntryKind {
  Invalid = 0, // not present / not valid: nothing mapped below
  Table = 1, // points to a next-level table
  Leaf = 2, // maps a page or block
  Reserved = 3, // present but architecturally faults (reserved encoding/bits): walk stops here
}

export interface LevelDesc {
  /** Architecture's own name for the level (PML4, PDPT, L1, ...). */
  readonly name: string;
  /** Bit position of the lowest VA bit this level indexes. */
  readonly shift: number;
  /** Number of index bits at this level (the root may have fewer or more). */
  readonly indexBits: number;
}

/** One restriction with its reason, for provenance ("W cleared by PDPT[3] R/W=0"). */
export interface Restriction {
  readonly perm: Perm;
  /** Bit or register that removed it, in the architecture's vocabulary. */
  readonly because: string;
}

/** A decoded field for display (tree, tooltips, translate trace). */
export interface Field {
  readonly name: string;
  readonly value: string | number | boolean;
  /** What the field means with this value (for a flag: when set, unless `clear` is given). */
  readonly description?: string;
  /** What a flag means when it is clear, where that is not just the absence of `description`. */
  readonly clear?: string;
}

export interface PagingFormat {
  readonly arch: Arch;
  /** Paging mode, e.g. "4-level", "PAE", "4K granule, 48-bit", "Sv39". */
  readonly mode: string;
  readonly entryBytes: 4 | 8;
  /** Levels from the root table down. */
  readonly levels: readonly LevelDesc[];
  /** Memory-type names, indexed by leafMemType's result. */
  readonly memTypes: readonly string[];
  /**
   * Whether leafMemType's result is a device (uncached, non-speculative) type: how MMIO is
   * mapped on purpose (x86 UC/UC-, AArch64 Device-*, RISC-V Svpbmt IO).
   */
  deviceMemType(memType: number): boolean;

  /**
   * Optional speed-up: the bits of the LOW word that only carry the output address at `level`
   * (x86 PT: 0xfffff000). Everything else the walker decodes once per run of entries whose
   * other bits are equal. Leave undefined unless kind, reserved bits, rights, flags and memory
   * type are truly independent of these bits.
   */
  addressBitsLo?(level: number): number;
  classify(lo: number, hi: number, level: number): EntryKind;
  /** Physical address of the next table (Table entries). */
  tablePa(lo: number, hi: number, level: number): number;
  /**
   * Physical base of the page or block (Leaf entries). `index` is the entry's index in its table:
   * a RISC-V Svnapot PTE maps a naturally aligned group of entries, each page taking its PA bits
   * from the VA (the index), not from the PTE. Pass it wherever the entry's position is known.
   */
  leafPa(lo: number, hi: number, level: number, index?: number): number;
  /** Perm bits a table entry removes for everything below it (hot path). */
  tableRestricts(lo: number, hi: number, level: number): number;
  /** Perm bits a leaf grants on its own (hot path; register context already applied). */
  leafPerms(lo: number, hi: number, level: number): number;
  /**
   * Optional: rules that depend on the combined rights rather than one entry (x86 SMEP: no
   * supervisor execute of user pages; AArch64 WXN and implicit PXN). Applied after the AND.
   */
  finalPerms?(perms: number, lo: number, hi: number, level: number): number;
  leafFlags(lo: number, hi: number, level: number): number;
  /**
   * Optional: flags a table entry passes to every leaf below it (RISC-V: G in a non-leaf PTE
   * makes every translation below global, privileged spec §4.3.1). ORed into leafFlags.
   */
  tableFlags?(lo: number, hi: number, level: number): number;
  leafMemType(lo: number, hi: number, level: number): number;
  /**
   * The reserved bits the entry sets at this level, or a falsy 0 / 0n when none. Hot path:
   * return the number 0 when clean (no bigint allocation per entry); callers test truthiness.
   */
  reservedBits(lo: number, hi: number, level: number, kind: EntryKind): bigint | 0;
  /**
   * Optional: bits the manual reserves but QEMU TCG accepts (x86 PAE PDPTE bits 2:1 and 8:5,
   * which a real CPU rejects at the CR3 load). The walk follows QEMU, which the guest runs on,
   * and reports them as a `qemu-lenient` diagnostic naming both behaviours.
   */
  laxBits?(lo: number, hi: number, level: number, kind: EntryKind): bigint | 0;

  /** Slow path: why a table or leaf entry (or a register) removes rights. */
  explainRestrictions(lo: number, hi: number, level: number, kind: EntryKind): Restriction[];
  /** Slow path: every field of the entry, decoded. */
  describe(lo: number, hi: number, level: number, kind: EntryKind): Field[];
  /** Short flag string of a leaf for text output, given its effective perms. */
  flagString(lo: number, hi: number, level: number, perms: number): string;
}

/** Size in bytes mapped by one entry at `level`. */
export function levelSize(f: PagingFormat, level: number): number {
  return 2 ** f.levels[level].shift;
}

export function entryCount(f: PagingFormat, level: number): number {
  return 2 ** f.levels[level].indexBits;
}

export function tableBytes(f: PagingFormat, level: number): number {
  return entryCount(f, level) * f.entryBytes;
}

/** The raw entry as one bigint (slow path). */
export function rawEntry(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
