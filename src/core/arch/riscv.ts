// RISC-V (privileged spec §4.3-4.5 PTEs, §4.2.1 SFENCE.VMA; Svnapot, Svpbmt): the PTE encoder
// for simulated edits and the fence policy (per page by ASID, rs2=zero for global translations,
// rs1=zero when a non-leaf changed or beyond Linux's tlb_flush_all_threshold of 64), in one
// module. Decoding is ../formats/riscv.ts.
import { hex, sizeLabel } from '../addr';
import { EntryCodec, bit, set } from '../edit/codecs';
import { EntryChange, OldLeaf, TlbPlan, freed, info } from '../edit/tlb';
import { Root } from '../space';
import { ArchEdit, registerArchEdit } from './index';

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

/** RISC-V privileged spec §4.2.1: SFENCE.VMA after every PTE change, rs1=x0 when a non-leaf changed. */
function riscvPlan(root: Root, changes: readonly EntryChange[], ceiling: number, newGlobal: boolean): TlbPlan {
  const notes: string[] = [];
  const hazards = freed(changes);
  const asid = info(root, 'ASID');
  const changed = changes.filter((c) => c.before !== c.after);
  if (changed.length === 0) return { ops: [], translations: 0, fullFlush: false, notes, hazards };
  const nonLeaf = changed.some((c) => c.beforeKind === 'table' || c.afterKind === 'table');
  // New leaves count too: a hart may have cached the invalid PTE (unless Svvptc).
  const vas: OldLeaf[] = changed.flatMap((c) => (c.oldLeaves.length ? c.oldLeaves : c.afterKind === 'leaf' ? [{ va: c.va, size: Number(c.end - c.va), global: false }] : []));
  const anyGlobal = newGlobal || vas.some((l) => l.global);
  const rs2 = anyGlobal || asid === undefined ? 'zero' : `${asid}`;
  if (changes.some((c) => c.beforeKind === 'invalid')) notes.push('invalid→valid changes also need the fence (a hart may cache invalid PTEs) unless the hart implements Svvptc');
  if (anyGlobal) notes.push('global mappings: rs2 must be zero (an ASID-specific fence does not affect global mappings)');
  notes.push('SFENCE.VMA is local: other harts need a remote fence (SBI rfence / IPI)');
  if (nonLeaf || vas.length > ceiling) {
    return {
      ops: [{ insn: `sfence.vma zero, ${rs2}`, why: nonLeaf ? 'a non-leaf PTE changed: only rs1=zero orders every level of the tables' : `${vas.length} pages > ceiling ${ceiling}` }],
      translations: vas.length, fullFlush: true, notes, hazards,
    };
  }
  return { ops: vas.map((l) => ({ insn: `sfence.vma ${hex(l.va)}, ${l.global ? 'zero' : rs2}`, why: `${sizeLabel(l.size)} page` })), translations: vas.length, fullFlush: false, notes, hazards };
}

export const riscvEdit: ArchEdit = {
  codec: () => riscvCodec(),
  planTlb: (root, changes, ceiling, newGlobal) => riscvPlan(root, changes, ceiling, newGlobal),
  // arch/riscv/mm/tlbflush.c: tlb_flush_all_threshold = 64; a full flush when more.
  flushCeiling: () => 64,
  // Svnapot: a leaf PTE with N=1 at the 4 KiB level is one of 16 covering 64 KiB.
  napotGroup: (raw, level, lastLevel) => ((raw >> 63n) & 1n && level === lastLevel ? 16 : undefined),
};
registerArchEdit(['riscv64', 'riscv32'], riscvEdit);
