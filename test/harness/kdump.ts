// Test-side kdump tools around QEMU's own compressed dumps (makedumpfile's disk_dump_header
// format, written flattened by QEMU 7.2):
// - unflatten(): what `makedumpfile -R` does, applying the flattened records to a plain file;
// - recompress(): the same dump with every page recompressed by another codec (LZO by the LZO
//   library itself through Debian's python3-lzo, snappy by snappyjs), optionally with pages left
//   out of the second bitmap as `makedumpfile -d` does. Debian's QEMU 7.2 is built without LZO
//   and snappy (`query-dump-guest-memory-capability` lists only elf and kdump-zlib), so -l/-s
//   dumps are rebuilt from QEMU's -z dump here.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import zlib from 'node:zlib';

export function unflatten(src: string, dst: string): void {
  const b = fs.readFileSync(src);
  if (b.subarray(0, 12).toString('latin1') !== 'makedumpfile') throw new Error(`${src} is not a flattened dump`);
  const parts: [number, Buffer][] = [];
  let size = 0;
  for (let p = 4096; p + 16 <= b.length; ) {
    const off = b.readBigInt64BE(p);
    const n = Number(b.readBigInt64BE(p + 8));
    if (off === -1n) break;
    parts.push([Number(off), b.subarray(p + 16, p + 16 + n)]);
    size = Math.max(size, Number(off) + n);
    p += 16 + n;
  }
  const out = Buffer.alloc(size);
  for (const [off, data] of parts) data.copy(out, off);
  fs.writeFileSync(dst, out);
}

export interface KdumpLayout {
  blockSize: number;
  subHdrSize: number;
  bitmapBlocks: number;
  maxMapnr: number;
  bitmapAt: number;
  descAt: number;
  /** Dumped PFNs in order (the i-th descriptor's frame). */
  dumped: number[];
}

/** The layout of a plain (unflattened) 64-bit kdump. */
export function layout(b: Buffer): KdumpLayout {
  const blockSize = b.readUInt32LE(428);
  const subHdrSize = b.readUInt32LE(432);
  const bitmapBlocks = b.readUInt32LE(436);
  const version = b.readUInt32LE(8);
  let maxMapnr = b.readUInt32LE(440);
  if (version >= 6) maxMapnr = Number(b.readBigUInt64LE(blockSize + 96)) || maxMapnr;
  const bitmapAt = (1 + subHdrSize) * blockSize;
  const half = (bitmapBlocks / 2) * blockSize;
  const dumped: number[] = [];
  for (let pfn = 0; pfn < maxMapnr; pfn++) if ((b[bitmapAt + half + (pfn >> 3)] >> (pfn & 7)) & 1) dumped.push(pfn);
  return { blockSize, subHdrSize, bitmapBlocks, maxMapnr, bitmapAt, descAt: bitmapAt + bitmapBlocks * blockSize, dumped };
}

/** Every dumped page's bytes, decoded from QEMU's zlib or raw pages. */
export function pages(b: Buffer, l: KdumpLayout = layout(b)): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  l.dumped.forEach((pfn, i) => {
    const d = l.descAt + i * 24;
    const off = Number(b.readBigUInt64LE(d));
    const size = b.readUInt32LE(d + 8);
    const flags = b.readUInt32LE(d + 12);
    const data = b.subarray(off, off + size);
    out.set(pfn, flags & 1 ? zlib.inflateSync(data) : Buffer.from(data));
  });
  return out;
}

function lzoCompressAll(pagesIn: Buffer[]): Buffer[] {
  // One python3 process for all pages: 4-byte little-endian length + data, in and out.
  const script = 'import lzo,sys,struct\nd=sys.stdin.buffer.read();o=[];p=0\nwhile p<len(d):\n n=struct.unpack("<I",d[p:p+4])[0];c=lzo.compress(d[p+4:p+4+n],1,False);o.append(struct.pack("<I",len(c))+c);p+=4+n\nsys.stdout.buffer.write(b"".join(o))';
  const input = Buffer.concat(pagesIn.flatMap((p) => [Buffer.from(new Uint32Array([p.length]).buffer), p]));
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`python3-lzo failed (install Debian's python3-lzo; node scripts/ensure-deps.js does): ${r.stderr}`);
  const out: Buffer[] = [];
  for (let p = 0; p < r.stdout.length; ) {
    const n = r.stdout.readUInt32LE(p);
    out.push(r.stdout.subarray(p + 4, p + 4 + n));
    p += 4 + n;
  }
  return out;
}

/**
 * Writes `dst`: the plain kdump `src` with every page stored by `codec` (flags 1 zlib, 2 LZO,
 * 4 snappy; a page that does not shrink is stored raw, as makedumpfile and QEMU do), without the
 * frames `exclude` names in the second bitmap.
 */
export function recompress(src: string, dst: string, codec: 'zlib' | 'lzo' | 'snappy', exclude: (pfn: number) => boolean = () => false): void {
  const b = fs.readFileSync(src);
  const l = layout(b);
  const all = pages(b, l);
  const keep = l.dumped.filter((pfn) => !exclude(pfn));
  const plain = keep.map((pfn) => all.get(pfn)!);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const packed = codec === 'lzo' ? lzoCompressAll(plain) : codec === 'snappy' ? plain.map((p) => Buffer.from(require('snappyjs').compress(p))) : plain.map((p) => zlib.deflateSync(p));
  const flag = { zlib: 1, lzo: 2, snappy: 4 }[codec];
  const head = Buffer.from(b.subarray(0, l.descAt));
  const half = (l.bitmapBlocks / 2) * l.blockSize;
  for (const pfn of l.dumped) if (exclude(pfn)) head[l.bitmapAt + half + (pfn >> 3)] &= ~(1 << (pfn & 7));
  const descs = Buffer.alloc(keep.length * 24);
  let dataAt = Math.ceil((l.descAt + descs.length) / l.blockSize) * l.blockSize;
  const chunks: Buffer[] = [];
  const pad = Buffer.alloc(dataAt - l.descAt - descs.length);
  keep.forEach((_, i) => {
    const raw = packed[i].length >= l.blockSize;
    const data = raw ? plain[i] : packed[i];
    descs.writeBigUInt64LE(BigInt(dataAt), i * 24);
    descs.writeUInt32LE(data.length, i * 24 + 8);
    descs.writeUInt32LE(raw ? 0 : flag, i * 24 + 12);
    chunks.push(data);
    dataAt += data.length;
  });
  fs.writeFileSync(dst, Buffer.concat([head, descs, pad, ...chunks]));
}

/**
 * Rewrites a QEMU ELF64 core as a Linux /proc/vmcore-style one: the same PT_LOAD segments and
 * NT_PRSTATUS notes, QEMU's CPU-state notes (the control registers) dropped, and a VMCOREINFO
 * note with `vmcoreinfo` added, so the paging root can only come from VMCOREINFO.
 */
export function asLinuxVmcore(src: string, dst: string, vmcoreinfo: string, kernelText?: { paddr: bigint; size: number }): void {
  const b = fs.readFileSync(src);
  const phoff = Number(b.readBigUInt64LE(32));
  const phnum = b.readUInt16LE(56);
  const loads: { paddr: bigint; data: Buffer }[] = [];
  const kept: Buffer[] = [];
  const align4 = (n: number) => (n + 3) & ~3;
  for (let i = 0; i < phnum; i++) {
    const h = phoff + i * 56;
    const type = b.readUInt32LE(h);
    const off = Number(b.readBigUInt64LE(h + 8));
    const size = Number(b.readBigUInt64LE(h + 32));
    if (type === 1) loads.push({ paddr: b.readBigUInt64LE(h + 24), data: b.subarray(off, off + size) });
    if (type !== 4) continue;
    for (let p = off; p + 12 <= off + size; ) {
      const namesz = b.readUInt32LE(p);
      const descsz = b.readUInt32LE(p + 4);
      const end = p + 12 + align4(namesz) + align4(descsz);
      const name = b.subarray(p + 12, p + 12 + namesz).toString('latin1').replace(/\0+$/, '');
      if (name !== 'QEMU') kept.push(b.subarray(p, end));
      p = end;
    }
  }
  // Linux's /proc/vmcore starts with a PT_LOAD for the kernel text, overlapping System RAM.
  if (kernelText) {
    const ram = loads.find((l) => l.paddr <= kernelText.paddr && kernelText.paddr + BigInt(kernelText.size) <= l.paddr + BigInt(l.data.length))!;
    const from = Number(kernelText.paddr - ram.paddr);
    loads.unshift({ paddr: kernelText.paddr, data: Buffer.from(ram.data.subarray(from, from + kernelText.size)) });
  }
  const name = Buffer.from('VMCOREINFO\0');
  const desc = Buffer.from(vmcoreinfo, 'latin1');
  const vh = Buffer.alloc(12);
  vh.writeUInt32LE(name.length, 0);
  vh.writeUInt32LE(desc.length, 4);
  const vnote = Buffer.concat([vh, name, Buffer.alloc(align4(name.length) - name.length), desc, Buffer.alloc(align4(desc.length) - desc.length)]);
  const notes = Buffer.concat([...kept, vnote]);
  const n = 1 + loads.length;
  const eh = Buffer.from(b.subarray(0, 64));
  eh.writeBigUInt64LE(64n, 32); // e_phoff
  eh.writeBigUInt64LE(0n, 40); // no section headers
  eh.writeUInt16LE(56, 54);
  eh.writeUInt16LE(n, 56);
  eh.writeUInt16LE(0, 58);
  eh.writeUInt16LE(0, 60);
  eh.writeUInt16LE(0, 62);
  const ph = Buffer.alloc(56 * n);
  let at = 64 + ph.length;
  const put = (i: number, type: number, off: number, paddr: bigint, size: number) => {
    ph.writeUInt32LE(type, i * 56);
    ph.writeBigUInt64LE(BigInt(off), i * 56 + 8);
    ph.writeBigUInt64LE(paddr, i * 56 + 24);
    ph.writeBigUInt64LE(BigInt(size), i * 56 + 32);
    ph.writeBigUInt64LE(BigInt(size), i * 56 + 40);
  };
  put(0, 4, at, 0n, notes.length);
  at += notes.length;
  loads.forEach((l, i) => {
    put(i + 1, 1, at, l.paddr, l.data.length);
    at += l.data.length;
  });
  fs.writeFileSync(dst, Buffer.concat([eh, ph, notes, ...loads.map((l) => l.data)]));
}

/**
 * Writes `dst`: the QEMU core `src` (ELF, or kdump plain or flattened) with QEMU's own CPU-state
 * notes (name "QEMU", type 0: x86 CR0–CR4, target/i386/arch_dump.c) renamed to "HIDE", so a reader
 * skips them as an unknown vendor note and the core carries only NT_PRSTATUS and VMCOREINFO, as a
 * kdump kernel's /proc/vmcore does. Everything else is byte for byte the same. Notes are looked
 * for in the first 64 KiB only (the headers: QEMU writes the notes before any page); returns how
 * many were renamed.
 */
export function hideQemuNotes(src: string, dst: string): number {
  const b = fs.readFileSync(src);
  const head = b.subarray(0, Math.min(b.length, 64 << 10));
  let n = 0;
  for (let p = head.indexOf('QEMU\0', 12, 'latin1'); p >= 0; p = head.indexOf('QEMU\0', p + 1, 'latin1')) {
    if (head.readUInt32LE(p - 12) !== 5 || head.readUInt32LE(p - 4) !== 0) continue; // namesz 5, type 0
    head.write('HIDE', p, 'latin1');
    n++;
  }
  fs.writeFileSync(dst, b);
  return n;
}

/** The text of the ELF note `note` (a whole note: header, name, desc) when it is VMCOREINFO. */
export function vmcoreinfoText(note: Buffer): string {
  const namesz = note.readUInt32LE(0);
  const descsz = note.readUInt32LE(4);
  const name = note.subarray(12, 12 + namesz).toString('latin1').replace(/\0+$/, '');
  if (name !== 'VMCOREINFO') throw new Error(`not a VMCOREINFO note: name ${JSON.stringify(name)}`);
  const desc = 12 + ((namesz + 3) & ~3);
  return note.subarray(desc, desc + descsz).toString('latin1').replace(/\0+$/, '');
}

/**
 * Writes `dst`: the kdump `src` (plain or flattened) with `vmcoreinfo` as its VMCOREINFO, stored
 * after the last byte (block-aligned) and pointed to by the sub-header's offset_vmcoreinfo /
 * size_vmcoreinfo (at 32 and 40 of the 64-bit kdump_sub_header, makedumpfile's diskdump_mod.h),
 * as makedumpfile writes it from the vmcore it reads. For guests whose QEMU cannot take
 * -device vmcoreinfo; the text is the kernel's own note, read from its RAM.
 */
export function addKdumpVmcoreinfo(src: string, dst: string, vmcoreinfo: string): void {
  const b = fs.readFileSync(src);
  const text = Buffer.from(vmcoreinfo, 'latin1');
  const u64 = (v: number) => {
    const x = Buffer.alloc(8);
    x.writeBigUInt64LE(BigInt(v));
    return x;
  };
  if (b.subarray(0, 12).toString('latin1') !== 'makedumpfile') {
    const blockSize = b.readUInt32LE(428);
    const at = Math.ceil(b.length / blockSize) * blockSize;
    const out = Buffer.concat([b, Buffer.alloc(at - b.length), text]);
    u64(at).copy(out, blockSize + 32);
    u64(text.length).copy(out, blockSize + 40);
    fs.writeFileSync(dst, out);
    return;
  }
  // Flattened: records of (offset, size) big-endian then the data; offset -1 ends them.
  const recs: { data: number; off: number; n: number }[] = [];
  let end = 0;
  let p = 4096;
  while (p + 16 <= b.length && b.readBigInt64BE(p) !== -1n) {
    const off = Number(b.readBigInt64BE(p));
    const n = Number(b.readBigInt64BE(p + 8));
    recs.push({ data: p + 16, off, n });
    end = Math.max(end, off + n);
    p += 16 + n;
  }
  const out = Buffer.from(b);
  // Later records win where they overlap, as when the file is unflattened.
  const fileAt = (x: number) => {
    const r = [...recs].reverse().find((q) => q.off <= x && x < q.off + q.n);
    if (!r) throw new Error(`${src}: no flattened record holds dump offset ${x}`);
    return r.data + (x - r.off);
  };
  const blockSize = Buffer.from([0, 1, 2, 3].map((i) => b[fileAt(428 + i)])).readUInt32LE(0);
  const at = Math.ceil(end / blockSize) * blockSize;
  const put = (x: number, v: Buffer) => v.forEach((byte, i) => (out[fileAt(x + i)] = byte));
  put(blockSize + 32, u64(at));
  put(blockSize + 40, u64(text.length));
  const hdr = Buffer.alloc(16);
  hdr.writeBigInt64BE(BigInt(at), 0);
  hdr.writeBigInt64BE(BigInt(text.length), 8);
  fs.writeFileSync(dst, Buffer.concat([out.subarray(0, p), hdr, text, out.subarray(p)]));
}
