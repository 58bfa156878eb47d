// QEMU `dump-guest-memory` ELF cores as guest-physical memory plus the registers they carry.
//
// Hand-written rather than a library: the maintained npm ELF parser we tried (elfinfo 0.4)
// rejects QEMU cores (QEMU 7.2 writes e_ehsize = 8) and reads whole files, while cores are as
// large as guest RAM. We need only the ELF header, program headers and notes, read positionally.

import fs from 'node:fs/promises';
import { PhysAddr, hex, physAddr } from '../addr';
import { Arch } from '../format';
import { MemoryReadError, PhysicalMemory, RamRange, ReadRequest } from '../memory';

const EM_386 = 3;
const EM_X86_64 = 62;
const EM_AARCH64 = 183;
const EM_RISCV = 243;
const PT_LOAD = 1;
const PT_NOTE = 4;
const NT_PRSTATUS = 1;

export class CoreFileError extends Error {
  override name = 'CoreFileError';
}

interface Segment {
  readonly paddr: number;
  readonly offset: number;
  readonly filesz: number;
  /** Bytes of the segment actually present in the file (less when truncated). */
  readonly present: number;
}

export interface QemuCore {
  readonly path: string;
  readonly arch: Arch;
  readonly memory: PhysicalMemory & { close(): Promise<void> };
  /** Registers found in the notes (lower-case names), e.g. cr0, cr3, cr4 on x86. */
  readonly registers: Map<string, bigint>;
  /** Problems that do not stop the walk (truncation). */
  readonly warnings: string[];
  close(): Promise<void>;
}

function archOf(machine: number, elfClass: number): Arch {
  switch (machine) {
    case EM_X86_64:
      return elfClass === 2 ? 'x86_64' : 'x86';
    case EM_386:
      return 'x86';
    case EM_AARCH64:
      return 'aarch64';
    case EM_RISCV:
      return elfClass === 2 ? 'riscv64' : 'riscv32';
    default:
      throw new CoreFileError(`unsupported ELF machine ${machine} (ptview reads x86, x86_64, AArch64 and RISC-V cores)`);
  }
}

/** Opens a QEMU dump-guest-memory core (plain ELF, not kdump-compressed). */
export async function openQemuCore(path: string): Promise<QemuCore> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (e) {
    throw new CoreFileError(`cannot open core file ${path}: ${(e as Error).message}`);
  }
  try {
    return await parse(path, fh);
  } catch (e) {
    await fh.close();
    throw e;
  }
}

async function readAt(fh: fs.FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, offset);
  return buf.subarray(0, bytesRead);
}

async function parse(path: string, fh: fs.FileHandle): Promise<QemuCore> {
  const size = (await fh.stat()).size;
  const h = await readAt(fh, 0, 64);
  if (h.length < 20 || h.readUInt32BE(0) !== 0x7f454c46) {
    throw new CoreFileError(`${path} is not an ELF file; expected a QEMU core written by the monitor's dump-guest-memory (without -z/-l/-s)`);
  }
  const elfClass = h[4];
  if (h[5] !== 1) throw new CoreFileError(`${path} is a big-endian ELF file; QEMU cores of supported guests are little-endian`);
  const is64 = elfClass === 2;
  if (h.length < (is64 ? 64 : 52)) throw new CoreFileError(`${path} is truncated inside the ELF header`);
  const type = h.readUInt16LE(16);
  const machine = h.readUInt16LE(18);
  if (type !== 4) throw new CoreFileError(`${path} is an ELF file but not a core (e_type ${type}); expected a QEMU dump-guest-memory core`);
  const arch = archOf(machine, elfClass);
  const phoff = is64 ? Number(h.readBigUInt64LE(32)) : h.readUInt32LE(28);
  const phentsize = h.readUInt16LE(is64 ? 54 : 42);
  const phnum = h.readUInt16LE(is64 ? 56 : 44);
  const ph = await readAt(fh, phoff, phentsize * phnum);
  if (ph.length < phentsize * phnum) throw new CoreFileError(`${path} is truncated inside the program headers`);

  const segments: Segment[] = [];
  const notes: { offset: number; size: number }[] = [];
  const warnings: string[] = [];
  for (let i = 0; i < phnum; i++) {
    const b = i * phentsize;
    const ptype = ph.readUInt32LE(b);
    const offset = is64 ? Number(ph.readBigUInt64LE(b + 8)) : ph.readUInt32LE(b + 4);
    const paddr = is64 ? Number(ph.readBigUInt64LE(b + 24)) : ph.readUInt32LE(b + 12);
    const filesz = is64 ? Number(ph.readBigUInt64LE(b + 32)) : ph.readUInt32LE(b + 16);
    if (ptype === PT_NOTE) notes.push({ offset, size: filesz });
    if (ptype === PT_LOAD && filesz > 0) {
      const present = Math.max(0, Math.min(filesz, size - offset));
      if (present < filesz) {
        warnings.push(`core is truncated: physical ${hex(paddr + present)}-${hex(paddr + filesz)} is missing (file ends at ${size} bytes, segment needs ${offset + filesz})`);
      }
      segments.push({ paddr, offset, filesz, present });
    }
  }
  if (segments.length === 0) throw new CoreFileError(`${path} has no memory segments (PT_LOAD): not a QEMU dump-guest-memory core`);
  segments.sort((a, b) => a.paddr - b.paddr);

  const registers = new Map<string, bigint>();
  for (const n of notes) {
    const data = await readAt(fh, n.offset, n.size);
    parseNotes(data, arch, registers);
  }

  const ram: RamRange[] = segments.map((s) => ({ start: physAddr(s.paddr), end: physAddr(s.paddr + s.filesz), name: 'core' }));
  const find = (addr: number, length: number) => segments.find((s) => addr >= s.paddr && addr + length <= s.paddr + s.filesz);

  const read = async (addr: PhysAddr, length: number, signal?: AbortSignal): Promise<Uint8Array> => {
    signal?.throwIfAborted();
    const seg = find(addr, length);
    if (!seg) throw new MemoryReadError(addr, length, 'outside-ram', 'not in any memory segment of the core');
    const off = addr - seg.paddr;
    if (off + length > seg.present) throw new MemoryReadError(addr, length, 'truncated', 'the core file is truncated here');
    return readAt(fh, seg.offset + off, length);
  };
  const readMany = async (reqs: readonly ReadRequest[], signal?: AbortSignal) =>
    Promise.all(
      reqs.map((r) =>
        read(r.addr, r.length, signal).catch((e: unknown) => {
          if (e instanceof MemoryReadError) return e;
          throw e;
        }),
      ),
    );
  const close = () => fh.close();
  return { path, arch, registers, warnings, memory: { ram, read, readMany, close }, close };
}

function parseNotes(data: Buffer, arch: Arch, regs: Map<string, bigint>): void {
  let p = 0;
  const align = (n: number) => (n + 3) & ~3;
  while (p + 12 <= data.length) {
    const namesz = data.readUInt32LE(p);
    const descsz = data.readUInt32LE(p + 4);
    const type = data.readUInt32LE(p + 8);
    const name = data.subarray(p + 12, p + 12 + namesz).toString('latin1').replace(/\0+$/, '');
    const descOff = p + 12 + align(namesz);
    const desc = data.subarray(descOff, descOff + descsz);
    p = descOff + align(descsz);
    // Only the first CPU's registers: paging registers are per CPU, and ptview walks CPU 0's.
    if (name === 'QEMU' && (arch === 'x86_64' || arch === 'x86') && !regs.has('cr3')) parseQemuCpuState(desc, regs);
    if (name === 'CORE' && type === NT_PRSTATUS && !regs.has('pc')) parsePrstatus(desc, arch, regs);
  }
}

// QEMUCPUState (QEMU target/i386/arch_dump.c): version, size, 16 GPRs, rip, rflags,
// 10 segments of 24 bytes, then cr[5] (CR0..CR4).
function parseQemuCpuState(d: Buffer, regs: Map<string, bigint>): void {
  if (d.length < 432) return;
  const crBase = 8 + 18 * 8 + 10 * 24;
  ['cr0', 'cr1', 'cr2', 'cr3', 'cr4'].forEach((n, i) => {
    if (n !== 'cr1') regs.set(n, d.readBigUInt64LE(crBase + i * 8));
  });
  regs.set('rip', d.readBigUInt64LE(8 + 16 * 8));
}

// elf_prstatus: pr_reg starts at 112 (64-bit) / 72 (32-bit); the PC sits at a per-arch slot.
function parsePrstatus(d: Buffer, arch: Arch, regs: Map<string, bigint>): void {
  if (arch === 'aarch64' && d.length >= 112 + 34 * 8) {
    regs.set('pc', d.readBigUInt64LE(112 + 32 * 8));
    regs.set('cpsr', d.readBigUInt64LE(112 + 33 * 8));
  } else if (arch === 'riscv64' && d.length >= 112 + 8) {
    regs.set('pc', d.readBigUInt64LE(112));
  } else if (arch === 'x86_64' && d.length >= 112 + 17 * 8) {
    regs.set('pc', d.readBigUInt64LE(112 + 16 * 8));
  }
}
