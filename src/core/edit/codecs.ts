// Entry encoders for simulated edits, one per architecture. The formats in ../formats decode; these
// only build raw descriptors. Every encoding is checked by decoding it with the root's format
// (see simulator.ts), so a codec never has to know register context (NXE, granule, MAIR).
import { Root } from '../space';

/** Rights of a new or re-protected mapping: x = execute at the privilege that owns the page. */
export interface EditRights {
  write: boolean;
  exec: boolean;
  /** User (CPL3 / EL0 / U-mode) page: `exec` then means user execute. */
  user: boolean;
}

export interface LeafSpec {
  rights: EditRights;
  global: boolean;
}

export interface EntryCodec {
  /** A table descriptor that restricts nothing (the leaf decides), as Linux's _PAGE_TABLE. */
  table(pa: number, level: number): bigint;
  leaf(pa: number, level: number, spec: LeafSpec): bigint;
  /** Memory-type encodings of a leaf (the simulator keeps the one that decodes to the wanted type). */
  memTypeVariants(raw: bigint, level: number): bigint[];
  /** The same leaf one level down (splitting a block): same attributes, new PA. */
  relevel(raw: bigint, from: number, to: number, pa: number): bigint;
  /** A leaf with some rights changed, other bits kept. */
  withRights(raw: bigint, level: number, r: Partial<EditRights>, user: boolean): bigint;
  isGlobal(raw: bigint, level: number): boolean;
  /** AArch64 contiguous hint / RISC-V Svnapot: entries that must change together. */
  isContiguous(raw: bigint): boolean;
}

const bit = (n: number) => 1n << BigInt(n);
const set = (raw: bigint, b: bigint, on: boolean) => (on ? raw | b : raw & ~b);

// Intel SDM vol. 3 §4.5, tables 4-14 to 4-20.
function x86Codec(levels: number): EntryCodec {
  const P = bit(0), RW = bit(1), US = bit(2), PWT = bit(3), PCD = bit(4), A = bit(5), D = bit(6), PS = bit(7), G = bit(8), NX = bit(63);
  const ADDR = ((1n << 52n) - 1n) & ~0xfffn;
  const last = levels - 1;
  const patBit = (level: number) => (level === last ? bit(7) : bit(12));
  return {
    table: (pa) => BigInt(pa) | P | RW | US | A,
    leaf(pa, level, s) {
      let raw = BigInt(pa) | P | A | (level < last ? PS : 0n);
      if (s.rights.write) raw |= RW | D;
      if (s.rights.user) raw |= US;
      if (!s.rights.exec) raw |= NX;
      if (s.global) raw |= G;
      return raw;
    },
    memTypeVariants(raw, level) {
      const base = raw & ~(PWT | PCD | patBit(level));
      return [0, 1, 2, 3, 4, 5, 6, 7].map((i) => base | (i & 1 ? PWT : 0n) | (i & 2 ? PCD : 0n) | (i & 4 ? patBit(level) : 0n));
    },
    relevel(raw, from, to, pa) {
      let r = raw & ~ADDR & ~patBit(from);
      if ((raw & patBit(from)) !== 0n) r |= patBit(to);
      if (to === last) r &= ~PS;
      return r | BigInt(pa);
    },
    withRights(raw, _level, r, user) {
      let out = raw;
      if (r.write !== undefined) out = set(out, RW, r.write);
      if (r.user !== undefined) out = set(out, US, r.user);
      if (r.exec !== undefined) out = set(out, NX, !r.exec);
      void user;
      return out;
    },
    isGlobal: (raw) => (raw & G) !== 0n,
    isContiguous: () => false,
  };
}

// Arm ARM D8.3 (VMSAv8-64 descriptors), stage 1.
function aarch64Codec(levels: number): EntryCodec {
  const V = bit(0), T = bit(1), AP1 = bit(6), AP2 = bit(7), SH_IS = 3n << 8n, AF = bit(10), NG = bit(11), CONT = bit(52), PXN = bit(53), UXN = bit(54);
  const ATTR = 7n << 2n;
  const ADDR = ((1n << 48n) - 1n) & ~0xfffn;
  const last = levels - 1;
  const xn = (raw: bigint, exec: boolean, user: boolean) => set(set(raw, PXN, !(exec && !user)), UXN, !(exec && user));
  const ap = (raw: bigint, write: boolean, user: boolean) => set(set(raw, AP2, !write), AP1, user);
  return {
    table: (pa) => BigInt(pa) | V | T,
    leaf(pa, level, s) {
      let raw = BigInt(pa) | V | (level === last ? T : 0n) | AF | SH_IS;
      raw = ap(raw, s.rights.write, s.rights.user);
      raw = xn(raw, s.rights.exec, s.rights.user);
      if (!s.global) raw |= NG;
      return raw;
    },
    memTypeVariants: (raw) => [0, 1, 2, 3, 4, 5, 6, 7].map((i) => (raw & ~ATTR) | (BigInt(i) << 2n)),
    relevel(raw, _from, to, pa) {
      let r = (raw & ~ADDR & ~CONT) | BigInt(pa);
      r = to === last ? r | T : r & ~T;
      return r;
    },
    withRights(raw, _level, r, user) {
      const u = r.user ?? user;
      const write = r.write ?? (raw & AP2) === 0n;
      const exec = r.exec ?? (user ? (raw & UXN) === 0n : (raw & PXN) === 0n);
      return xn(ap(raw, write, u), exec, u);
    },
    isGlobal: (raw) => (raw & NG) === 0n,
    isContiguous: (raw) => (raw & CONT) !== 0n,
  };
}

// RISC-V privileged spec §4.3-4.5 (Sv32/39/48/57 PTE), Svnapot bit 63, Svpbmt bits 62:61.
function riscvCodec(): EntryCodec {
  const V = bit(0), R = bit(1), W = bit(2), X = bit(3), U = bit(4), G = bit(5), A = bit(6), D = bit(7), N = bit(63);
  const PPN = ((1n << 54n) - 1n) & ~0x3ffn;
  const pte = (pa: number) => (BigInt(pa) >> 12n) << 10n;
  return {
    table: (pa) => pte(pa) | V,
    leaf(pa, _level, s) {
      let raw = pte(pa) | V | R | A;
      if (s.rights.write) raw |= W | D;
      if (s.rights.exec) raw |= X;
      if (s.rights.user) raw |= U;
      if (s.global) raw |= G;
      return raw;
    },
    memTypeVariants: (raw) => [0n, 1n, 2n].map((i) => (raw & ~(3n << 61n)) | (i << 61n)),
    relevel: (raw, _from, _to, pa) => (raw & ~PPN & ~N) | pte(pa),
    withRights(raw, _level, r) {
      let out = raw;
      if (r.write !== undefined) out = set(set(out, W, r.write), D, r.write || (out & D) !== 0n);
      if (r.exec !== undefined) out = set(out, X, r.exec);
      if (r.user !== undefined) out = set(out, U, r.user);
      return out;
    },
    isGlobal: (raw) => (raw & G) !== 0n,
    isContiguous: (raw) => (raw & N) !== 0n,
  };
}

export class EditError extends Error {
  override name = 'EditError';
}

/** The encoder for a root, or an EditError saying which formats can be edited. */
export function codecFor(root: Root): EntryCodec {
  const f = root.format;
  if (f.arch === 'x86_64') return x86Codec(f.levels.length);
  if (f.arch === 'aarch64' && root.stage !== 2) return aarch64Codec(f.levels.length);
  if (f.arch === 'riscv64' || f.arch === 'riscv32') return riscvCodec();
  throw new EditError(`simulated edits support x86_64 (4/5-level), AArch64 stage 1 and RISC-V; not ${f.arch} ${f.mode}`);
}
