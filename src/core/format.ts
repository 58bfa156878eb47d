// The contract between the one generic walker and each architecture's descriptor format.
// A format is data (levels, shifts, sizes) plus small pure functions over one raw entry,
// given as two 32-bit halves so the hot loop never allocates a bigint.

export type Arch = 'x86_64' | 'x86' | 'aarch64' | 'riscv64' | 'riscv32';

/** Effective-permission bits. Each is a separate right; a leaf's rights are ANDed with what
 * the tables above it still allow. */
export const enum Perm {
  Read = 1, // privileged (kernel/EL1/S-mode) read
  Write = 2, // write (at every privilege that can access the page)
  Exec = 4, // privileged execute
  User = 8, // user (EL0/U-mode/CPL3) data access
  UserExec = 16, // user execute
  All = 31,
}

export const PERM_NAMES: ReadonlyArray<[Perm, string]> = [
  [Perm.Read, 'read'],
  [Perm.Write, 'write'],
  [Perm.Exec, 'exec'],
  [Perm.User, 'user'],
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
  readonly description?: string;
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
  /** Physical base of the page or block (Leaf entries). */
  leafPa(lo: number, hi: number, level: number): number;
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
  leafMemType(lo: number, hi: number, level: number): number;
  /**
   * The reserved bits the entry sets at this level, or a falsy 0 / 0n when none. Hot path:
   * return the number 0 when clean (no bigint allocation per entry); callers test truthiness.
   */
  reservedBits(lo: number, hi: number, level: number, kind: EntryKind): bigint | 0;

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
