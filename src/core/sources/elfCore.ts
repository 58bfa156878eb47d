// ELF cores as guest-physical memory plus the registers they carry: QEMU `dump-guest-memory`
// (plain ELF) and Linux /proc/vmcore (PT_LOAD with physical addresses, NT_PRSTATUS, VMCOREINFO).
// Field rules from the System V gABI ("ELF Header", "Program Header", "Note Section") and the
// PN_XNUM extension (e_phnum = 0xffff: the count is in section header 0's sh_info), which QEMU
// uses for cores with more than 65534 segments (QEMU dump/dump.c).
//
// Hand-written rather than a library: the maintained npm ELF parser we tried (elfinfo 0.4)
// rejects QEMU cores (QEMU 7.2 writes e_ehsize = 8) and reads whole files, while cores are as
// large as guest RAM. We need only the ELF header, program headers and notes, read positionally,
// and every value checked against the file before use (cores come from bug reports).

import { PhysAddr, hex, physAddr } from '../addr';
import { archModules } from '../arch';
import { Arch } from '../format';
import { MemoryReadError, PhysicalMemory, RamRange, ReadRequest } from '../memory';
import { CoreFileError, CoreFileHandle, MAX_METADATA_BYTES, openRegularFile } from './coreFile';
import { CpuState, ParsedNotes, emptyNotes, parseNoteSegment } from './notes';

export { CoreFileError } from './coreFile';
export type { CpuState } from './notes';

const PT_LOAD = 1;
const PT_NOTE = 4;
const PN_XNUM = 0xffff;
/** Physical addresses are JavaScript numbers in ptview: exact up to 2^53 (above every MAXPHYADDR but RISC-V's 56 bits). */
const PA_LIMIT = 2n ** 53n;

export type CoreFormat = 'elf' | 'kdump' | 'kdump-flattened';

/** A core file opened for reading: memory, CPUs and what else its notes said. */
export interface QemuCore {
  readonly path: string;
  readonly arch: Arch;
  readonly format: CoreFormat;
  readonly memory: PhysicalMemory & { close(): Promise<void> };
  /** CPU 0's registers (lower-case names), e.g. cr0, cr3, cr4 on x86. */
  readonly registers: Map<string, bigint>;
  /** Every CPU the core's notes describe, in order. */
  readonly cpus: readonly CpuState[];
  /** The kernel's VMCOREINFO text, when the core carries one (Linux vmcores, QEMU with -device vmcoreinfo). */
  readonly vmcoreinfo?: string;
  /** kdump_sub_header.phys_base (compressed kdump cores only). */
  readonly physBase?: bigint;
  /** Problems that do not stop the walk (truncation, pages left out of the dump). */
  readonly warnings: string[];
  close(): Promise<void>;
}

interface Segment {
  readonly paddr: number;
  readonly offset: number;
  readonly filesz: number;
  /** Bytes of the segment actually present in the file (less when truncated). */
  readonly present: number;
}

/** The architecture whose module claims e_machine and EI_CLASS. */
function archOf(machine: number, elfClass: number, path: string): Arch {
  const m = archModules().find((a) => a.core.elf(machine, elfClass));
  if (!m) throw new CoreFileError(`${path}: e_machine = ${machine} is not supported (ptview reads x86, x86_64, AArch64 and RISC-V cores)`);
  return m.arch;
}

/** Opens an ELF core (QEMU dump-guest-memory without -z/-l/-s, or a Linux /proc/vmcore copy). */
export async function openQemuCore(path: string): Promise<QemuCore> {
  const f = await openRegularFile(path);
  try {
    return await parseElfCore(f);
  } catch (e) {
    await f.close();
    throw e;
  }
}

/** Reads an unsigned field of 4 or 8 bytes as a bigint. */
const u = (b: Buffer, off: number, is64: boolean): bigint => (is64 ? b.readBigUInt64LE(off) : BigInt(b.readUInt32LE(off)));

export async function parseElfCore(f: CoreFileHandle): Promise<QemuCore> {
  const path = f.path;
  const size = BigInt(f.size);
  const ident = await f.readUpTo(0, 64);
  if (ident.length < 16 || ident.readUInt32BE(0) !== 0x7f454c46) {
    throw new CoreFileError(`${path} is not an ELF file; expected a QEMU dump-guest-memory core or a Linux vmcore`);
  }
  const elfClass = ident[4];
  if (elfClass !== 1 && elfClass !== 2) throw new CoreFileError(`${path}: EI_CLASS = ${elfClass} is invalid (1 ELF32, 2 ELF64)`);
  if (ident[5] !== 1) throw new CoreFileError(`${path}: EI_DATA = ${ident[5]}: a big-endian or invalid ELF file; cores of supported guests are little-endian (EI_DATA 1)`);
  const is64 = elfClass === 2;
  const ehsize = is64 ? 64 : 52;
  const h = await f.readExact(0, ehsize, 'the ELF header');
  const type = h.readUInt16LE(16);
  if (type !== 4) throw new CoreFileError(`${path}: e_type = ${type}: an ELF file but not a core (ET_CORE = 4)`);
  const arch = archOf(h.readUInt16LE(18), elfClass, path);
  const phoff = u(h, is64 ? 32 : 28, is64);
  const shoff = u(h, is64 ? 40 : 32, is64);
  const phentsize = h.readUInt16LE(is64 ? 54 : 42);
  let phnum = h.readUInt16LE(is64 ? 56 : 44);
  const shentsize = h.readUInt16LE(is64 ? 58 : 46);
  const minPhent = is64 ? 56 : 32;
  if (phentsize < minPhent) throw new CoreFileError(`${path}: e_phentsize = ${phentsize} is too small: an ELF${is64 ? 64 : 32} program header is ${minPhent} bytes`);
  if (phoff === 0n || phoff >= size) throw new CoreFileError(`${path}: e_phoff = ${hex(phoff)} is ${phoff === 0n ? 'zero (no program headers)' : `past the end of the file (${size} bytes)`}`);
  if (phnum === PN_XNUM) {
    // PN_XNUM: the real count is sh_info of section header 0.
    const minShent = is64 ? 64 : 40;
    if (shoff === 0n || shoff + BigInt(minShent) > size) {
      throw new CoreFileError(`${path}: e_phnum = 0xffff (PN_XNUM) needs section header 0 for the real count, but e_shoff = ${hex(shoff)} ${shoff === 0n ? 'is zero' : `is past the end of the file (${size} bytes)`}`);
    }
    if (shentsize < minShent) throw new CoreFileError(`${path}: e_phnum = 0xffff (PN_XNUM) needs section header 0, but e_shentsize = ${shentsize} is smaller than ${minShent}`);
    const sh = await f.readExact(Number(shoff), minShent, 'section header 0 (for PN_XNUM)');
    const real = sh.readUInt32LE(is64 ? 44 : 28);
    // gABI: PN_XNUM is used only when the count does not fit, i.e. is at least 0xffff.
    if (real < PN_XNUM) throw new CoreFileError(`${path}: e_phnum = 0xffff (PN_XNUM), but section header 0 gives sh_info = ${real}, not a count of 65535 or more`);
    phnum = real;
  }
  if (phnum === 0) throw new CoreFileError(`${path}: e_phnum = 0: the core has no program headers`);
  const phBytes = BigInt(phentsize) * BigInt(phnum);
  if (phoff + phBytes > size) {
    throw new CoreFileError(`${path}: the program headers (e_phoff ${hex(phoff)} + e_phnum ${phnum} × e_phentsize ${phentsize} = ${phoff + phBytes} bytes) run past the end of the file (${size} bytes)`);
  }
  const ph = await f.readExact(Number(phoff), Number(phBytes), 'the program headers');

  const segments: Segment[] = [];
  const noteHeaders: { index: number; offset: number; size: number }[] = [];
  const warnings: string[] = [];
  for (let i = 0; i < phnum; i++) {
    const b = i * phentsize;
    const ptype = ph.readUInt32LE(b);
    if (ptype !== PT_LOAD && ptype !== PT_NOTE) continue;
    const offset = u(ph, b + (is64 ? 8 : 4), is64);
    const paddr = u(ph, b + (is64 ? 24 : 12), is64);
    const filesz = u(ph, b + (is64 ? 32 : 16), is64);
    const memsz = u(ph, b + (is64 ? 40 : 20), is64);
    const what = `program header ${i} (${ptype === PT_LOAD ? 'PT_LOAD' : 'PT_NOTE'})`;
    if (offset + filesz > 2n ** 64n - 1n) throw new CoreFileError(`${path}: ${what}: p_offset ${hex(offset)} + p_filesz ${hex(filesz)} overflows 64 bits`);
    if (ptype === PT_NOTE) {
      if (offset + filesz > size) throw new CoreFileError(`${path}: ${what}: p_filesz = ${hex(filesz)} at p_offset ${hex(offset)} runs past the end of the file (${size} bytes)`);
      if (filesz > BigInt(MAX_METADATA_BYTES)) throw new CoreFileError(`${path}: ${what}: p_filesz = ${hex(filesz)} is larger than the ${MAX_METADATA_BYTES / 1048576} MiB ptview accepts for notes`);
      noteHeaders.push({ index: i, offset: Number(offset), size: Number(filesz) });
      continue;
    }
    if (filesz === 0n) continue;
    // gABI: "p_filesz may not be larger than p_memsz".
    if (filesz > memsz) throw new CoreFileError(`${path}: ${what}: p_filesz = ${hex(filesz)} is larger than p_memsz = ${hex(memsz)}`);
    if (paddr >= PA_LIMIT) throw new CoreFileError(`${path}: ${what}: p_paddr = ${hex(paddr)} is above 2^53, beyond every physical address ptview handles`);
    if (paddr + filesz > PA_LIMIT) throw new CoreFileError(`${path}: ${what}: p_paddr ${hex(paddr)} + p_filesz ${hex(filesz)} ends above 2^53`);
    // A segment that starts or ends past the end of the file is a truncated core: what is
    // present is still walked, the rest is reported missing.
    const present = offset >= size ? 0n : offset + filesz > size ? size - offset : filesz;
    if (present < filesz) {
      warnings.push(`core is truncated: physical ${hex(paddr + present)}-${hex(paddr + filesz)} is missing (file ends at ${size} bytes, segment needs ${offset + filesz})`);
    }
    segments.push({ paddr: Number(paddr), offset: Number(offset), filesz: Number(filesz), present: Number(present) });
  }
  if (segments.length === 0) throw new CoreFileError(`${path} has no memory segments (PT_LOAD with p_filesz > 0): not a memory dump`);
  const ordered = disjoint(segments);

  const notes: ParsedNotes = emptyNotes();
  for (const n of noteHeaders) {
    const data = await f.readExact(n.offset, n.size, `PT_NOTE program header ${n.index}`);
    parseNoteSegment(data, arch, notes, `PT_NOTE program header ${n.index}`, path);
  }

  const ram: RamRange[] = ordered.map((s) => ({ start: physAddr(s.paddr), end: physAddr(s.paddr + s.filesz), name: 'core' }));
  const memory = segmentMemory(f, ordered);
  return {
    path,
    arch,
    format: 'elf',
    registers: new Map(notes.cpus[0]?.registers ?? []),
    cpus: notes.cpus,
    vmcoreinfo: notes.vmcoreinfo,
    warnings,
    memory: { ram, ...memory, close: () => f.close() },
    close: () => f.close(),
  };
}

/**
 * Segments sorted by physical address, without overlaps. A Linux /proc/vmcore describes the
 * kernel text twice (its own PT_LOAD and the System RAM one holding it): the same bytes, so the
 * first segment covering an address serves it and later ones are clipped.
 */
function disjoint(segments: readonly Segment[]): Segment[] {
  const sorted = [...segments].sort((a, b) => a.paddr - b.paddr || b.filesz - a.filesz);
  const out: Segment[] = [];
  for (const s of sorted) {
    const prev = out[out.length - 1];
    const prevEnd = prev ? prev.paddr + prev.filesz : 0;
    if (!prev || s.paddr >= prevEnd) {
      out.push(s);
      continue;
    }
    const cut = prevEnd - s.paddr;
    if (cut >= s.filesz) continue; // wholly inside the previous one
    out.push({ paddr: prevEnd, offset: s.offset + cut, filesz: s.filesz - cut, present: Math.max(0, s.present - cut) });
  }
  return out;
}

function segmentMemory(f: CoreFileHandle, segments: readonly Segment[]): Pick<PhysicalMemory, 'read' | 'readMany'> {
  const find = (addr: number, length: number) => {
    // Binary search: vmcores have a segment per memory block (hundreds).
    let lo = 0;
    let hi = segments.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = segments[mid];
      if (addr < s.paddr) hi = mid - 1;
      else if (addr >= s.paddr + s.filesz) lo = mid + 1;
      else return addr + length <= s.paddr + s.filesz ? s : undefined;
    }
    return undefined;
  };
  const read = async (addr: PhysAddr, length: number, signal?: AbortSignal): Promise<Uint8Array> => {
    signal?.throwIfAborted();
    const seg = find(addr, length);
    if (!seg) throw new MemoryReadError(addr, length, 'outside-ram', 'not in any memory segment of the core');
    const off = addr - seg.paddr;
    if (off + length > seg.present) throw new MemoryReadError(addr, length, 'truncated', 'the core file is truncated here');
    return f.readUpTo(seg.offset + off, length);
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
  return { read, readMany };
}
