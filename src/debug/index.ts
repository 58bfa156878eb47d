// openLiveTarget: one stopped target as the paging core sees it. What a session learns once
// (dialect, RAM layout, QEMU process, stale PhyMemMode) is kept per channel object: pass the same
// DapChannel for every stop of a session. Never pauses, resumes, or writes the target.
import { PhysAddr, hex } from '../core/addr';
import type { RamRange } from '../core/memory';
import { DapChannel, DapObserver, LiveAccessError, LiveOptions, LiveStats, LiveTarget, OpenLiveTarget, StrategyName } from './api';
import { DebuggerConsole } from './console';
import { CORE_DEBUG_TYPE } from './coreProtocol';
import { openCoreTarget } from './coreTarget';
import { WORKING_ADAPTERS, detectDialect } from './detect';
import { DIALECTS } from './dialects';
import { LiveMemory } from './liveMemory';
import { FlatRamRange, mergeRanges, parseMtreeFlat } from './ram';
import { RegisterReader, readTargetRegisters, resolveFrame } from './registers';
import { DirectMapStrategy } from './strategies/directMap';
import { recogniseDirectMap } from './directMapProbe';
import { defineSilentProbe, plainProbe, silentProbe } from './silentProbe';
import { MonitorXpStrategy } from './strategies/monitorXp';
import { PhyMemStrategy, checkPhyMemMode } from './strategies/phyMem';
import { ProcMemSetup, ProcMemStrategy, setupProcMem } from './strategies/procMem';
import { Strategy, Unavailable, isUnavailable } from './strategies/types';
import { PAUSE_MESSAGE, Transport, newStats } from './transport';

export * from './api';

/**
 * Per-session knowledge. Only what was found is kept: a discovery that failed (no RAM listed,
 * QEMU process not found, PhyMemMode unanswered) is tried again at the next open, i.e. the next
 * stop or Refresh, so one bad moment never poisons the rest of the session.
 */
interface SessionInfo {
  transport: Transport;
  console: DebuggerConsole;
  notes: string[];
  ram?: FlatRamRange[];
  procMem?: ProcMemSetup;
  phyMem?: { supported: true; note?: string };
  /** Whether the silent probes (direct-map recognition) are defined in GDB; undefined: not tried. */
  silentProbes?: boolean;
  /** Serializes discovery per session. */
  lock: Promise<unknown>;
}

/** What this open found out (not kept when it is a failure). */
interface Discovery {
  ramNote?: string;
  procMem?: ProcMemSetup | Unavailable;
  phyMem?: { supported: boolean; note?: string };
}

const sessions = new WeakMap<DapChannel, SessionInfo>();
/** Detections in progress: two opens of one session share one. */
const detecting = new WeakMap<DapChannel, Promise<SessionInfo>>();

export const STRATEGY_ORDER: readonly StrategyName[] = ['proc-mem', 'phymem-mode', 'monitor-xp', 'direct-map'];

function elapsed<T>(stats: () => LiveStats, phase: string, p: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  return p().finally(() => {
    const s = stats();
    s.phases[phase] = (s.phases[phase] ?? 0) + (performance.now() - t0);
  });
}

/** The dialect of a session, found once (detection that fails is not kept). */
async function sessionInfo(channel: DapChannel, observer: DapObserver, opts: LiveOptions, signal?: AbortSignal): Promise<SessionInfo> {
  const s = sessions.get(channel);
  if (s && !s.transport.sessionEnded && (!opts.dialect || s.console.dialect.dialect === opts.dialect)) return s;
  if (s) forgetSession(channel);
  const pending = detecting.get(channel);
  if (pending) return pending;
  const p = detectSession(channel, observer, opts, signal).finally(() => detecting.delete(channel));
  detecting.set(channel, p);
  return p;
}

async function detectSession(channel: DapChannel, observer: DapObserver, opts: LiveOptions, signal?: AbortSignal): Promise<SessionInfo> {
  const transport = new Transport(channel, observer);
  try {
    if (transport.targetRunning) throw new LiveAccessError('running', PAUSE_MESSAGE);
    const det = await detectDialect(transport, channel.type, observer.capabilities, opts.dialect, signal);
    // Raw commands go without a frameId: frame ids change at every stop, and no dialect needs one.
    const con = new DebuggerConsole(transport, DIALECTS[det.dialect]);
    if (det.dialect === 'cdt-gdb' && transport.canCaptureOutput) {
      // The silent command form needs GDB's Python; `python pass` prints nothing either way and
      // fails ("Python scripting is not supported") without it.
      con.python = await con.run('python pass', signal).then(
        () => true,
        (e) => {
          if (e instanceof LiveAccessError) throw e;
          return false;
        },
      );
    }
    const info: SessionInfo = { transport, console: con, notes: [`adapter dialect ${det.dialect} (${det.why})`], lock: Promise.resolve() };
    sessions.set(channel, info);
    return info;
  } catch (e) {
    transport.dispose();
    throw e;
  }
}

/** RAM ranges, PhyMemMode state and the QEMU process, each kept once found. */
async function discover(s: SessionInfo, signal?: AbortSignal): Promise<Discovery> {
  const con = s.console;
  const d: Discovery = {};
  if (!con.canRun) {
    d.ramNote = con.dialect.dialect === 'readmemory-only' || con.dialect.raw('x') === undefined
      ? `the ${con.dialect.dialect} dialect has no command channel: RAM ranges unknown`
      : `the ${con.dialect.dialect} dialect returns command text only as output events and no event observer was given: RAM ranges unknown`;
    return d;
  }
  if (s.transport.targetRunning) throw new LiveAccessError('running', PAUSE_MESSAGE);
  if (!s.ram) {
    try {
      const ram = parseMtreeFlat(await con.run(con.dialect.monitor('info mtree -f'), signal));
      if (ram.length) s.ram = ram;
      else d.ramNote = "the monitor's 'info mtree -f' listed no RAM";
    } catch (e) {
      if (e instanceof LiveAccessError) throw e;
      d.ramNote = `'monitor info mtree -f' failed: ${(e as Error).message}`;
    }
  }
  if (!s.phyMem) {
    // Attach-time check of QEMU's global PhyMemMode: a crashed session may have left it on.
    const pm = await checkPhyMemMode(con, signal);
    if (pm.supported) {
      s.phyMem = { supported: true, note: pm.note };
      if (pm.note) s.notes.push(pm.note);
    } else d.phyMem = pm;
  }
  return d;
}

async function makeStrategy(name: StrategyName, s: SessionInfo, d: Discovery, opts: LiveOptions, stats: () => LiveStats, recognise: () => Promise<bigint | Unavailable>, signal?: AbortSignal): Promise<Strategy | Unavailable> {
  const con = s.console;
  const bytes = (n: number) => (stats().bytesRead += n);
  switch (name) {
    case 'proc-mem': {
      if (!s.ram) return { unavailable: d.ramNote ?? 'RAM ranges unknown' };
      const setup = s.procMem ?? (d.procMem ??= await setupProcMem(con, s.ram, signal));
      if (isUnavailable(setup)) return setup;
      const st = ProcMemStrategy.open(setup, bytes);
      // Kept only once it worked; a QEMU that went away is looked for again next time.
      if (isUnavailable(st)) s.procMem = undefined;
      else s.procMem = setup;
      return st;
    }
    case 'phymem-mode':
      if (!s.ram) return { unavailable: `${d.ramNote ?? 'RAM ranges unknown'} (physical reads outside RAM could reach MMIO)` };
      return PhyMemStrategy.create(con, s.phyMem ?? d.phyMem ?? { supported: false, note: 'PhyMemMode state unknown' });
    case 'monitor-xp':
      if (!s.ram) return { unavailable: d.ramNote ?? 'RAM ranges unknown' };
      return MonitorXpStrategy.create(con, bytes);
    case 'direct-map': {
      const offset = opts.directMapOffset ?? (await recognise());
      return isUnavailable(offset) ? offset : new DirectMapStrategy(s.transport, offset);
    }
    case 'core-file':
      return { unavailable: 'only ptview-core sessions read a core file' };
  }
}

export const openLiveTarget: OpenLiveTarget = async (channel, observer, options = {}, signal) => {
  // A core file session: registers and physical memory are direct, nothing to discover.
  if (channel.type === CORE_DEBUG_TYPE || options.dialect === 'ptview-core') return openCoreTarget(channel, options, signal);
  const t0 = performance.now();
  let stats = newStats();
  const s = await sessionInfo(channel, observer, options, signal);
  const t = s.transport;
  t.stats = stats;
  // One discovery at a time per session (two views opening at once share the answers).
  const found = s.lock.then(() => discover(s, signal));
  s.lock = found.catch(() => undefined);
  const d = await found;
  stats.phases.discover = performance.now() - t0;
  const getStats = () => stats;
  if (t.targetRunning) throw new LiveAccessError('running', PAUSE_MESSAGE);

  const frame = await elapsed(getStats, 'registers', () => resolveFrame(t, options, signal));
  const dialect = s.console.dialect;
  if (dialect.evaluateNeedsFrame && frame.frameId === undefined) throw new LiveAccessError('no-registers', 'no stack frame to evaluate registers in');
  const reader = new RegisterReader(t, dialect, frame.frameId);
  const regs = await elapsed(getStats, 'registers', () => readTargetRegisters(reader, signal));

  const notes = [...s.notes, ...regs.notes];
  const recognise = async (): Promise<bigint | Unavailable> => {
    const evaluate = (e: string, sig?: AbortSignal) => reader.evaluateNumber(e, sig);
    s.silentProbes ??= await defineSilentProbe(s.console, signal);
    if (!s.silentProbes && dialect.debugger === 'gdb') {
      // Plain reads of unmapped candidates would each show the adapter's error to the user.
      return { unavailable: 'recognising a direct map needs GDB with Python (probing with plain reads would show an error per candidate): set the direct-map offset' };
    }
    const probe = s.silentProbes ? silentProbe(s.console, evaluate) : plainProbe(t, evaluate);
    const found = await recogniseDirectMap(t, probe, regs.arch, regs.registers, s.ram, signal);
    if (isUnavailable(found)) return found;
    notes.push(`direct-map offset ${hex(found.offset)} recognised (${found.source}; candidate ${found.tried}), verified: the tables read through it map offset + each root table back to it`);
    return found.offset;
  };
  const candidates = options.strategy ? [options.strategy] : STRATEGY_ORDER;
  let strategy: Strategy | undefined;
  await elapsed(getStats, 'strategy', async () => {
    for (const name of candidates) {
      const st = await makeStrategy(name, s, d, options, getStats, recognise, signal);
      if (!isUnavailable(st)) {
        strategy = st;
        break;
      }
      notes.push(`${name} not used: ${st.unavailable}`);
    }
  });
  if (!strategy) {
    const kind = options.strategy ? 'strategy-failed' : 'no-memory-access';
    throw new LiveAccessError(
      kind,
      `cannot read guest-physical memory through this ${dialect.dialect} session: ${notes.filter((n) => n.includes('not used')).join('; ')}. ` +
        `Adapters with a GDB command channel (${WORKING_ADAPTERS}) on QEMU work; with readMemory only, set a direct-map offset when none is recognised.`,
    );
  }
  const chosen: Strategy = strategy;

  const ram: readonly RamRange[] = s.ram ? mergeRanges(s.ram) : [{ start: 0 as PhysAddr, end: Number.MAX_SAFE_INTEGER as PhysAddr, name: 'unknown (no monitor)' }];
  if (!s.ram) notes.push(`${d.ramNote ?? 'RAM ranges unknown'}: table addresses are not checked against RAM`);
  const memory = new LiveMemory(ram, chosen, getStats, s.ram !== undefined);
  // Timing of the reads themselves (the walk's transport cost).
  const inner = memory.readMany.bind(memory);
  memory.readMany = (reqs, sig) => elapsed(getStats, 'read', () => inner(reqs, sig));

  const off = t.onAnyEvent((e) => {
    if (e.event === 'continued') memory.invalid = 'running';
    else if (e.event === 'terminated' || e.event === 'exited') memory.invalid = 'session-ended';
    else if (e.event === 'memory' || e.event === 'invalidated') memory.invalidate();
  });
  let disposed: Promise<void> | undefined;
  const target: LiveTarget = {
    arch: regs.arch,
    dialect: dialect.dialect,
    strategy: chosen.name,
    strategyNotes: notes,
    registers: regs.registers,
    memory,
    get stats() {
      return stats;
    },
    resetStats() {
      stats = newStats();
      t.stats = stats;
    },
    invalidate: () => memory.invalidate(),
    dispose() {
      disposed ??= (async () => {
        off();
        await chosen.dispose();
      })();
      return disposed;
    },
  };
  return target;
};

/** Forgets what was learned about a session (call when it ends). */
export function forgetSession(channel: DapChannel): void {
  const s = sessions.get(channel);
  s?.transport.dispose();
  sessions.delete(channel);
}
