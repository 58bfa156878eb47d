// What every live target shares, whatever carries its commands (a debug adapter, or ptview's own
// gdbstub client): RAM from the monitor, the PhyMemMode check, the strategy choice (fastest
// first) and the LiveTarget object over the chosen strategy.
import { PhysAddr, hex } from '../core/addr';
import type { Arch } from '../core/format';
import type { RamRange } from '../core/memory';
import type { Registers } from '../core/space';
import { LiveAccessError, LiveOptions, LiveStats, LiveTarget, StrategyName, TargetKind } from './api';
import { recogniseDirectMap } from './directMapProbe';
import { ProbeAccess, plainProbe } from './silentProbe';
import { LiveMemory } from './liveMemory';
import { FlatRamRange, mergeRanges, parseMtreeFlat } from './ram';
import { DirectMapStrategy } from './strategies/directMap';
import { MonitorXpStrategy } from './strategies/monitorXp';
import { PhyMemStrategy, checkPhyMemMode } from './strategies/phyMem';
import { ProcMemSetup, ProcMemStrategy, setupProcMem } from './strategies/procMem';
import { Strategy, TargetCommands, Unavailable, isUnavailable } from './strategies/types';

export const STRATEGY_ORDER: readonly StrategyName[] = ['proc-mem', 'phymem-mode', 'monitor-xp', 'direct-map'];

/**
 * Per-session knowledge, kept for the next stops. Only what was found is kept: a discovery that
 * failed (no RAM listed, QEMU process not found, PhyMemMode unanswered) is tried again at the
 * next open, i.e. the next stop or Refresh, so one bad moment never poisons the whole session.
 */
export interface SessionKnowledge {
  commands: TargetCommands;
  /** How the target is reached (the adapter dialect and why, or ptview's gdbstub client). */
  connection: string;
  notes: string[];
  ram?: FlatRamRange[];
  procMem?: ProcMemSetup;
  phyMem?: { supported: true; note?: string };
}

/** What one open found out and did not keep (failures, with their reasons). */
export interface Discovery {
  ramNote?: string;
  procMem?: ProcMemSetup | Unavailable;
  phyMem?: { supported: boolean; note?: string };
}

/** RAM ranges (`info mtree -f`) and QEMU's PhyMemMode (a stale 1 cleared), each until found. */
export async function discoverQemu(s: SessionKnowledge, signal?: AbortSignal): Promise<Discovery> {
  const d: Discovery = {};
  if (s.commands.noCommands) {
    d.ramNote = `${s.commands.noCommands}: RAM ranges unknown`;
    return d;
  }
  if (!s.ram) {
    try {
      const ram = parseMtreeFlat(await s.commands.monitor('info mtree -f', signal));
      if (ram.length) s.ram = ram;
      else d.ramNote = "the monitor's 'info mtree -f' listed no RAM";
    } catch (e) {
      if (e instanceof LiveAccessError) throw e;
      d.ramNote = `'monitor info mtree -f' failed: ${(e as Error).message}`;
    }
  }
  if (!s.phyMem) {
    // Attach-time check of QEMU's global PhyMemMode: a crashed session may have left it on.
    const pm = await checkPhyMemMode(s.commands, signal);
    if (pm.supported) {
      s.phyMem = { supported: true, note: pm.note };
      if (pm.note) s.notes.push(pm.note);
    } else d.phyMem = pm;
  }
  return d;
}

export function elapsed<T>(stats: () => LiveStats, phase: string, p: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  return p().finally(() => {
    const s = stats();
    s.phases[phase] = (s.phases[phase] ?? 0) + (performance.now() - t0);
  });
}

async function makeStrategy(name: StrategyName, s: SessionKnowledge, d: Discovery, opts: LiveOptions, stats: () => LiveStats, recognise: () => Promise<bigint | Unavailable>, signal?: AbortSignal): Promise<Strategy | Unavailable> {
  const bytes = (n: number) => (stats().bytesRead += n);
  switch (name) {
    case 'proc-mem': {
      if (!s.ram) return { unavailable: d.ramNote ?? 'RAM ranges unknown' };
      const setup = s.procMem ?? (d.procMem ??= await setupProcMem(s.commands, s.ram, signal));
      if (isUnavailable(setup)) return setup;
      const st = ProcMemStrategy.open(setup, bytes);
      // Kept once it worked; a QEMU that went away is looked for again at the next open.
      s.procMem = isUnavailable(st) ? undefined : setup;
      return st;
    }
    case 'phymem-mode':
      if (!s.ram) return { unavailable: `${d.ramNote ?? 'RAM ranges unknown'} (physical reads outside RAM could reach MMIO)` };
      return PhyMemStrategy.create(s.commands, s.phyMem ?? d.phyMem ?? { supported: false, note: 'PhyMemMode state unknown' });
    case 'monitor-xp':
      if (!s.ram) return { unavailable: d.ramNote ?? 'RAM ranges unknown' };
      return MonitorXpStrategy.create(s.commands, bytes);
    case 'core-file':
      return { unavailable: 'only ptview-core sessions read a core file' };
    case 'direct-map': {
      if (s.commands.noReads) return { unavailable: s.commands.noReads };
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
  /**
   * How direct-map recognition probes candidates. Default: plain reads and `evaluate`, which is
   * right where a failed request disturbs no one (ptview's own gdbstub client).
   */
  probe?(signal?: AbortSignal): Promise<ProbeAccess | Unavailable>;
  getStats(): LiveStats;
  resetStats(): void;
  /** Failure text when no strategy works (what to use instead). */
  noStrategyAdvice: string;
  /** Called on dispose, after the strategy's own dispose. */
  onDispose?(): void;
}

/** Chooses the strategy and builds the LiveTarget of one stop. */
export async function assembleTarget(s: SessionKnowledge, d: Discovery, p: TargetParts, options: LiveOptions, signal?: AbortSignal): Promise<{ target: LiveTarget; memory: LiveMemory }> {
  const getStats = p.getStats;
  const notes = [...s.notes, ...p.notes];
  const recognise = async (): Promise<bigint | Unavailable> => {
    const probe = p.probe ? await p.probe(signal) : plainProbe(s.commands, p.evaluate);
    if (isUnavailable(probe)) return probe;
    const found = await recogniseDirectMap(s.commands, probe, p.arch, p.registers, s.ram, signal);
    if (isUnavailable(found)) return found;
    notes.push(`direct-map offset ${hex(found.offset)} recognised (${found.source}; candidate ${found.tried}), verified: the tables read through it map offset + each root table back to it`);
    return found.offset;
  };
  const candidates = options.strategy ? [options.strategy] : STRATEGY_ORDER;
  let strategy: Strategy | undefined;
  const unused: string[] = [];
  await elapsed(getStats, 'strategy', async () => {
    for (const name of candidates) {
      const st = await makeStrategy(name, s, d, options, getStats, recognise, signal);
      if (!isUnavailable(st)) {
        strategy = st;
        break;
      }
      unused.push(`${name} not used: ${st.unavailable}`);
    }
  });
  notes.push(...unused);
  if (!strategy) {
    const kind = options.strategy ? 'strategy-failed' : 'no-memory-access';
    throw new LiveAccessError(kind, `cannot read guest-physical memory through this ${p.kind} session: ${unused.join('; ')}. ${p.noStrategyAdvice}`);
  }
  const chosen: Strategy = strategy;

  const ram: readonly RamRange[] = s.ram ? mergeRanges(s.ram) : [{ start: 0 as PhysAddr, end: Number.MAX_SAFE_INTEGER as PhysAddr, name: 'unknown (no monitor)' }];
  if (!s.ram) notes.push(`${d.ramNote ?? 'RAM ranges unknown'}: table addresses are not checked against RAM`);
  const memory = new LiveMemory(ram, chosen, getStats, s.ram !== undefined);
  // Timing of the reads themselves (the walk's transport cost).
  const inner = memory.readMany.bind(memory);
  memory.readMany = (reqs, sig) => elapsed(getStats, 'read', () => inner(reqs, sig));

  let disposed: Promise<void> | undefined;
  const target: LiveTarget = {
    arch: p.arch,
    dialect: p.kind,
    strategy: chosen.name,
    connection: s.connection,
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
