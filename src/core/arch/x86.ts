// x86 and x86_64, everything ptview knows of them apart from decoding entries
// (../formats/x86.ts, Intel SDM vol. 3 §4.5): the descriptor encoder for simulated edits, the TLB
// maintenance policy (SDM §4.10.4: INVLPG per page, CR3 reload / INVPCID beyond Linux's
// tlb_single_page_flush_ceiling of 33), the registers a debugger reads, how cores name the
// architecture (ELF e_machine EM_386 / EM_X86_64, Linux elf_prstatus, QEMU's CPU-state note), and
// Linux's x86_64 layout (Documentation/arch/x86/x86_64/mm.rst), its VMCOREINFO root and direct map.
import { hex, sizeLabel } from '../addr';
import { EntryCodec, bit, set } from '../edit/codecs';
import { EntryChange, TlbPlan, anyGlobal, freed, info, leafCount, leavesOf, touching } from '../edit/tlb';
import { X86_REGISTERS, buildX86Space } from '../formats/x86';
import type { RamRange } from '../memory';
import type { LayoutSpan, RegionDef } from '../ops/regions';
import { Root } from '../space';
import { ArchEdit, ArchModule, CoreFacts, LinuxFacts, LiveRegisters, registerArch } from './registry';

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

// Names as GDB spells them on QEMU; eflags (AC) and pkru are control state of the rights model
// (SMAP, protection keys).
const live: LiveRegisters = {
  family: 'x86',
  probe: 'cr3',
  label: 'CR3 (x86)',
  names: ['cr0', 'cr3', 'cr4', 'efer', 'ia32_pat', 'eflags', 'pkru'],
  identify: (regs) => ((regs.get('efer') ?? 0n) & (1n << 10n) ? 'x86_64' : 'x86'), // EFER.LMA
};

const EM_386 = 3;
const EM_X86_64 = 62;

// QEMUCPUState (QEMU target/i386/arch_dump.c): version, size, 16 GPRs, rip, rflags,
// 10 segments of 24 bytes, then cr[5] (CR0..CR4).
function parseQemuCpuState(d: Buffer, regs: Map<string, bigint>): void {
  if (d.length < 432) return;
  const crBase = 8 + 18 * 8 + 10 * 24;
  ['cr0', 'cr1', 'cr2', 'cr3', 'cr4'].forEach((n, i) => {
    if (n !== 'cr1') regs.set(n, d.readBigUInt64LE(crBase + i * 8));
  });
  regs.set('rip', d.readBigUInt64LE(8 + 16 * 8));
}

// pr_reg layouts: Linux user_regs_struct of x86_64 and i386; elf_prstatus is 336 and 144 bytes.
const core64: CoreFacts = {
  elf: (machine, elfClass) => machine === EM_X86_64 && elfClass === 2,
  utsMachine: (machine, is64) => machine === 'x86_64' && is64,
  prstatusSize: 336,
  is64: true,
  gregs: ['r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi', 'rdi', 'orig_rax', 'rip', 'cs', 'eflags', 'rsp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs'],
  pcRegister: 'rip',
  qemuNote: parseQemuCpuState,
};
// A 32-bit x86 guest of qemu-system-x86_64 writes EM_X86_64 with ELFCLASS32, and a 32-bit kdump
// header says "x86_64".
const core32: CoreFacts = {
  elf: (machine, elfClass) => (machine === EM_X86_64 && elfClass !== 2) || machine === EM_386,
  utsMachine: (machine, is64) => (machine === 'x86_64' && !is64) || /^i[3-6]86$/.test(machine),
  prstatusSize: 144,
  is64: false,
  gregs: ['ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'eax', 'ds', 'es', 'fs', 'gs', 'orig_eax', 'eip', 'cs', 'eflags', 'esp', 'ss'],
  pcRegister: 'eip',
  qemuNote: parseQemuCpuState,
};

// Linux x86_64 (Documentation/arch/x86/x86_64/mm.rst, both paging modes):
// - the direct map ("direct mapping of all physical memory (page_offset_base)"), found by the
//   caller wherever KASLR put it (arch/x86/mm/kaslr.c randomizes page_offset_base, vmalloc_base
//   and vmemmap_base);
// - regions at fixed addresses: LDT remap, cpu_entry_area, %esp fixup stacks, EFI runtime
//   services, the kernel image at __START_KERNEL_map (KASLR moves the kernel inside it), modules
//   at __START_KERNEL_map + KERNEL_IMAGE_SIZE (1 GiB with CONFIG_RANDOMIZE_BASE), the fixmap up to
//   FIXADDR_TOP with the vsyscall page;
// - vmemmap: struct page array at vmemmap_base, pfn N at vmemmap_base + N * 64 (sizeof(struct
//   page) without debug options). Taken only when the highest mappings below the cpu_entry_area
//   fit that rule for RAM's page frames from a 1 GiB-aligned base (kaslr.c aligns each region to
//   PUD_SIZE); then what lies between the direct map and it is vmalloc space (vmalloc_base comes
//   before vmemmap_base in kaslr.c's order). A KASAN shadow (mapped below the cpu_entry_area too)
//   fails the rule, so then neither is named.
const GIB = 1n << 30n;
const STRUCT_PAGE = 64n;
const CPU_ENTRY_AREA = 0xfffffe0000000000n;
const FIXED: readonly RegionDef[] = [
  [CPU_ENTRY_AREA, 0xfffffe8000000000n, 'cpu_entry_area'],
  [0xffffff0000000000n, 0xffffff8000000000n, 'ESPfix stacks'],
  [0xffffffef00000000n, 0xffffffff00000000n, 'EFI runtime services'],
  [0xffffffff80000000n, 0xffffffffc0000000n, 'Kernel image'],
  [0xffffffffc0000000n, 0xffffffffff000000n, 'Modules'],
  [0xffffffffff000000n, 0xffffffffff600000n, 'Fixmap'],
  [0xffffffffff600000n, 0xffffffffff601000n, 'vsyscall page'],
  [0xffffffffff601000n, 0xffffffffff800000n, 'Fixmap'],
];

const alignDown = (v: bigint, a: bigint): bigint => v - (v % a);
const alignUp = (v: bigint, a: bigint): bigint => ((v + a - 1n) / a) * a;

/** vmemmap (and vmalloc below it) by the struct page rule; undefined when unsure. */
function vmemmap(spans: readonly LayoutSpan[], direct: { end: bigint }, ram: readonly RamRange[]): { vmalloc?: RegionDef; vmemmap: RegionDef } | undefined {
  const between = spans.filter((s) => s.va >= direct.end && s.end <= CPU_ENTRY_AREA);
  if (between.length === 0) return undefined;
  const top = between[between.length - 1];
  const base = alignDown(top.va, GIB);
  const maxPfn = BigInt(Math.max(...ram.map((r) => r.end))) / 4096n;
  const end = base + alignUp(maxPfn * STRUCT_PAGE, GIB);
  const inside = between.filter((s) => s.va >= base);
  // Every mapping from the base up is a struct page of a RAM frame, backed by RAM itself.
  const fits = inside.every((s) => s.end <= base + alignUp(maxPfn * STRUCT_PAGE, 2n * 1024n * 1024n) && ram.some((r) => s.pa >= r.start && s.pa < r.end));
  if (!fits) return undefined;
  const below = between.filter((s) => s.va < base);
  const vm: RegionDef = [base, end, 'vmemmap'];
  if (below.length === 0) return { vmemmap: vm };
  return { vmemmap: vm, vmalloc: [alignDown(below[0].va, GIB), base, 'vmalloc'] };
}

const MASK64 = (1n << 64n) - 1n;
const START_KERNEL_MAP = 0xffffffff80000000n;

const linux64: LinuxFacts = {
  regions(root, spans, direct, ram) {
    const five = root.inputBits === 57;
    const defs: RegionDef[] = [];
    // The LDT remap slot (PTI): one PGD entry below the direct map's lowest possible base.
    defs.push(five ? [0xff10000000000000n, 0xff11000000000000n, 'LDT remap'] : [0xffff880000000000n, 0xffff888000000000n, 'LDT remap']);
    defs.push([direct.start, direct.end, 'Direct map']);
    const vm = vmemmap(spans, direct, ram);
    if (vm?.vmalloc) defs.push(vm.vmalloc);
    if (vm) defs.push(vm.vmemmap);
    defs.push(...FIXED);
    return { layout: `Linux x86_64 ${five ? '5' : '4'}-level`, defs };
  },
  // page_offset_base (KASLR), else mm.rst's physmap of each paging mode.
  directMap: [
    { expression: '(unsigned long)page_offset_base', source: 'symbol page_offset_base', offset: (v) => v },
    { fixed: 0xffff888000000000n, source: 'Linux x86_64 4-level physmap (no KASLR)' },
    { fixed: 0xff11000000000000n, source: 'Linux x86_64 5-level physmap (no KASLR)' },
  ],
  // CR3 = SYMBOL(init_top_pgt) - __START_KERNEL_map + NUMBER(phys_base); the control bits Linux
  // always sets (paging on, long mode, NX) are filled in and said so.
  vmcoreinfoRoots(v) {
    const pgt = v.symbol('init_top_pgt');
    const physBase = v.number('phys_base');
    if (pgt === undefined) return { missing: 'VMCOREINFO has no SYMBOL(init_top_pgt)' };
    if (physBase === undefined) return { missing: 'VMCOREINFO has no NUMBER(phys_base)' };
    if (pgt < START_KERNEL_MAP) return { missing: `SYMBOL(init_top_pgt)=${hex(pgt)} is not in the kernel image mapping (at or above ${hex(START_KERNEL_MAP)})` };
    const cr3 = (pgt - START_KERNEL_MAP + physBase) & MASK64;
    const l5 = v.number('pgtable_l5_enabled') === 1n;
    const regs = new Map<string, bigint>([
      ['cr3', cr3],
      ['cr0', 0x80050033n], // PG, WP, NE, ET, MP, PE: what Linux runs with
      ['cr4', 0x20n | 0x10n | 0x80n | (l5 ? 1n << 12n : 0n)], // PAE, PSE, PGE (+ LA57)
      ['efer', 0xd01n], // LMA, LME, SCE, NXE
    ]);
    return {
      registers: regs,
      note: `root from VMCOREINFO: CR3 = SYMBOL(init_top_pgt) ${hex(pgt)} - __START_KERNEL_map ${hex(START_KERNEL_MAP)} + NUMBER(phys_base) ${hex(physBase)} = ${hex(cr3)} (the kernel's init_top_pgt, ${l5 ? '5' : '4'}-level${l5 ? ' from NUMBER(pgtable_l5_enabled)=1' : ''}; CR0/CR4/EFER assumed as Linux sets them: paging, WP, PAE, long mode, NX)${v.kaslrNote}`,
    };
  },
};

// QEMU under KVM gives the guest's watchpoints to the vCPU's debug registers DR0-DR3 (SDM vol. 3 §18.2).
const kvmWatchpoints = { count: 4, why: 'QEMU under KVM uses the x86 debug registers DR0-DR3, which' };

const common = { registerNames: X86_REGISTERS, rootRegisters: ['cr3'], edit: x86Edit, live, kvmWatchpoints } as const;
const x86_64: ArchModule = { ...common, arch: 'x86_64', buildSpace: (regs, opts) => buildX86Space('x86_64', regs, opts), core: core64, linux: linux64 };
const x86: ArchModule = { ...common, arch: 'x86', buildSpace: (regs, opts) => buildX86Space('x86', regs, opts), core: core32, linux: {} };
registerArch(x86_64);
registerArch(x86);
