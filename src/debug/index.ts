// openLiveTarget: one stopped target as the paging core sees it, through a debug adapter. What a
// session learns once (dialect, RAM layout, QEMU process, stale PhyMemMode) is kept per channel
// object: pass the same DapChannel for every stop of a session. Never pauses, resumes, or writes
// the target. (The CLI's --gdb talks to QEMU's gdbstub itself: src/debug/gdbstub.)
import { DapChannel, DapObserver, LiveAccessError, LiveOptions, OpenLiveTarget } from './api';
import { DebuggerConsole } from './console';
import { DapCommands } from './dapCommands';
import { WORKING_ADAPTERS, detectDialect } from './detect';
import { DIALECTS } from './dialects';
import { RegisterReader, readTargetRegisters, resolveFrame } from './registers';
import { SessionKnowledge, assembleTarget, discoverQemu, elapsed } from './target';
import { PAUSE_MESSAGE, Transport, newStats } from './transport';

export * from './api';
export { STRATEGY_ORDER } from './target';

/** Per-session knowledge, found at the first stop. */
interface SessionInfo extends SessionKnowledge {
  transport: Transport;
  console: DebuggerConsole;
  /** Serializes target creation per session (first-stop discovery runs once). */
  ready: Promise<void>;
}

const sessions = new WeakMap<DapChannel, SessionInfo>();

async function session(channel: DapChannel, observer: DapObserver, opts: LiveOptions, signal?: AbortSignal): Promise<SessionInfo> {
  let s = sessions.get(channel);
  if (s && !s.transport.sessionEnded && (!opts.dialect || s.console.dialect.dialect === opts.dialect)) {
    await s.ready;
    return s;
  }
  const transport = new Transport(channel, observer);
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  try {
    const det = await detectDialect(transport, channel.type, observer.capabilities, opts.dialect, signal);
    // Raw commands go without a frameId: frame ids change at every stop, and no dialect needs one.
    const con = new DebuggerConsole(transport, DIALECTS[det.dialect]);
    s = { transport, console: con, commands: new DapCommands(con), notes: [`adapter dialect ${det.dialect} (${det.why})`], ready };
    sessions.set(channel, s);
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
    if (!con.canRun) {
      s.ramNote = det.dialect === 'readmemory-only' || con.dialect.raw('x') === undefined
        ? `the ${det.dialect} dialect has no command channel: RAM ranges unknown`
        : `the ${det.dialect} dialect returns command text only as output events and no event observer was given: RAM ranges unknown`;
      return s;
    }
    if (transport.targetRunning) throw new LiveAccessError('running', PAUSE_MESSAGE);
    await discoverQemu(s, signal);
    return s;
  } catch (e) {
    sessions.delete(channel);
    transport.dispose();
    throw e;
  } finally {
    resolveReady();
  }
}

export const openLiveTarget: OpenLiveTarget = async (channel, observer, options = {}, signal) => {
  const t0 = performance.now();
  let stats = newStats();
  const s = await session(channel, observer, options, signal);
  const t = s.transport;
  t.stats = stats;
  stats.phases.discover = performance.now() - t0;
  const getStats = () => stats;
  if (t.targetRunning) throw new LiveAccessError('running', PAUSE_MESSAGE);

  const frame = await elapsed(getStats, 'registers', () => resolveFrame(t, options, signal));
  const dialect = s.console.dialect;
  if (dialect.evaluateNeedsFrame && frame.frameId === undefined) throw new LiveAccessError('no-registers', 'no stack frame to evaluate registers in');
  const reader = new RegisterReader(t, dialect, frame.frameId);
  const regs = await elapsed(getStats, 'registers', () => readTargetRegisters(reader, signal));

  let off = () => {};
  const { target, memory } = await assembleTarget(
    s,
    {
      kind: dialect.dialect,
      arch: regs.arch,
      registers: regs.registers,
      notes: regs.notes,
      evaluate: (e, sig) => reader.evaluateNumber(e, sig),
      getStats,
      resetStats() {
        stats = newStats();
        t.stats = stats;
      },
      noStrategyAdvice: `Adapters with a GDB command channel (${WORKING_ADAPTERS}) on QEMU work; with readMemory only, set a direct-map offset when none is recognised.`,
      onDispose: () => off(),
    },
    options,
    signal,
  );
  off = t.onAnyEvent((e) => {
    if (e.event === 'continued') memory.invalid = 'running';
    else if (e.event === 'terminated' || e.event === 'exited') memory.invalid = 'session-ended';
    else if (e.event === 'memory' || e.event === 'invalidated') memory.invalidate();
  });
  return target;
};

/** Forgets what was learned about a session (call when it ends). */
export function forgetSession(channel: DapChannel): void {
  const s = sessions.get(channel);
  s?.transport.dispose();
  sessions.delete(channel);
}
