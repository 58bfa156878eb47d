// Chooses the adapter dialect from the initialize capabilities, the session type and one
// harmless probe (the `gdb` type is shared by cdt-gdb-vscode and Native Debug, so the type
// alone never decides). A setting (LiveOptions.dialect) overrides the guess.
import type { DebugProtocol } from '@vscode/debugprotocol';
import { Dialect, LiveAccessError } from './api';
import { DIALECTS } from './dialects';
import { Transport } from './transport';

export interface Detection {
  dialect: Dialect;
  /** How the dialect was chosen (shown with the strategy notes). */
  why: string;
}

export const WORKING_ADAPTERS =
  'cdt-gdb-adapter (gdbtarget), cppdbg (cpptools), cortex-debug, GDB >= 14 native DAP, CodeLLDB, lldb-dap';

const TYPE_DIALECT: Record<string, Dialect> = {
  gdbtarget: 'cdt-gdb',
  cppdbg: 'cppdbg',
  'cortex-debug': 'cortex-debug',
  lldb: 'codelldb',
  // LLVM's own adapter: 'lldb-dap' (LLVM >= 18, its VS Code extension), 'lldb-vscode' before.
  'lldb-dap': 'lldb-dap',
  'lldb-vscode': 'lldb-dap',
};

const GNU_GDB = /GNU gdb/;

export async function detectDialect(
  t: Transport,
  type: string | undefined,
  caps: DebugProtocol.Capabilities | undefined,
  override?: Dialect,
  signal?: AbortSignal,
): Promise<Detection> {
  if (override) return { dialect: override, why: `dialect ${override} set by the user` };
  const byType = type ? TYPE_DIALECT[type] : undefined;
  if (byType) return { dialect: byType, why: `session type '${type}'` };
  // Unknown or shared type ('gdb'): ask. cdt-gdb-adapter sends `>-gdb-version` to GDB as MI and
  // prints GDB's banner as output events; GDB's own DAP answers a plain `show version` in `result`.
  if (t.canCaptureOutput) {
    try {
      const r = await t.requestCapturingOutput('evaluate', DIALECTS['cdt-gdb'].raw('-gdb-version')!.args, signal);
      if (GNU_GDB.test(r.output) || GNU_GDB.test(String(r.body?.result ?? ''))) return { dialect: 'cdt-gdb', why: `'>-gdb-version' answered by GDB (cdt-gdb-adapter)` };
    } catch (e) {
      if (e instanceof LiveAccessError) throw e;
    }
  }
  try {
    const r = await t.request('evaluate', DIALECTS['gdb-dap'].raw('show version')!.args, signal);
    if (GNU_GDB.test(String(r?.result ?? ''))) return { dialect: 'gdb-dap', why: `'show version' answered in the result (GDB native DAP)` };
  } catch (e) {
    if (e instanceof LiveAccessError) throw e;
  }
  try {
    // lldb-dap runs a backtick-prefixed repl expression as an LLDB command (GDB adapters refuse it).
    const r = await t.request('evaluate', DIALECTS['lldb-dap'].raw('version')!.args, signal);
    if (/lldb version/i.test(String(r?.result ?? ''))) return { dialect: 'lldb-dap', why: `'\`version' answered by LLDB (lldb-dap)` };
  } catch (e) {
    if (e instanceof LiveAccessError) throw e;
  }
  if (caps?.supportsReadMemoryRequest) {
    return { dialect: 'readmemory-only', why: `no raw command channel found for session type '${type ?? 'unknown'}'; readMemory is supported` };
  }
  throw new LiveAccessError(
    'unsupported-adapter',
    `the debug adapter (type '${type ?? 'unknown'}') offers neither readMemory nor a GDB command channel, so ptview cannot read page tables through it; adapters that work: ${WORKING_ADAPTERS}`,
  );
}
