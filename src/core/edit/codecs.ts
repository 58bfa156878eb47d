// Entry encoders for simulated edits: the contract (each architecture's encoder lives in
// ../arch/<arch>.ts). The formats in ../formats decode; encoders only build raw descriptors. Every encoding is checked by decoding it with the root's format
// (see simulator.ts), so a codec never has to know register context (NXE, granule, MAIR).
import { archEdit } from '../arch';
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

export const bit = (n: number) => 1n << BigInt(n);
export const set = (raw: bigint, b: bigint, on: boolean) => (on ? raw | b : raw & ~b);

export class EditError extends Error {
  override name = 'EditError';
}

/** The encoder for a root, or an EditError saying which formats can be edited. */
export function codecFor(root: Root): EntryCodec {
  const c = archEdit(root)?.codec(root);
  if (!c) throw new EditError(`simulated edits support x86_64 (4/5-level), AArch64 stage 1 and RISC-V; not ${root.format.arch} ${root.format.mode}`);
  return c;
}
