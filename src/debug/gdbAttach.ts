// The CLI's (and the tests') own debug session: GDB under cdt-gdb-adapter's target adapter,
// attached to a QEMU gdbstub WITHOUT resuming the guest. cdt-gdb-adapter continues the target
// at configurationDone, so configurationDone is never sent: every request ptview needs (threads,
// stackTrace, evaluate, readMemory) works before it, and the guest stays stopped from GDB's
// connect (QEMU stops the VM when a GDB attaches) until the detach.
import type { DebugProtocol } from '@vscode/debugprotocol';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { DapChannel, DapObserver, LiveAccessError } from './api';
import { DapClient } from './dapClient';
import { GdbAttachError, parseHostPort } from './hostPort';

export { GdbAttachError, parseHostPort };

export interface GdbSession {
  readonly channel: DapChannel;
  readonly observer: DapObserver;
  /** The GDB binary that attached (gdb, or gdb-multiarch for a foreign target). */
  readonly gdb: string;
  /** Detaches GDB (the guest stays paused: QEMU keeps a VM stopped by GDB after a detach). */
  close(): Promise<void>;
}

/** webpack's name for node's own require inside a bundle (undefined outside one). */
declare const __non_webpack_require__: NodeJS.Require | undefined;

function adapterPath(): string {
  // Node's resolution: in the CLI's webpack bundle a plain require.resolve gives a module number.
  const req = typeof __non_webpack_require__ === 'function' ? __non_webpack_require__ : require;
  return req.resolve('cdt-gdb-adapter/dist/debugTargetAdapter.js');
}

function have(bin: string): boolean {
  return spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0;
}

async function attachWith(gdb: string, host: string, port: number, timeoutMs: number, requestMs: number): Promise<GdbSession> {
  const client = DapClient.launch(process.execPath, [adapterPath()], { timeoutMs });
  // GDB's own words on a failed attach come only as output events.
  const gdbOutput: string[] = [];
  const outputSub = client.onEvent((e) => {
    if (e.event === 'output') gdbOutput.push((e as DebugProtocol.OutputEvent).body.output);
  });
  let caps: DebugProtocol.Capabilities | undefined;
  try {
    const init = await client.request('initialize', { adapterID: 'gdbtarget', clientID: 'ptview', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path', supportsMemoryReferences: true });
    caps = init.body;
    await client.request('attach', {
      gdb,
      // A refused connection fails at once instead of GDB's 15 s of retries.
      preConnectCommands: ['set tcp auto-retry off', 'set tcp connect-timeout 5'],
      target: { type: 'remote', parameters: [`${host.includes(':') ? `[${host}]` : host}:${port}`] },
    } as DebugProtocol.AttachRequestArguments);
  } catch (e) {
    client.kill();
    const tail = gdbOutput.join('').split('\n').filter((l) => /warning|error|unknown|refused|timed out/i.test(l)).slice(-3).join(' | ');
    throw new GdbAttachError(`${gdb} could not attach to ${host}:${port}: ${(e as Error).message}${tail ? ` (${tail})` : ''}`);
  }
  let closed = false;
  const channel: DapChannel = {
    type: 'gdbtarget',
    request: async (command, args) => {
      if (closed) throw new LiveAccessError('session-ended', 'the GDB session was closed');
      return (await client.request(command, args, { timeoutMs: requestMs })).body;
    },
  };
  outputSub.dispose();
  const observer: DapObserver = { capabilities: caps, onEvent: (l) => client.onEvent(l) };
  return {
    channel,
    observer,
    gdb,
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await client.request('disconnect', {}, { timeoutMs: 3000 });
      } catch {
        /* GDB or QEMU already gone */
      }
      client.kill();
    },
  };
}

/**
 * Starts GDB with cdt-gdb-adapter and attaches to HOST:PORT without resuming the guest. Tries
 * the host's `gdb` first and `gdb-multiarch` when GDB cannot handle the target's architecture
 * (QEMU sends its target description; a plain x86_64 GDB fails on RISC-V/AArch64 registers).
 * PTVIEW_GDB names a GDB to use instead. `timeoutMs` bounds the attach's requests (default 20 s)
 * and `requestMs` each later one (default 5 min: only a hung adapter takes that long; the slowest
 * single request ptview sends, a monitor-xp batch or the direct-map probe's loop in GDB, takes seconds).
 */
export async function attachGdb(hostPort: string, opts: { gdb?: string; timeoutMs?: number; requestMs?: number } = {}): Promise<GdbSession> {
  const { host, port } = parseHostPort(hostPort);
  const timeoutMs = opts.timeoutMs ?? 20000;
  const requestMs = opts.requestMs ?? 300_000;
  const forced = opts.gdb ?? process.env.PTVIEW_GDB;
  if (forced) return attachWith(forced, host, port, timeoutMs, requestMs);
  const native = os.arch() === 'x64' || os.arch() === 'arm64' ? 'gdb' : 'gdb-multiarch';
  const order = [native, 'gdb-multiarch', 'gdb'].filter((g, i, a) => a.indexOf(g) === i && have(g));
  if (order.length === 0) throw new GdbAttachError('neither gdb nor gdb-multiarch is installed (Debian: apt-get install gdb gdb-multiarch)');
  let last: Error | undefined;
  for (const g of order) {
    try {
      return await attachWith(g, host, port, timeoutMs, requestMs);
    } catch (e) {
      last = e as Error;
      // A refused connection will not work with another GDB either.
      if (/refused|timed out|No route/i.test(last.message)) break;
    }
  }
  throw last!;
}
