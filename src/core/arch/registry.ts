// The one registry of architectures. Each architecture module (x86.ts, aarch64.ts, riscv.ts)
// registers one descriptor per Arch with everything that architecture knows: how its registers
// build an address space, its edit codec and TLB policy, the registers a debugger reads, how its
// ELF and kdump cores name it, and Linux's layout on it. Code outside the modules asks the
// descriptor (archModule / findArch / archEdit) and never switches on the architecture itself.
import type { Arch } from '../format';
import type { EntryCodec } from '../edit/codecs';
import type { EntryChange, TlbPlan } from '../edit/tlb';
import type { SpaceOptions } from '../formats/registry';
import type { RamRange } from '../memory';
import type { LayoutSpan, RegionDef } from '../ops/regions';
import type { VmcoreinfoRoots } from '../sources/vmcoreinfo';
import { AddressSpace, RegisterError, Registers, Root } from '../space';

export interface ArchEdit {
  /** The encoder for this root, or undefined when its format cannot be edited (e.g. stage 2). */
  codec(root: Root): EntryCodec | undefined;
  /** The maintenance for the (not fresh) entry changes of one edit. */
  planTlb(root: Root, changes: readonly EntryChange[], ceiling: number, newGlobal: boolean): TlbPlan;
  /** Translations above which Linux on this architecture flushes everything. */
  flushCeiling(root: Root): number;
  /** Valid-to-valid changes of output address, memory type or descriptor type need break-before-make (Arm ARM D8.16.1). */
  readonly breakBeforeMake?: boolean;
  /** Entries that must change together with this leaf (RISC-V Svnapot: 16), if any. */
  napotGroup?(raw: bigint, level: number, lastLevel: number): number | undefined;
}

/** The registers a debugger reads from a live target; one object shared by the arches of a family. */
export interface LiveRegisters {
  /** Family name ("x86" for x86 and x86_64). */
  readonly family: string;
  /** The root register whose presence tells the family, as GDB spells it on QEMU. */
  readonly probe: string;
  /** "CR3 (x86)": the probe and the family in messages. */
  readonly label: string;
  /** Paging and control registers, as GDB spells them on QEMU. */
  readonly names: readonly string[];
  /** Whether telling the architecture needs the PC's size in bytes (RISC-V: RV32 or RV64). */
  readonly needsPcBytes?: boolean;
  /** The architecture from the registers read (lower-case names); may adjust `regs` (derived or preferred names). */
  identify(regs: Map<string, bigint>, pcBytes: bigint | undefined): Arch;
}

/** How cores (ELF, compressed kdump) name the architecture and lay out its notes. */
export interface CoreFacts {
  /** Whether an ELF header's e_machine and EI_CLASS are this architecture. */
  elf(machine: number, elfClass: number): boolean;
  /** Whether a kdump header's utsname.machine (of a 64- or 32-bit header) is this architecture. */
  utsMachine(machine: string, is64: boolean): boolean;
  /** Bytes of the NT_PRSTATUS descriptor (Linux struct elf_prstatus). */
  readonly prstatusSize: number;
  /** Whether elf_prstatus is the 64-bit layout. */
  readonly is64: boolean;
  /** pr_reg's register names in order (Linux user_regs_struct / elf_gregset_t). */
  readonly gregs: readonly string[];
  /** Which of `gregs` is the program counter (also stored as "pc"). */
  readonly pcRegister: string;
  /** Reads QEMU's own "QEMU" CPU-state note into `regs`, when QEMU writes one for this architecture. */
  qemuNote?(desc: Buffer, regs: Map<string, bigint>): void;
}

/** VMCOREINFO's values, read as crash tools read them. */
export interface VmcoreinfoValues {
  /** SYMBOL(name), hex. */
  symbol(name: string): bigint | undefined;
  /** NUMBER(name), decimal unless 0x-prefixed. */
  number(name: string): bigint | undefined;
  /** A plain key (PAGESIZE), decimal unless 0x-prefixed. */
  plain(key: string): bigint | undefined;
  /** "; KERNELOFFSET=… is already in the SYMBOL values", or empty. */
  readonly kaslrNote: string;
}

/** A Linux direct map candidate: a debugger expression giving the offset, or a fixed offset. */
export type DirectMapHint =
  | { readonly expression: string; readonly source: string; offset(value: bigint, regs: Registers): bigint | undefined }
  | { readonly fixed: bigint; readonly source: string };

/** What Linux does on this architecture. */
export interface LinuxFacts {
  /** Kernel-half regions of a root, given the direct (linear) map found from the tables. */
  regions?(root: Root, spans: readonly LayoutSpan[], direct: { start: bigint; end: bigint }, ram: readonly RamRange[]): { layout: string; defs: RegionDef[] } | undefined;
  /** Direct map offsets to try, most likely first (before the kernel-half slots). */
  readonly directMap?: readonly DirectMapHint[];
  /** The roots VMCOREINFO gives, or the reason it gives none. */
  vmcoreinfoRoots?(v: VmcoreinfoValues): VmcoreinfoRoots | { missing: string };
}

export interface ArchModule {
  readonly arch: Arch;
  /** Every register name this architecture accepts with --reg (lower-case). */
  readonly registerNames: readonly string[];
  /** Registers any one of which defines a root (lower-case). */
  readonly rootRegisters: readonly string[];
  /** Builds the address space; throws RegisterError naming a missing or contradictory register. */
  buildSpace(regs: Registers, opts?: SpaceOptions): AddressSpace;
  readonly edit?: ArchEdit;
  readonly live: LiveRegisters;
  readonly core: CoreFacts;
  readonly linux: LinuxFacts;
  /** Hardware watchpoints QEMU under KVM gives ("why" continues "…, which"), when it has a fixed number. */
  readonly kvmWatchpoints?: { readonly count: number; readonly why: string };
}

const modules = new Map<Arch, ArchModule>();

export function registerArch(m: ArchModule): void {
  modules.set(m.arch, m);
}

/** The module of `arch`; throws RegisterError when ptview does not support it. */
export function archModule(arch: Arch): ArchModule {
  const m = modules.get(arch);
  if (!m) throw new RegisterError(`architecture '${arch}' is not supported (supported: ${[...modules.keys()].join(', ')})`);
  return m;
}

/** The module of `arch`, or undefined (for names that come from outside, e.g. a file). */
export function findArch(arch: string): ArchModule | undefined {
  return modules.get(arch as Arch);
}

/** Every module, in registration order (x86_64, x86, aarch64, riscv64, riscv32). */
export function archModules(): readonly ArchModule[] {
  return [...modules.values()];
}

/** Every supported architecture name. */
export function arches(): Arch[] {
  return [...modules.keys()];
}

/** The live register families, each once, in registration order. */
export function liveFamilies(): readonly LiveRegisters[] {
  return [...new Set(archModules().map((m) => m.live))];
}

export function archEdit(root: Root): ArchEdit | undefined {
  return modules.get(root.format.arch)?.edit;
}

/** "CR3 (x86), TTBR0_EL1 (AArch64) or satp (RISC-V)": the families' root registers in messages. */
export function liveRootLabels(): string {
  const labels = liveFamilies().map((f) => f.label);
  return labels.length > 1 ? `${labels.slice(0, -1).join(', ')} or ${labels[labels.length - 1]}` : labels.join('');
}
