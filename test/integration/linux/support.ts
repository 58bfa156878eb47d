// What the Linux-guest tests share: one stop of a shared guest (test/harness/linux.ts) captured as
// a QEMU core plus QEMU's own answers at that same stop, and ptview's walk of it.
import path from 'node:path';
import type { Arch } from '../../../src/core/format';
import { spaceFromRegisters } from '../../../src/core/formats';
import { QemuCore, openQemuCore } from '../../../src/core/sources/elfCore';
import { AddressSpace, Root } from '../../../src/core/space';
import { Leaf, TableStore, walk } from '../../../src/core/walker';
import { parseInfoRegisters } from '../../harness/oracles';
import { LinuxRun, VmallocArea } from '../../harness/linux';

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
