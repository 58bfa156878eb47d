// Core files by content, not by name: ELF (QEMU dump-guest-memory, Linux /proc/vmcore) or
// compressed kdump (makedumpfile, QEMU dump-guest-memory -z/-l/-s), plain or flattened.
import { CoreFileError, openRegularFile } from './coreFile';
import { QemuCore, parseElfCore } from './elfCore';
import { FLAT_SIGNATURE, KDUMP_SIGNATURE, parseKdumpFile } from './kdump';
import { hasRoot, rootsFromVmcoreinfo } from './vmcoreinfo';

export { CoreFileError } from './coreFile';
export type { QemuCore, CoreFormat, CpuState } from './elfCore';

export async function openCore(path: string): Promise<QemuCore> {
  const f = await openRegularFile(path);
  try {
    const head = await f.readUpTo(0, 16);
    if (head.length >= 4 && head.readUInt32BE(0) === 0x7f454c46) return await parseElfCore(f);
    const text = head.toString('latin1');
    if (text.startsWith(KDUMP_SIGNATURE) || text.startsWith(FLAT_SIGNATURE)) return await parseKdumpFile(f);
    throw new CoreFileError(
      `${path} is not a core ptview knows: expected an ELF core (QEMU dump-guest-memory, Linux vmcore) or a compressed kdump ("KDUMP   " or makedumpfile's flattened format)`,
    );
  } catch (e) {
    await f.close();
    throw e;
  }
}

/**
 * The registers to walk CPU `cpu` of a core with: the core's own, then `given` (which win), then,
 * when still no root register, the kernel's root from VMCOREINFO. Notes say what was derived.
 */
export function coreRegisters(core: QemuCore, cpu: number, given: ReadonlyMap<string, bigint>): { registers: Map<string, bigint>; notes: string[] } {
  const regs = new Map(core.cpus[cpu]?.registers ?? core.registers);
  for (const [k, v] of given) regs.set(k, v);
  const notes: string[] = [];
  if (!hasRoot(core.arch, regs) && core.vmcoreinfo !== undefined) {
    const r = rootsFromVmcoreinfo(core.arch, core.vmcoreinfo);
    if ('missing' in r) notes.push(`VMCOREINFO gives no root: ${r.missing}`);
    else {
      for (const [k, v] of r.registers) if (!given.has(k)) regs.set(k, v);
      notes.push(r.note);
    }
  }
  return { registers: regs, notes };
}
