// Compressed kdump cores: makedumpfile's disk_dump_header format ("KDUMP   "), as written by
// makedumpfile -c/-l/-p and by QEMU's dump-guest-memory -z/-l/-s, and the "flattened" stream of
// it (makedumpfile -F; QEMU 7.2 writes its kdump formats this way). Layout, from makedumpfile's
// diskdump_mod.h and QEMU's include/sysemu/dump.h:
//   block 0: disk_dump_header; blocks 1..sub_hdr_size: kdump_sub_header (phys_base, the
//   VMCOREINFO and ELF notes' offsets); then bitmap_blocks of bitmaps: the first half marks the
//   page frames that are RAM, the second the ones written to the dump (makedumpfile -d leaves
//   some RAM out); then one page_desc (offset u64, size u32, flags u32, page_flags u64) per
//   written page in PFN order; then the page data, compressed per page (flags 1 zlib, 2 LZO,
//   4 snappy) or raw (size == block_size).
// Flattened: a 4096-byte header ("makedumpfile", type 1, version 1), then records of
// {offset i64 BE, size i64 BE, data} that place the data at `offset` of the logical file, ended
// by offset -1.
//
// Every header value is checked against the file before use; a bad page descriptor or page data
// fails that page only (a MemoryReadError), so the rest of the dump is still walked.

import zlib from 'node:zlib';
import { PhysAddr, hex, physAddr } from '../addr';
import { archModules } from '../arch';
import { Arch } from '../format';
import { MemoryReadError, RamRange, ReadRequest } from '../memory';
import { CoreFileError, CoreFileHandle, MAX_METADATA_BYTES, openRegularFile } from './coreFile';
import { QemuCore } from './elfCore';
import { lzo1xDecompress } from './lzo';
import { ParsedNotes, emptyNotes, parseNoteSegment } from './notes';

export const KDUMP_SIGNATURE = 'KDUMP   ';
export const FLAT_SIGNATURE = 'makedumpfile';
const FLAT_HEADER_SIZE = 4096;
const DESC_SIZE = 24;
const COMPRESSED_ZLIB = 1;
const COMPRESSED_LZO = 2;
const COMPRESSED_SNAPPY = 4;
const COMPRESSED_ZSTD = 0x20;

/** utsname.machine → architecture (QEMU writes its target's ELF_MACHINE_UNAME, Linux uname -m). */
function archOfMachine(machine: string, is64: boolean): Arch | undefined {
  return archModules().find((a) => a.core.utsMachine(machine, is64))?.arch;
}

/** Opens a compressed kdump core (plain or flattened). */
export async function openKdumpCore(path: string): Promise<QemuCore> {
  const f = await openRegularFile(path);
  try {
    return await parseKdumpFile(f);
  } catch (e) {
    await f.close();
    throw e;
  }
}

/** A kdump core from an open file (the caller closes it on error). */
export async function parseKdumpFile(f: CoreFileHandle): Promise<QemuCore> {
  const head = await f.readUpTo(0, 16);
  const flat = head.subarray(0, FLAT_SIGNATURE.length).toString('latin1') === FLAT_SIGNATURE;
  const logical = flat ? await flattenedView(f) : f;
  return parseKdump(logical, f, flat);
}

/**
 * The logical file a flattened dump describes. Records are indexed once (their headers only);
 * reads are then served from the records that cover them.
 */
async function flattenedView(f: CoreFileHandle): Promise<CoreFileHandle & { warnings: string[] }> {
  const path = f.path;
  const hdr = await f.readExact(0, 32, 'the flattened-format header');
  const type = hdr.readBigInt64BE(16);
  const version = hdr.readBigInt64BE(24);
  if (type !== 1n) throw new CoreFileError(`${path}: flattened-format header type = ${type}, expected 1 (TYPE_FLAT_HEADER)`);
  if (version !== 1n) throw new CoreFileError(`${path}: flattened-format header version = ${version}, expected 1`);
  const logOff: number[] = [];
  const fileOff: number[] = [];
  const sizes: number[] = [];
  const warnings: string[] = [];
  let p = FLAT_HEADER_SIZE;
  let chunk: Buffer = Buffer.alloc(0);
  let chunkAt = 0;
  let ended = false;
  let rec = 0;
  while (p < f.size) {
    if (p + 16 > chunkAt + chunk.length) {
      chunkAt = p;
      chunk = await f.readUpTo(p, 1 << 20);
      if (chunk.length < 16) break;
    }
    const off = chunk.readBigInt64BE(p - chunkAt);
    const size = chunk.readBigInt64BE(p - chunkAt + 8);
    if (off === -1n) {
      ended = true;
      break;
    }
    if (off < 0n || size < 0n || off > BigInt(Number.MAX_SAFE_INTEGER) || size > BigInt(f.size)) {
      throw new CoreFileError(`${path}: flattened record ${rec} at file offset ${p}: offset = ${off}, buf_size = ${size} is out of range`);
    }
    const data = p + 16;
    if (data + Number(size) > f.size) {
      warnings.push(`the flattened dump is truncated: record ${rec} (${size} bytes for logical offset ${off}) is cut at the end of the file`);
      logOff.push(Number(off));
      fileOff.push(data);
      sizes.push(f.size - data);
      break;
    }
    logOff.push(Number(off));
    fileOff.push(data);
    sizes.push(Number(size));
    p = data + Number(size);
    rec++;
  }
  if (!ended && warnings.length === 0) warnings.push('the flattened dump is truncated: its end marker is missing');
  // Later records win over earlier ones for the same bytes (QEMU rewrites nothing, but makedumpfile
  // may); sort by logical offset, stable, keeping file order among equals.
  const order = logOff.map((_, i) => i).sort((a, b) => logOff[a] - logOff[b] || a - b);
  const L = order.map((i) => logOff[i]);
  const F = order.map((i) => fileOff[i]);
  const S = order.map((i) => sizes[i]);
  let size = 0; // a loop, not Math.max(...): a large dump has millions of records
  for (let i = 0; i < L.length; i++) size = Math.max(size, L[i] + S[i]);
  // Last record starting at or before `off`.
  const find = (off: number) => {
    let lo = 0;
    let hi = L.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (L[mid] <= off) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  };
  const readUpTo = async (offset: number, length: number): Promise<Buffer> => {
    const out = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
    let done = 0;
    while (done < out.length) {
      const at = offset + done;
      let i = find(at);
      // Records may leave gaps (never written): those bytes read as missing.
      while (i >= 0 && L[i] + S[i] <= at) i = -1;
      if (i < 0) break;
      const n = Math.min(out.length - done, L[i] + S[i] - at);
      const b = await f.readUpTo(F[i] + (at - L[i]), n);
      b.copy(out, done);
      done += b.length;
      if (b.length < n) break;
    }
    return out.subarray(0, done);
  };
  return {
    path,
    size,
    warnings,
    readUpTo,
    readExact: async (offset, length, what) => {
      if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0 || offset + length > size) {
        throw new CoreFileError(`${path}: ${what} (${length} bytes at offset ${offset}) runs past the end of the dump (${size} bytes)`);
      }
      if (length > MAX_METADATA_BYTES) throw new CoreFileError(`${path}: ${what} is ${length} bytes, more than the ${MAX_METADATA_BYTES} ptview reads in one piece`);
      const b = await readUpTo(offset, length);
      if (b.length < length) throw new CoreFileError(`${path}: ${what} (${length} bytes at offset ${offset}) is not in the flattened dump's records`);
      return b;
    },
    close: () => f.close(),
  };
}

interface Header {
  is64: boolean;
  version: number;
  machine: string;
  blockSize: number;
  subHdrSize: number;
  bitmapBlocks: number;
  maxMapnr: number;
  nrCpus: number;
}

function readHeader(h: Buffer, is64: boolean): Header {
  // DiskDumpHeader64: utsname at 12 (6 × 65), timestamp[22] to 424; 32-bit: timestamp[10] to 412.
  const b = is64 ? 424 : 412;
  const machine = h.subarray(12 + 4 * 65, 12 + 5 * 65).toString('latin1').replace(/\0.*$/s, '');
  return {
    is64,
    version: h.readUInt32LE(8),
    machine,
    blockSize: h.readUInt32LE(b + 4),
    subHdrSize: h.readUInt32LE(b + 8),
    bitmapBlocks: h.readUInt32LE(b + 12),
    maxMapnr: h.readUInt32LE(b + 16),
    nrCpus: h.readUInt32LE(b + 36),
  };
}

/** The architecture the first CORE/NT_PRSTATUS note's size names (bounds-checked, best effort). */
function archOfPrstatus(d: Buffer): Arch | undefined {
  for (let p = 0; p + 12 <= d.length; ) {
    const namesz = d.readUInt32LE(p);
    const descsz = d.readUInt32LE(p + 4);
    const type = d.readUInt32LE(p + 8);
    if (namesz > d.length || descsz > d.length) return undefined;
    const name = d.subarray(p + 12, p + 12 + namesz).toString('latin1').replace(/\0+$/, '');
    // elf_prstatus's size differs per architecture (pr_reg + the 32/64-bit header and pr_fpvalid).
    if (name === 'CORE' && type === 1) return archModules().find((a) => a.core.prstatusSize === descsz)?.arch;
    p += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
  }
  return undefined;
}

const plausibleBlock = (n: number) => n >= 512 && n <= 1 << 20 && (n & (n - 1)) === 0;

async function parseKdump(f: CoreFileHandle & { warnings?: string[] }, file: CoreFileHandle, flat: boolean): Promise<QemuCore> {
  const path = f.path;
  const warnings: string[] = [...(f.warnings ?? [])];
  const raw = await f.readExact(0, 464, 'the disk_dump_header');
  if (raw.subarray(0, 8).toString('latin1') !== KDUMP_SIGNATURE) {
    throw new CoreFileError(`${path}: ${flat ? 'the flattened dump does not hold' : 'is not'} a kdump-compressed dump (signature "${raw.subarray(0, 8).toString('latin1').replace(/[^\x20-\x7e]/g, '.')}", expected "KDUMP   ")`);
  }
  // The header does not say 32 or 64 bit: the layout whose block_size is a page size is the one
  // (QEMU writes the 64-bit header for 32-bit x86 guests of qemu-system-x86_64 too).
  const h64 = readHeader(raw, true);
  const h32 = readHeader(raw, false);
  const is64 = plausibleBlock(h64.blockSize) || !plausibleBlock(h32.blockSize);
  const h = is64 ? h64 : h32;
  const m = h.machine;
  if (h.version < 1 || h.version > 20) throw new CoreFileError(`${path}: header_version = ${h.version} is not a kdump header version (1..6 are defined)`);
  if (!plausibleBlock(h.blockSize)) throw new CoreFileError(`${path}: block_size = ${h.blockSize} is not a page size (a power of two from 512 to 1 MiB)`);
  const B = h.blockSize;
  if (h.subHdrSize === 0 || (1 + h.subHdrSize) * B > f.size) throw new CoreFileError(`${path}: sub_hdr_size = ${h.subHdrSize} blocks ${h.subHdrSize === 0 ? 'leaves no room for the kdump sub-header' : `runs past the end of the dump (${f.size} bytes)`}`);
  if (h.bitmapBlocks === 0 || h.bitmapBlocks % 2 !== 0) throw new CoreFileError(`${path}: bitmap_blocks = ${h.bitmapBlocks} must be a non-zero even number (two bitmaps of equal size)`);
  const bitmapAt = (1 + h.subHdrSize) * B;
  const bitmapBytes = (h.bitmapBlocks / 2) * B;
  if (bitmapAt + 2 * bitmapBytes > f.size) throw new CoreFileError(`${path}: bitmap_blocks = ${h.bitmapBlocks} (${2 * bitmapBytes} bytes at ${bitmapAt}) runs past the end of the dump (${f.size} bytes)`);

  // kdump_sub_header: 64-bit has u64 sizes; 32-bit has u32 phys_base/pfns/sizes and u64 offsets.
  const sub = await f.readExact(B, Math.min(B * h.subHdrSize, 104), 'the kdump_sub_header');
  const u64 = (o: number) => (o + 8 <= sub.length ? sub.readBigUInt64LE(o) : 0n);
  const u32 = (o: number) => (o + 4 <= sub.length ? BigInt(sub.readUInt32LE(o)) : 0n);
  const physBase = is64 ? u64(0) : u32(0);
  const dumpLevel = Number(u32(8 - (is64 ? 0 : 4)));
  const vmcoreinfoOff = is64 ? u64(32) : u64(20);
  const vmcoreinfoSize = is64 ? u64(40) : u32(28);
  const noteOff = is64 ? u64(48) : u64(32);
  const noteSize = is64 ? u64(56) : u32(40);
  let maxMapnr = BigInt(h.maxMapnr);
  if (h.version >= 6) {
    const m64 = is64 ? u64(96) : u64(72);
    if (m64 !== 0n) maxMapnr = m64;
  }
  if (maxMapnr === 0n) throw new CoreFileError(`${path}: max_mapnr = 0: the dump describes no page frames`);
  if (maxMapnr > BigInt(bitmapBytes) * 8n) throw new CoreFileError(`${path}: max_mapnr = ${maxMapnr} needs more bits than the ${bitmapBytes}-byte bitmaps hold`);
  if (maxMapnr * BigInt(B) > 2n ** 53n) throw new CoreFileError(`${path}: max_mapnr = ${maxMapnr} × block_size ${B} ends above 2^53, beyond every physical address ptview handles`);
  const pfns = Number(maxMapnr);

  const notes: ParsedNotes = emptyNotes();
  const section = (off: bigint, size: bigint, field: string): [number, number] | undefined => {
    if (size === 0n) return undefined;
    if (off + size > BigInt(f.size) || off === 0n) throw new CoreFileError(`${path}: ${field} (offset ${off}, size ${size}) runs past the end of the dump (${f.size} bytes)`);
    if (size > BigInt(MAX_METADATA_BYTES)) throw new CoreFileError(`${path}: ${field} size ${size} is larger than the ${MAX_METADATA_BYTES / 1048576} MiB ptview accepts`);
    return [Number(off), Number(size)];
  };
  const noteSection = h.version >= 4 ? section(noteOff, noteSize, 'offset_note/note_size') : undefined;
  const noteData = noteSection ? await f.readExact(noteSection[0], noteSection[1], 'the ELF notes') : undefined;
  // The architecture: from the CPUs' NT_PRSTATUS size (QEMU's arm targets write utsname.machine
  // "Unknown", and 32-bit x86 guests of qemu-system-x86_64 "x86_64"), else from utsname.machine.
  const arch = (noteData && archOfPrstatus(noteData)) ?? archOfMachine(m, is64);
  if (!arch) throw new CoreFileError(`${path}: utsname.machine = "${m}" is not an architecture ptview reads (x86_64, i686, aarch64, riscv64, riscv32), and no NT_PRSTATUS note tells it`);
  if (noteData) parseNoteSegment(noteData, arch, notes, 'the ELF notes of the kdump sub-header', path);
  // Checked even when the notes already hold VMCOREINFO (QEMU points both at the same text).
  const vmcoreinfoSection = h.version >= 3 ? section(vmcoreinfoOff, vmcoreinfoSize, 'offset_vmcoreinfo/size_vmcoreinfo') : undefined;
  if (vmcoreinfoSection && notes.vmcoreinfo === undefined) {
    notes.vmcoreinfo = (await f.readExact(vmcoreinfoSection[0], vmcoreinfoSection[1], 'the VMCOREINFO')).toString('latin1').replace(/\0+$/, '');
  }

  const pfnBytes = Math.ceil(pfns / 8);
  const ramBitmap = await f.readExact(bitmapAt, pfnBytes, 'the first bitmap (RAM page frames)');
  const dumpBitmap = await f.readExact(bitmapAt + bitmapBytes, pfnBytes, 'the second bitmap (dumped page frames)');
  const bit = (bm: Buffer, pfn: number) => (bm[pfn >> 3] >> (pfn & 7)) & 1;

  // Rank index of the second bitmap: descriptors before each 512-frame group.
  const GROUP = 512;
  const rank = new Float64Array(Math.ceil(pfns / GROUP) + 1);
  const POP = new Uint8Array(256).map((_, i) => { let c = 0; for (let x = i; x; x &= x - 1) c++; return c; });
  let dumped = 0;
  for (let g = 0; g * GROUP < pfns; g++) {
    rank[g] = dumped;
    const end = Math.min(pfnBytes, (g + 1) * (GROUP / 8));
    for (let i = g * (GROUP / 8); i < end; i++) dumped += POP[dumpBitmap[i]];
  }
  // Bits past max_mapnr in the last byte must not count.
  for (let pfn = pfns; pfn < pfnBytes * 8; pfn++) if (bit(dumpBitmap, pfn)) dumped--;
  const descAt = (1 + h.subHdrSize + h.bitmapBlocks) * B;
  const descEnd = descAt + dumped * DESC_SIZE;
  if (descEnd > f.size) warnings.push(`the dump is truncated: page descriptors end at ${descEnd} bytes, the dump at ${f.size}; pages past the cut are reported as truncated`);
  const descIndex = (pfn: number) => {
    let n = rank[Math.floor(pfn / GROUP)];
    for (let p = Math.floor(pfn / GROUP) * GROUP; p < pfn; p++) n += bit(dumpBitmap, p);
    return n;
  };

  // RAM ranges: runs of the first bitmap. Frames left out of the dump stay RAM: reading them is
  // "not in the dump", never zeros.
  const ram: RamRange[] = [];
  let excluded = 0;
  for (let pfn = 0; pfn < pfns; ) {
    if (!bit(ramBitmap, pfn)) {
      pfn += (pfn & 7) === 0 && ramBitmap[pfn >> 3] === 0 ? 8 : 1; // holes a byte at a time
      continue;
    }
    const start = pfn;
    while (pfn < pfns && bit(ramBitmap, pfn)) {
      if (!bit(dumpBitmap, pfn)) excluded++;
      pfn++;
    }
    ram.push({ start: physAddr(start * B), end: physAddr(pfn * B), name: 'kdump' });
  }
  if (excluded) warnings.push(`${excluded} RAM page(s) were left out of the dump (dump_level ${dumpLevel}); reads there say "not in the dump"`);

  const pageCache = new Map<number, Promise<Uint8Array | MemoryReadError>>();
  const readPage = async (pfn: number): Promise<Uint8Array | MemoryReadError> => {
    const pa = physAddr(pfn * B);
    const fail = (reason: 'outside-ram' | 'not-dumped' | 'truncated' | 'corrupt', why: string) => new MemoryReadError(pa, B, reason, why);
    if (pfn >= pfns || !bit(ramBitmap, pfn)) return fail('outside-ram', 'not a RAM page frame of the dump');
    if (!bit(dumpBitmap, pfn)) return fail('not-dumped', `not in the dump (page frame ${hex(pfn)} was excluded at dump_level ${dumpLevel})`);
    const idx = descIndex(pfn);
    const at = descAt + idx * DESC_SIZE;
    const d = await f.readUpTo(at, DESC_SIZE);
    if (d.length < DESC_SIZE) return fail('truncated', `the dump is truncated before page descriptor ${idx}`);
    const off = d.readBigUInt64LE(0);
    const size = d.readUInt32LE(8);
    const flags = d.readUInt32LE(12);
    const where = `page descriptor ${idx} (page frame ${hex(pfn)})`;
    if (size === 0 || size > B) return fail('corrupt', `${where}: size = ${size} (a page is at most block_size ${B})`);
    if (off + BigInt(size) > BigInt(f.size)) return fail('truncated', `${where}: offset ${off} + size ${size} is past the end of the dump (${f.size} bytes)`);
    const data = await f.readUpTo(Number(off), size);
    if (data.length < size) return fail('truncated', `${where}: the page data is not in the dump`);
    try {
      if (flags & COMPRESSED_ZLIB) return new Uint8Array(checkLen(zlib.inflateSync(data, { maxOutputLength: B }), B));
      if (flags & COMPRESSED_LZO) return lzo1xDecompress(data, B);
      if (flags & COMPRESSED_SNAPPY) return checkLen(snappyUncompress(data, B), B);
      if (flags & COMPRESSED_ZSTD) return fail('corrupt', `${where}: zstd-compressed pages (makedumpfile -z) are not supported yet`);
      if (flags !== 0) return fail('corrupt', `${where}: flags = ${hex(flags)} names no compression ptview knows (1 zlib, 2 LZO, 4 snappy)`);
      if (size !== B) return fail('corrupt', `${where}: an uncompressed page of ${size} bytes, expected block_size ${B}`);
      return data;
    } catch (e) {
      const kind = flags & COMPRESSED_ZLIB ? 'zlib' : flags & COMPRESSED_LZO ? 'LZO' : 'snappy';
      if (e instanceof MissingPackage) return fail('corrupt', e.message);
      return fail('corrupt', `${where}: the ${kind} data is corrupt (${(e as Error).message})`);
    }
  };
  const page = (pfn: number) => {
    let p = pageCache.get(pfn);
    if (!p) {
      p = readPage(pfn);
      if (pageCache.size > 4096) pageCache.clear();
      pageCache.set(pfn, p);
    }
    return p;
  };

  const read = async (addr: PhysAddr, length: number, signal?: AbortSignal): Promise<Uint8Array> => {
    signal?.throwIfAborted();
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const a = addr + done;
      const pfn = Math.floor(a / B);
      const pg = await page(pfn);
      if (pg instanceof MemoryReadError) throw new MemoryReadError(addr, length, pg.reason, pg.message.replace(/^cannot read \d+ bytes at physical 0x[0-9a-f]+: /, ''));
      const inPage = a - pfn * B;
      const n = Math.min(length - done, B - inPage);
      out.set(pg.subarray(inPage, inPage + n), done);
      done += n;
    }
    return out;
  };
  const readMany = async (reqs: readonly ReadRequest[], signal?: AbortSignal) =>
    Promise.all(reqs.map((r) => read(r.addr, r.length, signal).catch((e: unknown) => (e instanceof MemoryReadError ? e : Promise.reject(e)))));

  const close = () => file.close();
  return {
    path,
    arch,
    format: flat ? 'kdump-flattened' : 'kdump',
    registers: new Map(notes.cpus[0]?.registers ?? []),
    cpus: notes.cpus,
    vmcoreinfo: notes.vmcoreinfo,
    physBase: physBase,
    warnings,
    memory: { ram, read, readMany, close },
    close,
  };
}

function checkLen(b: Uint8Array, want: number): Uint8Array {
  if (b.length !== want) throw new Error(`expands to ${b.length} bytes, expected ${want}`);
  return b;
}

class MissingPackage extends Error {}

type Snappy = { uncompress(b: Uint8Array, maxLength?: number): Uint8Array };
let snappy: Snappy | undefined;
function snappyUncompress(data: Uint8Array, max: number): Uint8Array {
  if (!snappy) {
    try {
      // Loaded on first use: only snappy dumps need it.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      snappy = require('snappyjs') as Snappy;
    } catch {
      throw new MissingPackage('snappy-compressed pages need the npm package snappyjs (npm install snappyjs)');
    }
  }
  return snappy.uncompress(data, max);
}

