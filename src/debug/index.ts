// openLiveTarget: one stopped target as the paging core sees it, through a debug adapter. What a
// session learns once (dialect, RAM layout, QEMU process, stale PhyMemMode, architecture) is kept per channel
// object: pass the same DapChannel for every stop of a session. Never pauses, resumes, or writes
// the target. (The CLI's --gdb talks to QEMU's gdbstub itself: src/debug/gdbstub.)
import type { Arch } from '../core/format';
import { DapChannel, DapObserver, LiveAccessError, LiveOptions, OpenLiveTarget } from './api';
import { DebuggerConsole } from './console';
import { CORE_DEBUG_TYPE } from './coreProtocol';
import { openCoreTarget } from './coreTarget';
import { DapCommands } from './dapCommands';
import { WORKING_ADAPTERS, detectDialect } from './detect';
import { DIALECTS } from './dialects';
import { RegisterReader, readTargetRegisters, resolveFrame } from './registers';
import { SessionKnowledge, assembleTarget, discoverQemu, elapsed } from './target';
import { PAUSE_MESSAGE, Transport, newStats } from './transport';
import { defineSilentProbe, plainProbe, silentProbe } from './silentProbe';

export * from './api';
export { STRATEGY_ORDER } from './target';

/** Per-session knowledge (SessionKnowledge keeps only what was found). */
interface SessionInfo extends SessionKnowledge {
  transport: Transport;
  console: DebuggerConsole;
  /** Serializes discovery per session (two views opening at once share the answers). */
  lock: Promise<unknown>;
  /** Whether the silent probes (direct-map recognition) are defined in GDB; undefined: not tried. */
  silentProbes?: boolean;
  /** The architecture the last stop's registers showed (its registers are read without probing). */
  arch?: Arch;
  /** False once the adapter answered a batch of registers in another shape (then one evaluate each). */
  batchRegisters?: boolean;
}

const sessions = new WeakMap<DapChannel, SessionInfo>();
/** Detections in progress: two opens of one session share one. */
const detecting = new WeakMap<DapChannel, Promise<SessionInfo>>();

/** The dialect of a session, found once (a detection that fails is not kept). */
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
    // GDB's DAP interpreter is written in Python, so there it is always present; cdt's GDB may lack it.
    if ((det.dialect === 'cdt-gdb' && transport.canCaptureOutput) || det.dialect === 'gdb-dap') {
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
    const info: SessionInfo = { transport, console: con, commands: new DapCommands(con), connection: `adapter dialect ${det.dialect} (${det.why})`, notes: [], lock: Promise.resolve() };
    sessions.set(channel, info);
    return info;
  } catch (e) {
    transport.dispose();
    throw e;
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
  if (t.targetRunning) throw new LiveAccessError('running', PAUSE_MESSAGE);
  const found = s.lock.then(() => discoverQemu(s, signal));
  s.lock = found.catch(() => undefined);
  const d = await found;
  stats.phases.discover = performance.now() - t0;
  const getStats = () => stats;
  if (t.targetRunning) throw new LiveAccessError('running', PAUSE_MESSAGE);

  const frame = await elapsed(getStats, 'registers', () => resolveFrame(t, options, signal));
  const dialect = s.console.dialect;
  if (dialect.evaluateNeedsFrame && frame.frameId === undefined) throw new LiveAccessError('no-registers', 'no stack frame to evaluate registers in');
  const reader = new RegisterReader(t, dialect, frame.frameId, s.batchRegisters);
  const regs = await elapsed(getStats, 'registers', () => readTargetRegisters(reader, signal, s.arch));
  s.arch = regs.arch;
  s.batchRegisters = reader.batched;

  let off = () => {};
  const evaluate = (e: string, sig?: AbortSignal) => reader.evaluateNumber(e, sig);
  const { target, memory } = await assembleTarget(
    s,
    d,
    {
      kind: dialect.dialect,
      arch: regs.arch,
      registers: regs.registers,
      notes: regs.notes,
      evaluate,
      async probe(sig) {
        s.silentProbes ??= await defineSilentProbe(s.console, sig);
        if (s.silentProbes) return silentProbe(s.console, evaluate);
        // Through VS Code each failed read of an unmapped candidate would be an error toast.
        if (dialect.debugger === 'gdb') return { unavailable: 'recognising a direct map needs GDB with Python (probing with plain reads would show an error per candidate): set the direct-map offset' };
        return plainProbe(s.commands, evaluate);
      },
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

/** The session's debugger console (dialect, raw commands), detected once per session. */
export async function sessionConsole(channel: DapChannel, observer: DapObserver, options: LiveOptions = {}, signal?: AbortSignal): Promise<DebuggerConsole> {
  return (await sessionInfo(channel, observer, options, signal)).console;
}

/** Forgets what was learned about a session (call when it ends). */
export function forgetSession(channel: DapChannel): void {
  const s = sessions.get(channel);
  s?.transport.dispose();
  sessions.delete(channel);
}
