// What the Linux-guest tests share: one stop of a shared guest (test/harness/linux.ts) captured as
// a QEMU core plus QEMU's own answers at that same stop, and ptview's walk of it.
import path from 'node:path';
import type { Arch } from '../../../src/core/format';
import { spaceFromRegisters } from '../../../src/core/formats';
import { QemuCore, openQemuCore } from '../../../src/core/sources/elfCore';
import { AddressSpace, Root } from '../../../src/core/space';
import { Leaf, TableStore, walk } from '../../../src/core/walker';
import { parseInfoRegisters } from '../../harness/oracles';
import { LinuxRun, VmallocArea, sampleUntil } from '../../harness/linux';
import { gdbRegisters } from '../aarch64/gdbRegisters';

export interface Stop {
  label: string;
  /** `info registers` text and its values. */
  regsText: string;
  qregs: Map<string, bigint>;
  core: QemuCore;
  store: TableStore;
  /** ptview's space from the core's registers (plus EFER from info registers) on x86; other
   * architectures' cores lack the translation registers (build the space from gdb's). */
  space: AddressSpace;
  /** HMP answers at this stop, by command. */
  hmp: Map<string, string>;
}

/** Dumps the paused guest to <run.dir>/core-<label>.elf and asks QEMU `commands` at the same stop. */
export async function capture(run: LinuxRun, label: string, regsText: string, commands: string[], regOverrides: Record<string, bigint> = {}): Promise<Stop> {
  const hmp = new Map<string, string>();
  for (const c of commands) hmp.set(c, await run.hmp(c));
  const corePath = await run.dump(path.join(run.dir, `core-${label}.elf`));
  const core = await openQemuCore(corePath);
  const qregs = parseInfoRegisters(regsText);
  const space = core.arch === 'x86_64' ? spaceWith(core, qregs, regOverrides) : (undefined as unknown as AddressSpace);
  return { label, regsText, qregs, core, store: new TableStore(core.memory), space, hmp };
}

/** A space from the core's registers, with EFER from `info registers` (x86) and overrides. */
export function spaceWith(core: QemuCore, qregs: Map<string, bigint>, overrides: Record<string, bigint> = {}): AddressSpace {
  const regs = new Map(core.registers);
  if (core.arch === 'x86_64' && qregs.has('efer')) regs.set('efer', qregs.get('efer')!);
  for (const [k, v] of Object.entries(overrides)) regs.set(k, v);
  return spaceFromRegisters(core.arch as Arch, regs);
}

export async function leavesOf(roots: readonly Root[], store: TableStore): Promise<Leaf[]> {
  const out: Leaf[] = [];
  await walk(roots, store, { leaf: (l) => out.push(l) });
  return out;
}

/** vmallocinfo areas that outlive the moment init printed them: not task stacks (kernel_clone),
 * which go away with the short-lived commands init ran to print them. */
export function lastingVmalloc(areas: readonly VmallocArea[]): VmallocArea[] {
  return areas.filter((a) => !/\b(kernel_clone|copy_process|alloc_thread_stack_node)\+/.test(a.line));
}

/** AArch64 translation registers as gdb-multiarch names them, and as ptview's space takes them. */
const A64_REGS: [string, string][] = [
  ['TTBR0_EL1', 'ttbr0_el1'], ['TTBR1_EL1', 'ttbr1_el1'], ['TCR_EL1', 'tcr_el1'], ['MAIR_EL1', 'mair_el1'],
  ['SCTLR', 'sctlr_el1'], ['ID_AA64MMFR0_EL1', 'id_aa64mmfr0_el1'],
];
const BADDR = 0xfffffffffffen;

/** The translation registers at an EL (0 or 1), read by gdb-multiarch (an AArch64 core and QEMU's
 * monitor lack them): its attach stops the guest, its detach lets it run, so this samples until a
 * snapshot at that EL comes. `notTtbr1`: an EL1 snapshot whose TTBR1 holds these tables (KPTI's
 * trampoline, arch/arm64/kernel/entry.S tramp_*) is not yet the kernel's. */
export async function aarch64RegistersAt(run: LinuxRun, el: 0 | 1, notTtbr1?: bigint): Promise<Map<string, bigint>> {
  const g = await sampleUntil({
    what: `${run.variant}: a gdb snapshot at EL${el}${notTtbr1 === undefined ? '' : ' past the KPTI trampoline'}`,
    tries: 100,
    take: () => gdbRegisters(run.gdbPort!, [...A64_REGS.map(([n]) => n), 'cpsr']),
    accept: (r) => Number((r.get('cpsr')! >> 2n) & 3n) === el && (notTtbr1 === undefined || (r.get('ttbr1_el1')! & BADDR) !== (notTtbr1 & BADDR)),
  });
  const regs = new Map<string, bigint>();
  for (const [gdbName, ours] of A64_REGS) {
    const v = g.get(gdbName.toLowerCase());
    if (v !== undefined) regs.set(ours, v);
  }
  return regs;
}
