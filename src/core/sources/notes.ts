// ELF notes of cores: NT_PRSTATUS per CPU (Linux elf_prstatus, as QEMU's dump-guest-memory and
// the kernel's /proc/vmcore write it), QEMU's own "QEMU" CPU-state note (x86 control registers,
// QEMU target/i386/arch_dump.c), and the kernel's VMCOREINFO text note; the per-architecture
// layouts are the architecture modules' (../arch). Every size is checked
// against the note segment before use (ELF gABI, "Note Section": namesz, descsz, type, then the
// name and the descriptor, each padded to 4 bytes).

import { CoreFacts, archModule } from '../arch';
import { Arch } from '../format';
import { CoreFileError } from './coreFile';

const NT_PRSTATUS = 1;

export interface CpuState {
  /** Position of the CPU in the core (0-based, in note order). */
  readonly index: number;
  /** pr_pid of its NT_PRSTATUS (QEMU writes the CPU index + 1; Linux the task's PID). */
  pid?: number;
  /** Lower-case register names: general registers from NT_PRSTATUS, control registers from QEMU's note. */
  readonly registers: Map<string, bigint>;
}

export interface ParsedNotes {
  readonly cpus: CpuState[];
  vmcoreinfo?: string;
  /** Notes of each kind seen so far: the i-th NT_PRSTATUS and the i-th QEMU note are CPU i's. */
  prstatusSeen: number;
  qemuSeen: number;
}

export function emptyNotes(): ParsedNotes {
  return { cpus: [], prstatusSeen: 0, qemuSeen: 0 };
}

/** Parses one note segment; `where` names it in errors (e.g. "PT_NOTE program header 0"). */
export function parseNoteSegment(data: Buffer, arch: Arch, out: ParsedNotes, where: string, path: string): void {
  const facts = archModule(arch).core;
  let p = 0;
  let n = 0;
  const align = (x: number) => (x + 3) & ~3;
  const cpu = (i: number): CpuState => {
    while (out.cpus.length <= i) out.cpus.push({ index: out.cpus.length, registers: new Map() });
    return out.cpus[i];
  };
  while (p < data.length) {
    // Trailing padding (zeros) after the last note is allowed.
    if (data.length - p < 12) {
      if (data.subarray(p).every((b) => b === 0)) break;
      throw new CoreFileError(`${path}: note ${n} in ${where} is cut short: ${data.length - p} bytes left, a note header needs 12`);
    }
    const namesz = data.readUInt32LE(p);
    const descsz = data.readUInt32LE(p + 4);
    const type = data.readUInt32LE(p + 8);
    if (namesz === 0 && descsz === 0 && type === 0) break; // zero padding
    const left = data.length - p - 12;
    if (align(namesz) > left) throw new CoreFileError(`${path}: note ${n} in ${where}: n_namesz = ${namesz} (0x${namesz.toString(16)}) runs past the end of the note segment (${left} bytes left)`);
    const descOff = p + 12 + align(namesz);
    if (descsz > data.length - descOff) throw new CoreFileError(`${path}: note ${n} in ${where}: n_descsz = ${descsz} (0x${descsz.toString(16)}) runs past the end of the note segment (${data.length - descOff} bytes left)`);
    const name = data.subarray(p + 12, p + 12 + namesz).toString('latin1').replace(/\0+$/, '');
    const desc = data.subarray(descOff, descOff + descsz);
    p = Math.min(data.length, descOff + align(descsz));
    n++;
    if (name === 'CORE' && type === NT_PRSTATUS) {
      const c = cpu(out.prstatusSeen++);
      parsePrstatus(desc, facts, c);
    } else if (name === 'QEMU' && facts.qemuNote) {
      facts.qemuNote(desc, cpu(out.qemuSeen++).registers);
    } else if (name === 'VMCOREINFO') {
      out.vmcoreinfo = desc.toString('latin1').replace(/\0+$/, '');
    }
  }
}

// elf_prstatus: pr_pid at 32 (64-bit) / 24 (32-bit); pr_reg at 112 / 72.
// pr_reg's names come from the architecture module (Linux user_regs_struct / elf_gregset_t).
function parsePrstatus(d: Buffer, facts: CoreFacts, cpu: CpuState): void {
  const is64 = facts.is64;
  const pidOff = is64 ? 32 : 24;
  if (d.length >= pidOff + 4) cpu.pid = d.readInt32LE(pidOff);
  const names = facts.gregs;
  const base = is64 ? 112 : 72;
  const w = is64 ? 8 : 4;
  names.forEach((name, i) => {
    const off = base + i * w;
    if (off + w > d.length) return;
    const v = is64 ? d.readBigUInt64LE(off) : BigInt(d.readUInt32LE(off));
    // QEMU's own note carries rip too; keep one name per value.
    if (!cpu.registers.has(name)) cpu.registers.set(name, v);
  });
  const pc = cpu.registers.get(facts.pcRegister);
  if (pc !== undefined) cpu.registers.set('pc', pc);
}
