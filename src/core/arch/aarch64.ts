// AArch64, everything ptview knows of it apart from decoding descriptors
// (../formats/aarch64.ts): the stage 1 descriptor encoder for simulated edits and the TLBI/DSB/ISB
// policy with break-before-make hazards (Arm ARM D8.3 descriptors, D8.13-D8.16 TLB maintenance),
// the registers a debugger reads, how cores name the architecture (ELF EM_AARCH64, Linux
// elf_prstatus), and Linux arm64's linear map (Documentation/arch/arm64/memory.rst), VMCOREINFO
// root and direct map symbols.
import { hex, sizeLabel } from '../addr';
import { EntryCodec, bit, set } from '../edit/codecs';
import { EntryChange, TlbOp, TlbPlan, anyGlobal, freed, info, leafCount, touching } from '../edit/tlb';
import { AARCH64_REGISTERS, buildAarch64Space } from '../formats/aarch64';
import { Root } from '../space';
import { ArchEdit, LiveRegisters, registerArch } from './registry';

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

/** Arm ARM D8.13-D8.16: TLBI per descriptor (last-level when only a leaf changed), DSB, ISB; BBM. */
function aarch64Plan(root: Root, changes: readonly EntryChange[], ceiling: number): TlbPlan {
  const notes: string[] = [];
  const hazards = freed(changes);
  const el = /el2/i.test(root.name) ? 'e2' : 'e1';
  const asid = el === 'e1' ? info(root, 'ASID') : undefined;
  for (const c of changes) {
    if (c.needsBbm) {
      hazards.push({
        kind: 'break-before-make',
        message: `${c.levelName}[${c.index}] at ${hex(c.va)}: ${c.needsBbm} while valid: write an invalid descriptor, DSB ISH, TLBI, DSB ISH, then the new descriptor (break-before-make${c.why === 'split' ? '; FEAT_BBM level 2 may allow the block split in place' : ''})`,
      });
    }
    if (c.contiguous) hazards.push({ kind: 'contiguous', message: `${c.levelName}[${c.index}] at ${hex(c.va)} is part of a contiguous-hint run: change every entry of the run the same way, or clear the hint on all of them first (break-before-make), or the TLB may hold conflicting entries` });
  }
  const live = touching(changes);
  const ops: TlbOp[] = [];
  if (changes.some((c) => c.beforeKind === 'invalid' && c.afterKind !== 'invalid') && live.length === 0) {
    notes.push('only invalid entries became valid: no TLBI is needed (invalid descriptors are not cached), but DSB ISHST before use and ISB make the new translations visible');
    return { ops: [{ insn: 'dsb ishst', why: 'complete the descriptor writes' }, { insn: 'isb', why: 'synchronise this CPU' }], translations: 0, fullFlush: false, notes, hazards };
  }
  // Counted, not listed: past the ceiling the count is all a full flush needs.
  const n = leafCount(live);
  if (n === 0) return { ops, translations: 0, fullFlush: false, notes, hazards };
  ops.push({ insn: 'dsb ishst', why: 'make the descriptor writes visible to the table walkers before invalidating' });
  if (n > ceiling) {
    const global = anyGlobal(live);
    const insn = el === 'e2' ? 'tlbi alle2is' : !global && asid !== undefined ? `tlbi aside1is, ${hex(BigInt(asid) << 48n)}` : 'tlbi vmalle1is';
    ops.push({ insn, why: `${n} translations > ceiling ${ceiling}` });
  } else {
    for (const c of live) {
      // Only a leaf changed: last-level TLBI; a table entry: the walk caches hold it too.
      const lastLevel = c.beforeKind === 'leaf';
      for (const l of c.oldLeaves) {
        const page = BigInt.asUintN(44, l.va >> 12n);
        const byAsid = el === 'e1' && !l.global && asid !== undefined;
        const name = `tlbi ${lastLevel ? 'va' + (byAsid || el === 'e2' ? 'l' : 'al') : 'va' + (byAsid || el === 'e2' ? '' : 'a')}${el}is`;
        ops.push({ insn: `${name}, ${hex(byAsid ? (BigInt(asid!) << 48n) | page : page)}`, why: `${hex(l.va)} (${sizeLabel(l.size)} ${c.oldLeaves.length === 1 && lastLevel ? 'descriptor' : 'translation below a table'}${l.global ? ', global' : ''})` });
      }
    }
  }
  ops.push({ insn: 'dsb ish', why: 'wait for the invalidation on every CPU in the inner-shareable domain' });
  ops.push({ insn: 'isb', why: 'resynchronise this CPU\'s instruction stream' });
  notes.push('one TLBI per descriptor (a block needs one, not one per page); broadcast (IS) TLBIs reach every CPU, no IPI needed');
  return { ops, translations: n, fullFlush: n > ceiling, notes, hazards };
}

export const aarch64Edit: ArchEdit = {
  codec: (root) => (root.stage !== 2 ? aarch64Codec(root.format.levels.length) : undefined),
  planTlb: (root, changes, ceiling) => aarch64Plan(root, changes, ceiling),
  breakBeforeMake: true,
  // arch/arm64/include/asm/tlbflush.h: __flush_tlb_range flushes the whole ASID from MAX_DVM_OPS
  // (= PTRS_PER_PTE: 512, 2048 or 8192 by granule) pages on, so per page up to one less.
  flushCeiling: (root) => 2 ** root.format.levels[root.format.levels.length - 1].indexBits - 1,
};

// Names as GDB spells them on QEMU (QEMU 7.2 calls the EL1 SCTLR just `SCTLR`; EL2 registers
// exist only with virtualization=on).
const live: LiveRegisters = {
  family: 'aarch64',
  probe: 'TTBR0_EL1',
  label: 'TTBR0_EL1 (AArch64)',
  names: ['TTBR0_EL1', 'TTBR1_EL1', 'TCR_EL1', 'MAIR_EL1', 'SCTLR', 'SCTLR_EL1', 'ID_AA64MMFR0_EL1', 'ID_AA64MMFR1_EL1', 'cpsr',
    'TTBR0_EL2', 'TTBR1_EL2', 'TCR_EL2', 'MAIR_EL2', 'SCTLR_EL2', 'HCR_EL2', 'VTTBR_EL2', 'VTCR_EL2'],
  identify(regs) {
    const cpsr = regs.get('cpsr');
    if (cpsr !== undefined) regs.set('el', (cpsr >> 2n) & 3n); // PSTATE.EL
    if (regs.has('sctlr_el1')) regs.delete('sctlr'); // prefer the architectural name when both exist
    return 'aarch64';
  },
};

const EM_AARCH64 = 183;
const MASK64 = (1n << 64n) - 1n;

registerArch({
  arch: 'aarch64',
  registerNames: AARCH64_REGISTERS,
  rootRegisters: ['ttbr0_el1', 'ttbr1_el1', 'ttbr0_el2', 'vttbr_el2'],
  buildSpace: buildAarch64Space,
  edit: aarch64Edit,
  live,
  // QEMU's arm targets write utsname.machine "Unknown" in kdump headers: the NT_PRSTATUS size
  // (Linux struct elf_prstatus with user_pt_regs: 392 bytes) tells them.
  core: {
    elf: (machine) => machine === EM_AARCH64,
    utsMachine: (machine) => machine === 'aarch64' || machine === 'arm64',
    prstatusSize: 392,
    is64: true,
    gregs: [...Array.from({ length: 31 }, (_, i) => `x${i}`), 'sp', 'pc', 'cpsr'],
    pcRegister: 'pc',
  },
  linux: {
    // memory.rst: the linear map is the region the caller found; other regions move between
    // kernel versions and are not named.
    regions: (_root, _spans, direct) => ({ layout: 'Linux arm64', defs: [[direct.start, direct.end, 'Linear map']] }),
    // PAGE_OFFSET is the lowest address of the TTBR1 range (TCR_EL1.T1SZ); the linear map puts
    // memstart_addr there.
    directMap: [
      {
        expression: '(long)memstart_addr',
        source: 'symbol memstart_addr and PAGE_OFFSET from TCR_EL1.T1SZ',
        offset(memstart, regs) {
          const t1sz = Number((regs.get('tcr_el1') ?? 0n) >> 16n & 0x3fn);
          if (!t1sz) return undefined;
          return ((MASK64 << BigInt(64 - t1sz)) & MASK64) - memstart;
        },
      },
    ],
    // TTBR1_EL1 = SYMBOL(swapper_pg_dir) - NUMBER(kimage_voffset); TCR_EL1.T1SZ from
    // NUMBER(TCR_EL1_T1SZ) or 64 - NUMBER(VA_BITS), the granule from PAGESIZE.
    vmcoreinfoRoots(v) {
      const pgd = v.symbol('swapper_pg_dir');
      const voff = v.number('kimage_voffset');
      const vaBits = v.number('VA_BITS');
      const t1szNum = v.number('TCR_EL1_T1SZ');
      if (pgd === undefined) return { missing: 'VMCOREINFO has no SYMBOL(swapper_pg_dir)' };
      if (voff === undefined) return { missing: 'VMCOREINFO has no NUMBER(kimage_voffset)' };
      if (vaBits === undefined && t1szNum === undefined) return { missing: 'VMCOREINFO has neither NUMBER(VA_BITS) nor NUMBER(TCR_EL1_T1SZ)' };
      const page = Number(v.plain('PAGESIZE') ?? 4096n);
      const tg1 = page === 4096 ? 2n : page === 16384 ? 1n : page === 65536 ? 3n : undefined;
      const tg0 = page === 4096 ? 0n : page === 16384 ? 2n : page === 65536 ? 1n : undefined;
      if (tg1 === undefined || tg0 === undefined) return { missing: `PAGESIZE=${page} is not an AArch64 granule` };
      const t1sz = t1szNum ?? 64n - vaBits!;
      const ttbr1 = (pgd - voff) & MASK64;
      const ips = vaBits === 52n ? 6n : 5n; // 52 or 48 physical bits
      // EPD0=1: VMCOREINFO names no user table, so TTBR0 is not walked.
      const tcr = t1sz | (1n << 7n) | (tg0 << 14n) | (t1sz << 16n) | (tg1 << 30n) | (ips << 32n);
      const phys = v.number('PHYS_OFFSET');
      return {
        registers: new Map([
          ['ttbr1_el1', ttbr1],
          ['tcr_el1', tcr],
        ]),
        note: `root from VMCOREINFO: TTBR1_EL1 = SYMBOL(swapper_pg_dir) ${hex(pgd)} - NUMBER(kimage_voffset) ${hex(voff)} = ${hex(ttbr1)}; TCR_EL1 ${hex(tcr)} built from ${t1szNum !== undefined ? `NUMBER(TCR_EL1_T1SZ)=${t1sz}` : `NUMBER(VA_BITS)=${vaBits}`} and PAGESIZE=${page} (TTBR0 not walked: VMCOREINFO has no user table)${phys !== undefined ? `; PHYS_OFFSET ${hex(phys)}` : ''}${v.kaslrNote}`,
      };
    },
  },
});
