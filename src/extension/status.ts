// The status bar's text as plain data (statusBar.ts only shows it): the active root, its paging
// mode and the memory strategy. Free of vscode so the choice of root is unit-tested.
import { hex } from '../core/addr';
import type { Registers, Root, AddressSpace } from '../core/space';
import type { State } from './controller';

/**
 * The root the CPU translates the current PC with: x86 CR3 and RISC-V satp (the only stage 1
 * root); AArch64 TTBR1 when the PC is in the upper (kernel) half (VA bit 55 set), TTBR0
 * otherwise. Without a PC, or when the PC's half has no root (EPDn=1), the first stage 1 root.
 */
export function activeRoot(space: AddressSpace, regs: Registers): Root | undefined {
  const stage1 = space.roots.filter((r) => r.stage !== 2);
  const pc = regs.get('pc');
  if (pc !== undefined && stage1.some((r) => r.half)) {
    const half = (pc >> 55n) & 1n ? 'upper' : 'lower';
    const r = stage1.find((x) => x.half === half);
    if (r) return r;
  }
  return stage1[0] ?? space.roots[0];
}

export function statusText(s: State): string | undefined {
  switch (s.kind) {
    case 'none':
      return undefined;
    case 'waiting':
      return '$(layers) page tables: waiting for a stop';
    case 'running':
      return '$(layers) page tables: running';
    case 'stopped':
    case 'loading':
      return '$(layers) page tables: paused';
    case 'no-memory':
      return '$(layers) page tables: no physical memory';
    case 'error':
      return '$(layers) page tables: error';
    case 'ready': {
      const r = activeRoot(s.ready.space, s.ready.target.registers);
      const root = r ? `${r.name.toUpperCase()} ${hex(r.tablePa)}` : 'no roots';
      return `$(layers) ${root} · ${r?.format.mode ?? s.ready.space.arch} · ${s.ready.target.strategy}`;
    }
  }
}

export function statusTooltip(s: State): string {
  if (s.kind !== 'ready') return 'ptview: click to open the Page Tables view';
  const { space, target } = s.ready;
  const active = activeRoot(space, target.registers);
  const pc = target.registers.get('pc');
  const roots = space.roots.map((r) => `${r.name} ${r.format.mode} ${r.info.map(([k, v]) => `${k} ${v}`).join(' ')}${r === active ? ' (active)' : ''}`);
  const notes = ` (${[target.connection, ...target.strategyNotes].join('; ')})`;
  // What the registers left unknown and ptview assumed (e.g. a core without EFER), as the CLI's notes.
  const assumed = space.notes.map((n) => `\nnote: ${n}`).join('');
  return `ptview: ${roots.join('; ')}${pc !== undefined ? `\nPC ${hex(pc)}` : ''}\nmemory: ${target.strategy}${notes}${assumed}\nClick to open the Page Tables view`;
}
