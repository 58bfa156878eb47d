// RISC-V (RV32 and RV64), everything ptview knows of it apart from decoding PTEs
// (../formats/riscv.ts): the PTE encoder for simulated edits and the fence policy (privileged spec
// §4.3-4.5 PTEs, §4.2.1 SFENCE.VMA; Svnapot, Svpbmt: per page by ASID, rs2=zero for global
// translations, rs1=zero when a non-leaf changed or beyond Linux's tlb_flush_all_threshold of 64),
// the registers a debugger reads, how cores name the architecture (ELF EM_RISCV, Linux
// elf_prstatus), and Linux riscv64's layout (Documentation/arch/riscv/vm-layout.rst), VMCOREINFO
// root and direct map symbol.
import { hex, sizeLabel } from '../addr';
import { EntryCodec, bit, set } from '../edit/codecs';
import { EntryChange, OldLeaf, TlbPlan, freed, info } from '../edit/tlb';
import { RISCV_REGISTERS, buildRiscvSpace } from '../formats/riscv';
import { Root } from '../space';
import { ArchEdit, ArchModule, CoreFacts, LinuxFacts, LiveRegisters, registerArch } from './registry';

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

// Names as GDB spells them on QEMU; priv is QEMU's virtual privilege-level register.
const live: LiveRegisters = {
  family: 'riscv',
  probe: 'satp',
  label: 'satp (RISC-V)',
  names: ['satp', 'sstatus', 'mstatus', 'priv'],
  // The registers look alike on RV32 and RV64: XLEN is the PC's width.
  needsPcBytes: true,
  identify: (_regs, pcBytes) => (pcBytes === 4n ? 'riscv32' : 'riscv64'),
};

const EM_RISCV = 243;
const MASK64 = (1n << 64n) - 1n;
// pr_reg: Linux user_regs_struct (pc first, then x1-x31 by ABI name), XLEN bits each.
const GREGS = ['pc', 'ra', 'sp', 'gp', 'tp', 't0', 't1', 't2', 's0', 's1', 'a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 't3', 't4', 't5', 't6'];
const core = (is64: boolean): CoreFacts => ({
  elf: (machine, elfClass) => machine === EM_RISCV && (elfClass === 2) === is64,
  utsMachine: (machine) => machine === (is64 ? 'riscv64' : 'riscv32'),
  prstatusSize: is64 ? 376 : 204,
  is64,
  gregs: GREGS,
  pcRegister: 'pc',
});

const linux64: LinuxFacts = {
  // vm-layout.rst: the linear map (found by the caller) and the kernel image at KERNEL_LINK_ADDR.
  regions: (_root, _spans, direct) => ({
    layout: 'Linux riscv64',
    defs: [
      [direct.start, direct.end, 'Linear map'],
      [0xffffffff80000000n, 1n << 64n, 'Kernel image'],
    ],
  }),
  directMap: [{ expression: '(unsigned long)kernel_map.va_pa_offset', source: 'symbol kernel_map.va_pa_offset', offset: (v) => v }],
  // satp.PPN = (SYMBOL(swapper_pg_dir) - NUMBER(va_kernel_pa_offset)) >> 12, the mode
  // (Sv39/48/57) from the width NUMBER(PAGE_OFFSET) is sign-extended from.
  vmcoreinfoRoots(v) {
    const pgd = v.symbol('swapper_pg_dir');
    const off = v.number('va_kernel_pa_offset');
    const pageOffset = v.number('PAGE_OFFSET');
    if (pgd === undefined) return { missing: 'VMCOREINFO has no SYMBOL(swapper_pg_dir)' };
    if (off === undefined) return { missing: 'VMCOREINFO has no NUMBER(va_kernel_pa_offset)' };
    if (pageOffset === undefined) return { missing: 'VMCOREINFO has no NUMBER(PAGE_OFFSET) (it gives the paging mode)' };
    const fits = (bits: number) => {
      const top = pageOffset >> BigInt(bits - 1);
      return top === (MASK64 >> BigInt(bits - 1));
    };
    const mode = fits(39) ? 8n : fits(48) ? 9n : fits(57) ? 10n : undefined;
    if (mode === undefined) return { missing: `NUMBER(PAGE_OFFSET)=${hex(pageOffset)} is not an Sv39/Sv48/Sv57 kernel address` };
    const pa = (pgd - off) & MASK64;
    const satp = (mode << 60n) | (pa >> 12n);
    const name = { 8: 'Sv39', 9: 'Sv48', 10: 'Sv57' }[Number(mode)];
    return {
      registers: new Map([['satp', satp]]),
      note: `root from VMCOREINFO: satp ${hex(satp)} = ${name} (from NUMBER(PAGE_OFFSET) ${hex(pageOffset)}) with root SYMBOL(swapper_pg_dir) ${hex(pgd)} - NUMBER(va_kernel_pa_offset) ${hex(off)} = ${hex(pa)}${v.kaslrNote}`,
    };
  },
};

const common = { registerNames: RISCV_REGISTERS, rootRegisters: ['satp'], edit: riscvEdit, live } as const;
const riscv64: ArchModule = { ...common, arch: 'riscv64', buildSpace: (r, o) => buildRiscvSpace('riscv64', r, o), core: core(true), linux: linux64 };
const riscv32: ArchModule = { ...common, arch: 'riscv32', buildSpace: (r, o) => buildRiscvSpace('riscv32', r, o), core: core(false), linux: {} };
registerArch(riscv64);
registerArch(riscv32);
