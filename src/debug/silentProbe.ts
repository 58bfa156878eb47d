// Probes that must never make the adapter report an error to the user. cdt-gdb-adapter (and any
// adapter built on @vscode/debugadapter's default) answers a failed readMemory or evaluate with
// `showUser: true`, which VS Code shows as an error toast: probing a few hundred direct-map
// candidates with plain reads meant a few hundred toasts. With GDB's Python the probe runs inside
// GDB, catches the error there, and returns a number through a convenience variable/function.
import { LiveAccessError } from './api';
import { DebuggerConsole, pythonCommand } from './console';
import { MemoryReadError } from '../core/memory';
import type { PhysAddr } from '../core/addr';
import { TargetCommands } from './strategies/types';

/** What direct-map recognition asks of the debugger. */
export interface ProbeAccess {
  /** A numeric expression over kernel symbols; undefined when it does not evaluate. */
  symbol(expression: string, signal?: AbortSignal): Promise<bigint | undefined>;
  /** Whether `length` bytes at virtual address `va` can be read. */
  readable(va: bigint, length: number, signal?: AbortSignal): Promise<boolean>;
}

/** A ProbeAccess that cannot make an error response (GDB with Python). */
export interface SilentProbe extends ProbeAccess {
  readonly silent: true;
}

/** Evaluates an expression to a number in the stopped frame (RegisterReader.evaluateNumber). */
export type EvaluateNumber = (expression: string, signal?: AbortSignal) => Promise<bigint | undefined>;

const FN = '_ptview_readable';
const VAR = 'ptview_probe';

const py = pythonCommand;

const DEFINE = `
import gdb
class _PtviewReadable(gdb.Function):
    def __init__(self):
        super().__init__(${JSON.stringify(FN)})
    def invoke(self, addr, length):
        try:
            gdb.selected_inferior().read_memory(int(addr) & 0xffffffffffffffff, int(length))
            return 1
        except Exception:
            return 0
_PtviewReadable()
`;

const symbolCode = (expression: string) => `
import gdb
try:
    v = int(gdb.parse_and_eval(${JSON.stringify(expression)})) & 0xffffffffffffffff
except Exception:
    v = None
gdb.set_convenience_variable(${JSON.stringify(VAR)}, v)
`;

async function runPython(con: DebuggerConsole, code: string, signal?: AbortSignal): Promise<void> {
  const req = con.dialect.raw(py(code));
  if (!req) throw new Error('no raw command channel');
  await con.transport.request(req.command, req.args, signal);
}

/**
 * Defines the probe function in GDB; call once per session. False when the session has no GDB
 * with Python: callers then use plain requests only where those cannot raise toasts.
 */
export async function defineSilentProbe(con: DebuggerConsole, signal?: AbortSignal): Promise<boolean> {
  if (con.dialect.debugger !== 'gdb' || !con.python) return false;
  try {
    await runPython(con, DEFINE, signal);
    return true;
  } catch (e) {
    if (e instanceof LiveAccessError) throw e;
    return false;
  }
}

/** The silent probes of a session where defineSilentProbe succeeded; `evaluate` is this stop's. */
export function silentProbe(con: DebuggerConsole, evaluate: EvaluateNumber): SilentProbe {
  return {
    silent: true,
    async symbol(expression, sig) {
      await runPython(con, symbolCode(expression), sig);
      return evaluate(`$${VAR}`, sig);
    },
    async readable(va, length, sig) {
      const v = await evaluate(`$${FN}(0x${va.toString(16)}, ${length})`, sig);
      return v === 1n;
    },
  };
}

/**
 * Plain reads: for ptview's own gdbstub client (no user interface to disturb), and adapters
 * without GDB, whose readMemory answers unreadable memory with `unreadableBytes` in a successful
 * response (DAP specification), not with an error.
 */
export function plainProbe(t: TargetCommands, evaluate: EvaluateNumber): ProbeAccess {
  return {
    symbol: evaluate,
    async readable(va, length, signal) {
      try {
        await t.read(0 as PhysAddr, va, length, signal);
        return true;
      } catch (e) {
        if (e instanceof MemoryReadError && e.reason === 'io') return false;
        throw e;
      }
    },
  };
}
