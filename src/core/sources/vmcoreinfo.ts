// Page-table roots of a Linux kernel from its VMCOREINFO note (the text the kernel exports for
// crash tools: kernel/crash_core.c / vmcore_info.c and each arch's arch_crash_save_vmcoreinfo),
// used when a vmcore carries no paging registers (a kdump kernel's /proc/vmcore has only the
// general registers of NT_PRSTATUS). This file reads the values as crash tools do; each
// architecture module derives its roots from them (x86_64: CR3 from SYMBOL(init_top_pgt), arm64:
// TTBR1_EL1 and TCR_EL1 from SYMBOL(swapper_pg_dir), riscv64: satp from SYMBOL(swapper_pg_dir)).
// The SYMBOL values are run-time addresses (KASLR's KERNELOFFSET already applied).

import { archModule, findArch } from '../arch';
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

/** The roots VMCOREINFO gives for `arch` (by its architecture module), or the reason it gives none. */
export function rootsFromVmcoreinfo(arch: Arch, text: string): VmcoreinfoRoots | { missing: string } {
  const v = parseVmcoreinfo(text);
  const kaslr = v.get('KERNELOFFSET');
  const roots = findArch(arch)?.linux.vmcoreinfoRoots;
  if (!roots) return { missing: `ptview does not derive ${arch} roots from VMCOREINFO` };
  return roots({
    symbol: (n) => num(v.get(`SYMBOL(${n})`), true),
    number: (n) => num(v.get(`NUMBER(${n})`), false),
    plain: (k) => num(v.get(k), false),
    kaslrNote: kaslr !== undefined ? `; KERNELOFFSET=${kaslr} is already in the SYMBOL values` : '',
  });
}

/** Whether `regs` already define a root for `arch` (then VMCOREINFO is not needed). */
export function hasRoot(arch: Arch, regs: ReadonlyMap<string, bigint>): boolean {
  return archModule(arch).rootRegisters.some((r) => regs.has(r));
}
