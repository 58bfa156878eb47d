// Page-table roots of a Linux kernel from its VMCOREINFO note (the text the kernel exports for
// crash tools: kernel/crash_core.c / vmcore_info.c and each arch's arch_crash_save_vmcoreinfo),
// used when a vmcore carries no paging registers (a kdump kernel's /proc/vmcore has only the
// general registers of NT_PRSTATUS).
//   x86_64: CR3 = SYMBOL(init_top_pgt) - __START_KERNEL_map + NUMBER(phys_base). The SYMBOL
//           values are run-time addresses (KASLR's KERNELOFFSET already applied).
//   arm64:  TTBR1_EL1 = SYMBOL(swapper_pg_dir) - NUMBER(kimage_voffset); TCR_EL1.T1SZ from
//           NUMBER(TCR_EL1_T1SZ) or 64 - NUMBER(VA_BITS), the granule from PAGESIZE.
//   riscv64: satp.PPN = (SYMBOL(swapper_pg_dir) - NUMBER(va_kernel_pa_offset)) >> 12, the mode
//           (Sv39/48/57) from the width NUMBER(PAGE_OFFSET) is sign-extended from.
// The control bits Linux always sets (paging on, long mode, NX) are filled in and said so.

import { Arch } from '../format';

export interface VmcoreinfoRoots {
  readonly registers: Map<string, bigint>;
  /** Which root was used and from what, for the user. */
  readonly note: string;
}

/** key=value lines; values kept as text (their base depends on the key). */
export function parseVmcoreinfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return out;
}

const MASK64 = (1n << 64n) - 1n;

/**
 * SYMBOL() and KERNELOFFSET are printed %lx (hex without 0x); NUMBER() is %ld (signed decimal)
 * unless the arch prints it 0x-prefixed (arm64's kimage_voffset, PHYS_OFFSET).
 */
function num(v: string | undefined, hexDefault: boolean): bigint | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  try {
    if (/^-?0x[0-9a-f]+$/i.test(t)) return (t.startsWith('-') ? -BigInt(t.slice(1)) : BigInt(t)) & MASK64;
    if (hexDefault && /^[0-9a-f]+$/i.test(t)) return BigInt('0x' + t) & MASK64;
    if (/^-?\d+$/.test(t)) return BigInt(t) & MASK64;
  } catch {
    return undefined;
  }
  return undefined;
}

const hx = (v: bigint) => '0x' + v.toString(16);
const START_KERNEL_MAP = 0xffffffff80000000n;

/** The roots VMCOREINFO gives for `arch`, or the reason it gives none. */
export function rootsFromVmcoreinfo(arch: Arch, text: string): VmcoreinfoRoots | { missing: string } {
  const v = parseVmcoreinfo(text);
  const sym = (n: string) => num(v.get(`SYMBOL(${n})`), true);
  const number = (n: string) => num(v.get(`NUMBER(${n})`), false);
  const kaslr = v.get('KERNELOFFSET');
  const kaslrNote = kaslr !== undefined ? `; KERNELOFFSET=${kaslr} is already in the SYMBOL values` : '';
  if (arch === 'x86_64') {
    const pgt = sym('init_top_pgt');
    const physBase = number('phys_base');
    if (pgt === undefined) return { missing: 'VMCOREINFO has no SYMBOL(init_top_pgt)' };
    if (physBase === undefined) return { missing: 'VMCOREINFO has no NUMBER(phys_base)' };
    if (pgt < START_KERNEL_MAP) return { missing: `SYMBOL(init_top_pgt)=${hx(pgt)} is not in the kernel image mapping (at or above ${hx(START_KERNEL_MAP)})` };
    const cr3 = (pgt - START_KERNEL_MAP + physBase) & MASK64;
    const l5 = number('pgtable_l5_enabled') === 1n;
    const regs = new Map<string, bigint>([
      ['cr3', cr3],
      ['cr0', 0x80050033n], // PG, WP, NE, ET, MP, PE: what Linux runs with
      ['cr4', 0x20n | 0x10n | 0x80n | (l5 ? 1n << 12n : 0n)], // PAE, PSE, PGE (+ LA57)
      ['efer', 0xd01n], // LMA, LME, SCE, NXE
    ]);
    return {
      registers: regs,
      note: `root from VMCOREINFO: CR3 = SYMBOL(init_top_pgt) ${hx(pgt)} - __START_KERNEL_map ${hx(START_KERNEL_MAP)} + NUMBER(phys_base) ${hx(physBase)} = ${hx(cr3)} (the kernel's init_top_pgt, ${l5 ? '5' : '4'}-level${l5 ? ' from NUMBER(pgtable_l5_enabled)=1' : ''}; CR0/CR4/EFER assumed as Linux sets them: paging, WP, PAE, long mode, NX)${kaslrNote}`,
    };
  }
  if (arch === 'aarch64') {
    const pgd = sym('swapper_pg_dir');
    const voff = number('kimage_voffset');
    const vaBits = number('VA_BITS');
    const t1szNum = number('TCR_EL1_T1SZ');
    if (pgd === undefined) return { missing: 'VMCOREINFO has no SYMBOL(swapper_pg_dir)' };
    if (voff === undefined) return { missing: 'VMCOREINFO has no NUMBER(kimage_voffset)' };
    if (vaBits === undefined && t1szNum === undefined) return { missing: 'VMCOREINFO has neither NUMBER(VA_BITS) nor NUMBER(TCR_EL1_T1SZ)' };
    const page = Number(num(v.get('PAGESIZE'), false) ?? 4096n);
    const tg1 = page === 4096 ? 2n : page === 16384 ? 1n : page === 65536 ? 3n : undefined;
    const tg0 = page === 4096 ? 0n : page === 16384 ? 2n : page === 65536 ? 1n : undefined;
    if (tg1 === undefined || tg0 === undefined) return { missing: `PAGESIZE=${page} is not an AArch64 granule` };
    const t1sz = t1szNum ?? 64n - vaBits!;
    const ttbr1 = (pgd - voff) & MASK64;
    const ips = vaBits === 52n ? 6n : 5n; // 52 or 48 physical bits
    // EPD0=1: VMCOREINFO names no user table, so TTBR0 is not walked.
    const tcr = t1sz | (1n << 7n) | (tg0 << 14n) | (t1sz << 16n) | (tg1 << 30n) | (ips << 32n);
    const phys = number('PHYS_OFFSET');
    return {
      registers: new Map([
        ['ttbr1_el1', ttbr1],
        ['tcr_el1', tcr],
      ]),
      note: `root from VMCOREINFO: TTBR1_EL1 = SYMBOL(swapper_pg_dir) ${hx(pgd)} - NUMBER(kimage_voffset) ${hx(voff)} = ${hx(ttbr1)}; TCR_EL1 ${hx(tcr)} built from ${t1szNum !== undefined ? `NUMBER(TCR_EL1_T1SZ)=${t1sz}` : `NUMBER(VA_BITS)=${vaBits}`} and PAGESIZE=${page} (TTBR0 not walked: VMCOREINFO has no user table)${phys !== undefined ? `; PHYS_OFFSET ${hx(phys)}` : ''}${kaslrNote}`,
    };
  }
  if (arch === 'riscv64') {
    const pgd = sym('swapper_pg_dir');
    const off = number('va_kernel_pa_offset');
    const pageOffset = number('PAGE_OFFSET');
    if (pgd === undefined) return { missing: 'VMCOREINFO has no SYMBOL(swapper_pg_dir)' };
    if (off === undefined) return { missing: 'VMCOREINFO has no NUMBER(va_kernel_pa_offset)' };
    if (pageOffset === undefined) return { missing: 'VMCOREINFO has no NUMBER(PAGE_OFFSET) (it gives the paging mode)' };
    const fits = (bits: number) => {
      const top = pageOffset >> BigInt(bits - 1);
      return top === (MASK64 >> BigInt(bits - 1));
    };
    const mode = fits(39) ? 8n : fits(48) ? 9n : fits(57) ? 10n : undefined;
    if (mode === undefined) return { missing: `NUMBER(PAGE_OFFSET)=${hx(pageOffset)} is not an Sv39/Sv48/Sv57 kernel address` };
    const pa = (pgd - off) & MASK64;
    const satp = (mode << 60n) | (pa >> 12n);
    const name = { 8: 'Sv39', 9: 'Sv48', 10: 'Sv57' }[Number(mode)];
    return {
      registers: new Map([['satp', satp]]),
      note: `root from VMCOREINFO: satp ${hx(satp)} = ${name} (from NUMBER(PAGE_OFFSET) ${hx(pageOffset)}) with root SYMBOL(swapper_pg_dir) ${hx(pgd)} - NUMBER(va_kernel_pa_offset) ${hx(off)} = ${hx(pa)}${kaslrNote}`,
    };
  }
  return { missing: `ptview does not derive ${arch} roots from VMCOREINFO` };
}

/** Whether `regs` already define a root for `arch` (then VMCOREINFO is not needed). */
export function hasRoot(arch: Arch, regs: ReadonlyMap<string, bigint>): boolean {
  if (arch === 'x86_64' || arch === 'x86') return regs.has('cr3');
  if (arch === 'aarch64') return regs.has('ttbr0_el1') || regs.has('ttbr1_el1') || regs.has('ttbr0_el2') || regs.has('vttbr_el2');
  return regs.has('satp');
}
