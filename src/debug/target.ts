// What every live target shares, whatever carries its commands (a debug adapter, or ptview's own
// gdbstub client): RAM from the monitor, the PhyMemMode check, the strategy choice (fastest
// first) and the LiveTarget object over the chosen strategy.
import { PhysAddr, hex } from '../core/addr';
import type { Arch } from '../core/format';
import type { RamRange } from '../core/memory';
import type { Registers } from '../core/space';
import { LiveAccessError, LiveOptions, LiveStats, LiveTarget, StrategyName, TargetKind } from './api';
import { recogniseDirectMap } from './directMapProbe';
import { LiveMemory } from './liveMemory';
import { FlatRamRange, mergeRanges, parseMtreeFlat } from './ram';
import { DirectMapStrategy } from './strategies/directMap';
import { MonitorXpStrategy } from './strategies/monitorXp';
import { PhyMemStrategy, checkPhyMemMode } from './strategies/phyMem';
import { ProcMemSetup, ProcMemStrategy, setupProcMem } from './strategies/procMem';
import { Strategy, TargetCommands, Unavailable, isUnavailable } from './strategies/types';

export const STRATEGY_ORDER: readonly StrategyName[] = ['proc-mem', 'phymem-mode', 'monitor-xp', 'direct-map'];

/** Per-session knowledge, found at the first stop and kept for the next ones. */
export interface SessionKnowledge {
  commands: TargetCommands;
  notes: string[];
  ram?: FlatRamRange[];
  ramNote?: string;
  procMem?: ProcMemSetup | Unavailable;
  phyMem?: { supported: boolean; note?: string };
}

/** RAM ranges (`info mtree -f`) and QEMU's PhyMemMode (a stale 1 cleared). */
export async function discoverQemu(s: SessionKnowledge, signal?: AbortSignal): Promise<void> {
  try {
    const ram = parseMtreeFlat(await s.commands.monitor('info mtree -f', signal));
    if (ram.length) s.ram = ram;
    else s.ramNote = "the monitor's 'info mtree -f' listed no RAM";
  } catch (e) {
    if (e instanceof LiveAccessError) throw e;
    s.ramNote = `'monitor info mtree -f' failed: ${(e as Error).message}`;
  }
  // Attach-time check of QEMU's global PhyMemMode: a crashed session may have left it on.
  s.phyMem = await checkPhyMemMode(s.commands, signal);
  if (s.phyMem.note && s.phyMem.supported) s.notes.push(s.phyMem.note);
}

export function elapsed<T>(stats: () => LiveStats, phase: string, p: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  return p().finally(() => {
    const s = stats();
    s.phases[phase] = (s.phases[phase] ?? 0) + (performance.now() - t0);
  });
}

async function makeStrategy(name: StrategyName, s: SessionKnowledge, opts: LiveOptions, stats: () => LiveStats, recognise: () => Promise<bigint | Unavailable>, signal?: AbortSignal): Promise<Strategy | Unavailable> {
  const bytes = (n: number) => (stats().bytesRead += n);
  switch (name) {
    case 'proc-mem':
      if (!s.ram) return { unavailable: s.ramNote ?? 'RAM ranges unknown' };
      s.procMem ??= await setupProcMem(s.commands, s.ram, signal);
      return isUnavailable(s.procMem) ? s.procMem : ProcMemStrategy.open(s.procMem, bytes);
    case 'phymem-mode':
      if (!s.ram) return { unavailable: `${s.ramNote ?? 'RAM ranges unknown'} (physical reads outside RAM could reach MMIO)` };
      return PhyMemStrategy.create(s.commands, s.phyMem ?? { supported: false, note: 'PhyMemMode state unknown' });
    case 'monitor-xp':
      if (!s.ram) return { unavailable: s.ramNote ?? 'RAM ranges unknown' };
      return MonitorXpStrategy.create(s.commands, bytes);
    case 'direct-map': {
      const offset = opts.directMapOffset ?? (await recognise());
      return isUnavailable(offset) ? offset : new DirectMapStrategy(s.commands, offset);
    }
  }
}

export interface TargetParts {
  kind: TargetKind;
  arch: Arch;
  registers: Registers;
  /** Notes of this stop (register reading). */
  notes: readonly string[];
  /** Numeric expressions in the stopped frame (kernel symbols), when the carrier has a debugger. */
  evaluate(expression: string, signal?: AbortSignal): Promise<bigint | undefined>;
  getStats(): LiveStats;
  resetStats(): void;
  /** Failure text when no strategy works (what to use instead). */
  noStrategyAdvice: string;
  /** Called on dispose, after the strategy's own dispose. */
  onDispose?(): void;
}

/** Chooses the strategy and builds the LiveTarget of one stop. */
export async function assembleTarget(s: SessionKnowledge, p: TargetParts, options: LiveOptions, signal?: AbortSignal): Promise<{ target: LiveTarget; memory: LiveMemory }> {
  const getStats = p.getStats;
  const notes = [...s.notes, ...p.notes];
  const recognise = async (): Promise<bigint | Unavailable> => {
    const found = await recogniseDirectMap(s.commands, p.evaluate, p.arch, p.registers, s.ram, signal);
    if (isUnavailable(found)) return found;
    notes.push(`direct-map offset ${hex(found.offset)} recognised (${found.source}; candidate ${found.tried}), verified: the tables read through it map offset + each root table back to it`);
    return found.offset;
  };
  const candidates = options.strategy ? [options.strategy] : STRATEGY_ORDER;
  let strategy: Strategy | undefined;
  await elapsed(getStats, 'strategy', async () => {
    for (const name of candidates) {
      const st = await makeStrategy(name, s, options, getStats, recognise, signal);
      if (!isUnavailable(st)) {
        strategy = st;
        break;
      }
      notes.push(`${name} not used: ${st.unavailable}`);
    }
  });
  if (!strategy) {
    const kind = options.strategy ? 'strategy-failed' : 'no-memory-access';
    throw new LiveAccessError(kind, `cannot read guest-physical memory through this ${p.kind} session: ${notes.filter((n) => n.includes('not used')).join('; ')}. ${p.noStrategyAdvice}`);
  }
  const chosen: Strategy = strategy;

  const ram: readonly RamRange[] = s.ram ? mergeRanges(s.ram) : [{ start: 0 as PhysAddr, end: Number.MAX_SAFE_INTEGER as PhysAddr, name: 'unknown (no monitor)' }];
  if (!s.ram) notes.push(`${s.ramNote ?? 'RAM ranges unknown'}: table addresses are not checked against RAM`);
  const memory = new LiveMemory(ram, chosen, getStats, s.ram !== undefined);
  // Timing of the reads themselves (the walk's transport cost).
  const inner = memory.readMany.bind(memory);
  memory.readMany = (reqs, sig) => elapsed(getStats, 'read', () => inner(reqs, sig));

  let disposed: Promise<void> | undefined;
  const target: LiveTarget = {
    arch: p.arch,
    dialect: p.kind,
    strategy: chosen.name,
    strategyNotes: notes,
    registers: p.registers,
    memory,
    get stats() {
      return getStats();
    },
    resetStats: p.resetStats,
    invalidate: () => memory.invalidate(),
    dispose() {
      disposed ??= (async () => {
        try {
          await chosen.dispose();
        } finally {
          p.onDispose?.();
        }
      })();
      return disposed;
    },
  };
  return { target, memory };
}
