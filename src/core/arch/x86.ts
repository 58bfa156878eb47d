// x86 (Intel SDM vol. 3 §4.5, §4.10.4): the descriptor encoder for simulated edits, the TLB
// maintenance policy (INVLPG per page, CR3 reload / INVPCID beyond Linux's
// tlb_single_page_flush_ceiling of 33), in one module. Decoding is ../formats/x86.ts.
import { hex, sizeLabel } from '../addr';
import { EntryCodec, bit, set } from '../edit/codecs';
import { EntryChange, TlbPlan, anyGlobal, freed, info, leafCount, leavesOf, touching } from '../edit/tlb';
import { Root } from '../space';
import { ArchEdit, registerArchEdit } from './index';

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

/** Intel SDM vol. 3 §4.10.4: INVLPG per page (also drops paging-structure caches), or a full flush. */
function x86Plan(root: Root, changes: readonly EntryChange[], ceiling: number): TlbPlan {
  const notes: string[] = [];
  const hazards = freed(changes);
  const live = touching(changes);
  const optional = live.filter((c) => c.upgradeOnly);
  if (optional.length) notes.push(`${optional.length} entries only gained rights: no invalidation is required (a stale entry causes at most one spurious page fault, which re-walks; Linux's flush_tlb_fix_spurious_fault)`);
  // Counted before they are listed: a full flush (a large unmap) needs only the count.
  const required = live.filter((c) => !c.upgradeOnly);
  const n = leafCount(required);
  if (changes.some((c) => c.beforeKind === 'invalid' && c.afterKind !== 'invalid')) notes.push('entries that were not present need no invalidation: x86 never caches a not-present translation');
  const pcid = info(root, 'PCID');
  if (n === 0) return { ops: [], translations: 0, fullFlush: false, notes, hazards };
  if (pcid !== undefined) notes.push(`INVLPG acts on PCID ${pcid} (and global entries) only: other PCIDs using these tables (e.g. KPTI's user PCID) need INVPCID type 0 per address or a flush of that PCID`);
  if (changes.some((c) => c.beforeKind === 'table')) notes.push('a table entry changed: every INVLPG also drops the paging-structure caches of the current PCID (SDM 4.10.4.1)');
  notes.push('run on every CPU that may use this address space (IPI shootdown), after the entry writes');
  if (n > ceiling) {
    const global = anyGlobal(required);
    const op = global
      ? { insn: 'invpcid type 2 (or toggle CR4.PGE)', why: `${n} translations > ceiling ${ceiling}, some global: a CR3 reload would keep global entries` }
      : { insn: 'mov cr3, cr3', why: `${n} translations > ceiling ${ceiling} (Linux x86 tlb_single_page_flush_ceiling): reload CR3 to flush all non-global entries` };
    return { ops: [op], translations: n, fullFlush: true, notes, hazards };
  }
  const leaves = leavesOf(required);
  const ops = leaves.map((l) => ({ insn: `invlpg [${hex(l.va)}]`, why: `${sizeLabel(l.size)} page${l.global ? ' (global)' : ''}` }));
  return { ops, translations: leaves.length, fullFlush: false, notes, hazards };
}

export const x86Edit: ArchEdit = {
  codec: (root) => (root.format.arch === 'x86_64' ? x86Codec(root.format.levels.length) : undefined),
  planTlb: (root, changes, ceiling) => x86Plan(root, changes, ceiling),
  // arch/x86/mm/tlb.c: tlb_single_page_flush_ceiling = 33; a full flush when more.
  flushCeiling: () => 33,
};
registerArchEdit(['x86_64', 'x86'], x86Edit);
