// What the fixture learned from QEMU before VS Code started (written to $PTVIEW_E2E_ORACLE).
export interface Oracle {
  port: number;
  kernel: string;
  cr3: string;
  /** info mem ranges: start, exclusive end (hex), effective user and write. */
  mem: { start: string; end: string; user: boolean; write: boolean }[];
  /** info tlb leaves: VA, frame, and the leaf's own XD / U/S / R/W / PS bits. */
  tlb: { va: string; frame: string; nx: boolean; user: boolean; write: boolean; pse: boolean }[];
  /** gva2gpa of probed VAs (null: unmapped). */
  gpa: Record<string, string | null>;
}

/** What specs/5-core.spec.ts learned from QEMU at the moment of its dumps (core-oracle.json beside oracle.json). */
export interface CoreOracle {
  files: Record<'elf' | 'kdump-zlib', string>;
  mtimes: Record<'elf' | 'kdump-zlib', number>;
  sizes: Record<'elf' | 'kdump-zlib', number>;
  /** info cpus: how many CPUs. */
  cpus: number;
  cr3: string;
  rip: string;
  efer: string;
  /** gva2gpa of probed VAs (null: unmapped). */
  gpa: Record<string, string | null>;
  /** xp of 64 bytes at gva2gpa(va), hex. */
  xp: { va: string; pa: string; bytes: string };
  /** A physical address past the guest's RAM. */
  pastRam: string;
  /** `ptview dump --core FILE --reg EFER=… --json` of each file. */
  ranges: Record<'elf' | 'kdump-zlib', { va: string; end: string; pa: string }[]>;
  /** A two-vCPU guest's ELF dump: each CPU's PC and CR3 from info registers -a. */
  smp?: { file: string; cpus: { pc: string; cr3: string }[] };
}
