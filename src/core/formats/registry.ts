// From register values to an AddressSpace (its roots and formats), through the architecture
// registry (../arch, which loads every architecture module).
import { hex, parseNumber } from '../addr';
import { archModule } from '../arch';
import { Arch } from '../format';
import { AddressSpace, RegisterError, Registers } from '../space';

export interface SpaceOptions {
  /**
   * Which roots to walk: names as the architecture defines them ("cr3", "ttbr0", "ttbr1",
   * "ttbr0_el2", "vttbr", "satp") or "table@0x…" for an explicit root table with the
   * registers' paging mode. Default: every root the registers define.
   */
  readonly roots?: readonly string[];
}

export function spaceFromRegisters(arch: Arch, regs: Registers, opts?: SpaceOptions): AddressSpace {
  const roots = opts?.roots?.map(explicitRoot);
  return archModule(arch).buildSpace(regs, roots ? { ...opts, roots } : opts);
}

/** "table@PA" checked strictly (0x-hex or decimal, page-aligned, below 2^52) and spelled 0x-hex. */
function explicitRoot(name: string): string {
  const m = /^table@(.*)$/i.exec(name.trim());
  if (!m) return name;
  let pa: bigint;
  try {
    pa = parseNumber(m[1], 'root table address');
  } catch (e) {
    throw new RegisterError(`--root ${name}: ${(e as Error).message}`);
  }
  if (pa >= 1n << 52n) throw new RegisterError(`--root ${name}: a table address is below 2^52 on every supported architecture`);
  if (pa % 32n !== 0n) throw new RegisterError(`--root ${name}: a table address is at least 32-byte aligned (PAE's PDPT; 4 KiB for every other root)`);
  return `table@${hex(pa)}`;
}


