// Command building per adapter dialect: how to evaluate a register, run a raw GDB/LLDB command
// and where its text comes back. Shapes from each adapter's sources and docs; cdt-gdb-adapter,
// GDB's own DAP (GDB 16) and lldb-dap (lldb-vscode-16) are verified end to end against QEMU's
// gdbstub (test/integration/debug/live-*.test.ts), the others by their documented shapes.
import { Dialect } from './api';
import { parseRegisterValue } from './registerValue';

/** A DAP request plus where the command's text comes back. */
export interface BuiltRequest {
  readonly command: string;
  readonly args: Record<string, unknown>;
  /** 'result': the evaluate response's `result`; 'events': `output` events before the response. */
  readonly output: 'result' | 'events' | 'none';
}

/** What the debugger behind the adapter understands. */
export type Debugger = 'gdb' | 'lldb' | 'none';

export interface DialectCommands {
  readonly dialect: Dialect;
  readonly debugger: Debugger;
  /** Whether evaluate needs a frameId (cdt-gdb-adapter refuses expressions without one). */
  readonly evaluateNeedsFrame: boolean;
  /** Evaluates an expression in watch context (registers). */
  evaluate(expression: string, frameId?: number): BuiltRequest;
  /** The expression that reads register NAME as an unsigned 64-bit number. */
  registerExpression(name: string): string;
  /**
   * A raw debugger command (GDB CLI, or LLDB for codelldb). `silent` asks for a form that prints
   * nothing to the user's Debug Console (cdt: through GDB's Python, when `python` is true).
   */
  raw(cmd: string, opts?: { silent?: boolean; python?: boolean; frameId?: number }): BuiltRequest | undefined;
  /** Several commands in one request when the dialect can (cdt with Python); else undefined. */
  rawBatch?(cmds: readonly string[], opts: { python: boolean }): BuiltRequest | undefined;
  /** Debugger command sending a gdbstub packet ("Qqemu.PhyMemMode:1"). */
  packet(p: string): string;
  /** Debugger command running a QEMU monitor command. */
  monitor(cmd: string): string;
  /** Debugger command dropping its memory cache after a mode switch (undefined: none needed). */
  flushCache(): string | undefined;
  /** The command's own text from what the adapter returned (drops an echo of the command). */
  commandText?(text: string): string;
  /**
   * Several registers in one request, when the adapter returns an array's elements in one answer
   * (cdt-gdb-adapter: evaluate in context `variables`); else undefined (one evaluate each).
   */
  registerBatch?(names: readonly string[], frameId?: number): RegisterBatch | undefined;
}

/** One request reading several registers, and how to read its answer. */
export interface RegisterBatch {
  readonly request: BuiltRequest;
  /** Each name's value (undefined: absent), or undefined when the answer is not the expected shape. */
  parse(body: unknown): Map<string, bigint | undefined> | undefined;
}

function gdbBase(dialect: Dialect): Pick<DialectCommands, 'dialect' | 'debugger' | 'registerExpression' | 'packet' | 'monitor' | 'flushCache'> {
  return {
    dialect,
    debugger: 'gdb',
    // QEMU types control registers as flags and AArch64 sysregs as signed long: always cast.
    // An absent register is void, and casting void is an error that adapters show the user as
    // a toast ("Invalid cast."): test it first, so an absent one just evaluates to "void".
    // GDB refuses to cast a 4-byte flags register (x86 eflags, AArch64 cpsr) straight to a
    // 64-bit integer ("Invalid cast."), which the adapter shows as an error toast: via int first.
    registerExpression: (n) => `$_isvoid($${n}) ? $${n} : sizeof($${n}) == 4 ? (unsigned long long)(unsigned int)$${n} : (unsigned long long)$${n}`,
    packet: (p) => `maintenance packet ${p}`,
    monitor: (c) => `monitor ${c}`,
    flushCache: () => 'maintenance flush dcache',
  };
}

// At most as many registers as the presence mask (an unsigned int) has bits.
const BATCH_MAX = 32;

/**
 * GDB's array literal of unsigned ints: a mask of the registers present (bit i: names[i] is not
 * void), then each register's high and low 32 bits (0 when absent). 32-bit halves because
 * cdt-gdb-adapter turns integer elements into JavaScript numbers (exact up to 2^53 only); the
 * absent branch is 0ull, so shifting it right by 32 warns of nothing in the Debug Console.
 */
export function registerArrayExpression(names: readonly string[]): string {
  const v = (n: string) => `($_isvoid($${n}) ? 0ull : sizeof($${n}) == 4 ? (unsigned long long)(unsigned int)$${n} : (unsigned long long)$${n})`;
  const mask = names.map((n, i) => `($_isvoid($${n}) ? 0u : ${2 ** i}u)`).join(' | ');
  return `{(unsigned int)(${mask}), ${names.map((n) => `(unsigned int)(${v(n)} >> 32), (unsigned int)${v(n)}`).join(', ')}}`;
}

/** The values of registerArrayExpression's array, from cdt-gdb-adapter's JSON text of its elements. */
export function parseRegisterArray(names: readonly string[], result: unknown): Map<string, bigint | undefined> | undefined {
  if (typeof result !== 'string') return undefined;
  let elems: unknown;
  try {
    elems = JSON.parse(result);
  } catch {
    return undefined;
  }
  if (!Array.isArray(elems) || elems.length !== 1 + 2 * names.length) return undefined;
  const words: bigint[] = [];
  for (const e of elems) {
    // Numbers as the adapter converts them; strings when GDB printed another radix.
    const w = typeof e === 'number' && Number.isSafeInteger(e) && e >= 0 ? BigInt(e) : typeof e === 'string' ? parseRegisterValue(e) : undefined;
    if (w === undefined || w > 0xffffffffn) return undefined;
    words.push(w);
  }
  const out = new Map<string, bigint | undefined>();
  names.forEach((n, i) => out.set(n, (words[0] >> BigInt(i)) & 1n ? (words[1 + 2 * i] << 32n) | words[2 + 2 * i] : undefined));
  return out;
}

const watch = (expression: string, frameId?: number): BuiltRequest => ({
  command: 'evaluate',
  args: frameId === undefined ? { expression, context: 'watch' } : { expression, frameId, context: 'watch' },
  output: 'result',
});

/** cdt-gdb-adapter (debug types gdbtarget/gdb from cdt-gdb-vscode): `>CMD` in repl, text as events. */
const cdt: DialectCommands = {
  ...gdbBase('cdt-gdb'),
  evaluateNeedsFrame: true,
  evaluate: watch,
  raw(cmd, o = {}) {
    // The adapter wraps the text in console "…" without escaping: no double quotes inside.
    if (cmd.includes('"')) throw new Error(`raw command must not contain '"' for cdt-gdb-adapter: ${cmd}`);
    if (o.silent && o.python) return cdt.rawBatch!([cmd], { python: true });
    return { command: 'evaluate', args: { expression: `>${cmd}`, context: 'repl' }, output: 'events' };
  },
  rawBatch(cmds, o) {
    if (!o.python) return undefined;
    for (const c of cmds) if (c.includes('"')) throw new Error(`raw command must not contain '"' for cdt-gdb-adapter: ${c}`);
    // One Python line, no console output: gdb.execute(..., to_string=True) swallows the text.
    const py = cmds.map((c) => `gdb.execute('${c.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}', to_string=True)`).join('; ');
    return { command: 'evaluate', args: { expression: `>python ${py}`, context: 'repl' }, output: 'none' };
  },
  registerBatch(names, frameId) {
    if (names.length === 0 || names.length > BATCH_MAX) return undefined;
    // In context `variables` the adapter answers an array with its elements as JSON text (its
    // getChildElements), in the same request.
    const request: BuiltRequest = { command: 'evaluate', args: { expression: registerArrayExpression(names), frameId, context: 'variables' }, output: 'result' };
    return { request, parse: (body) => parseRegisterArray(names, (body as { result?: unknown } | undefined)?.result) };
  },
};

/** A raw command as an evaluate in `context`, text prefixed, optional frameId. */
function replCommand(prefix: string, context: string, output: BuiltRequest['output']): DialectCommands['raw'] {
  return (cmd, o = {}) => ({
    command: 'evaluate',
    args: o.frameId === undefined ? { expression: prefix + cmd, context } : { expression: prefix + cmd, frameId: o.frameId, context },
    output,
  });
}

/** cppdbg (MIEngine): `-exec CMD` in repl, console text in `result`. */
const cppdbg: DialectCommands = { ...gdbBase('cppdbg'), evaluateNeedsFrame: false, evaluate: watch, raw: replCommand('-exec ', 'repl', 'result') };

/** cortex-debug: plain GDB CLI text in repl, output as events; refuses unless stopped. */
const cortex: DialectCommands = { ...gdbBase('cortex-debug'), evaluateNeedsFrame: false, evaluate: watch, raw: replCommand('', 'repl', 'events') };

/**
 * GDB's own DAP interpreter (gdb -i=dap, GDB >= 14; verified with GDB 16.3): a repl expression is
 * a CLI command run with to_string, its text in `result` and nothing in the console; watch needs
 * no frameId. (Its attach answers only after configurationDone, and does not resume: `target remote`.)
 */
const gdbDap: DialectCommands = { ...gdbBase('gdb-dap'), evaluateNeedsFrame: false, evaluate: watch, raw: replCommand('', 'repl', 'result') };

/** CodeLLDB: LLDB commands through the private `_command` context, text in `result`. */
const codelldb: DialectCommands = {
  dialect: 'codelldb',
  debugger: 'lldb',
  evaluateNeedsFrame: false,
  evaluate: watch,
  registerExpression: (n) => `$${n}`,
  raw: replCommand('', '_command', 'result'),
  packet: (p) => `process plugin packet send ${p}`,
  monitor: (c) => `process plugin packet monitor ${c}`,
  flushCache: () => undefined,
};

/**
 * LLVM's lldb-dap (lldb-vscode before LLVM 18; verified with lldb-vscode-16): LLDB commands are
 * repl expressions behind a backtick, their text in `result` after an "(lldb) CMD" echo line;
 * registers evaluate only in a frame (without a frameId: "No value"). lldb-vscode 16 has no
 * readMemory at all (it aborts on the request): proc-mem and monitor-xp work, phymem-mode and
 * direct-map need readMemory (DapCommands.noReads).
 */
const lldbDap: DialectCommands = {
  ...codelldb,
  dialect: 'lldb-dap',
  evaluateNeedsFrame: true,
  raw: replCommand('`', 'repl', 'result'),
  commandText: (text) => text.replace(/^\(lldb\) [^\n]*\n/, ''),
};

/** Any adapter with readMemory and evaluate, but no raw command channel. */
const readMemoryOnly: DialectCommands = {
  dialect: 'readmemory-only',
  debugger: 'none',
  evaluateNeedsFrame: false,
  evaluate: watch,
  registerExpression: (n) => `$${n}`,
  raw: () => undefined,
  packet: (p) => p,
  monitor: (c) => c,
  flushCache: () => undefined,
};

/** ptview's own core-file adapter: registers and memory are direct (src/debug/coreTarget.ts). */
const ptviewCore: DialectCommands = { ...readMemoryOnly, dialect: 'ptview-core' };

export const DIALECTS: Readonly<Record<Dialect, DialectCommands>> = {
  'cdt-gdb': cdt,
  cppdbg,
  'cortex-debug': cortex,
  'gdb-dap': gdbDap,
  codelldb,
  'lldb-dap': lldbDap,
  'readmemory-only': readMemoryOnly,
  'ptview-core': ptviewCore,
};

/** Text of a `maintenance packet` / `process plugin packet send` reply: GDB prints `received: "0"`. */
export function packetReply(text: string): string | undefined {
  const m = /(?:received|response):\s*"?([^"\r\n]*)"?/.exec(text);
  return m ? m[1] : undefined;
}
