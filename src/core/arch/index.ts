// The architecture modules of simulated edits: each architecture's descriptor encoder and TLB
// maintenance policy live in one file (x86.ts, aarch64.ts, riscv.ts); callers reach them through
// archEdit(root), the only place that maps an architecture to its module.
import { Arch } from '../format';
import { EntryChange, TlbPlan } from '../edit/tlb';
import { EntryCodec } from '../edit/codecs';
import { Root } from '../space';

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

const modules = new Map<Arch, ArchEdit>();

export function registerArchEdit(arches: readonly Arch[], m: ArchEdit): void {
  for (const a of arches) modules.set(a, m);
}

export function archEdit(root: Root): ArchEdit | undefined {
  return modules.get(root.format.arch);
}

import './x86';
import './aarch64';
import './riscv';
