// Debug adapters other than cdt-gdb-adapter, started as a DAP client would start them and attached
// to a QEMU gdbstub without resuming the guest, for the live adapter tests:
// - GDB's own DAP (`gdb -i=dap`, GDB 16 from Debian 13 in a private prefix: scripts/ensure-gdb-dap.js);
// - LLVM's lldb-dap (Debian 12's lldb-vscode-16), `gdb-remote` through attachCommands.
// Each session offers the adapter's own raw-command channel, so the oracles (PhyMemMode, `info
// status`) are read the way a user of that adapter would read them.
import type { DebugProtocol } from '@vscode/debugprotocol';
import fs from 'node:fs';
import path from 'node:path';
import { DapChannel, DapObserver, LiveAccessError } from '../../../src/debug';
import { DapClient } from '../../../src/debug/dapClient';
import { REPO } from '../../harness/qemu';

export interface AdapterSession {
  readonly channel: DapChannel;
  readonly observer: DapObserver;
  readonly client: DapClient;
  /** Every output event's text since the start (attach errors are explained there). */
  readonly output: string[];
  /** A raw debugger command in the adapter's own syntax; its text. */
  raw(cmd: string): Promise<string>;
  /** QEMU's PhyMemMode as the debugger reads it with a qqemu.PhyMemMode packet. */
  phyMemMode(): Promise<string>;
  /** Ends the adapter process (no disconnect: a detach would resume QEMU's VM). */
  close(): void;
}

async function startClient(command: string, args: string[], type: string): Promise<{ client: DapClient; output: string[]; observer: DapObserver }> {
  const client = DapClient.launch(command, args, { timeoutMs: 30000 });
  const output: string[] = [];
  client.onEvent((e) => e.event === 'output' && output.push((e as DebugProtocol.OutputEvent).body.output));
  const init = await client.request('initialize', { adapterID: type, clientID: 'ptview-test', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path', supportsMemoryReferences: true });
  const observer: DapObserver = { capabilities: init.body, onEvent: (l) => client.onEvent(l) };
  return { client, output, observer };
}

/** The adapter's next `name` event (rejects after `ms`). */
export function nextEvent(client: DapClient, name: string, ms: number): Promise<DebugProtocol.Event> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (sub.dispose(), reject(new Error(`no '${name}' event within ${ms} ms`))), ms);
    const sub = client.onEvent((e) => {
      if (e.event !== name) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(e);
    });
  });
}

/** A repl evaluate's result text. */
export async function replText(client: DapClient, expression: string): Promise<string> {
  return String((await client.request('evaluate', { expression, context: 'repl' })).body?.result ?? '');
}

function session(client: DapClient, type: string, observer: DapObserver, output: string[], raw: (cmd: string) => Promise<string>, packetCmd: string): AdapterSession {
  let closed = false;
  const channel: DapChannel = {
    type,
    request: async (command, args) => {
      if (closed) throw new LiveAccessError('session-ended', 'the adapter was closed');
      return (await client.request(command, args)).body;
    },
  };
  return {
    channel,
    observer,
    client,
    output,
    raw,
    async phyMemMode() {
      const text = await raw(`${packetCmd} qqemu.PhyMemMode`);
      const m = /(?:received: "|response: )([^"\n]*)/.exec(text);
      if (!m) throw new Error(`no PhyMemMode reply in ${JSON.stringify(text)}`);
      return m[1];
    },
    close() {
      if (closed) return;
      closed = true;
      client.kill();
    },
  };
}

/** GDB >= 14 from the private prefix (installed on first use), `-i=dap`, attached to PORT. */
export async function attachGdbDap(port: number, opts: { multiarch?: boolean } = {}): Promise<AdapterSession & { version: string }> {
  // Plain JS script shared with the command line (cached after the first run).
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { ensureGdbDap } = require(path.join(REPO, 'scripts', 'ensure-gdb-dap.js')) as { ensureGdbDap(): { launcher: string; multiarchLauncher: string } };
  const r = ensureGdbDap();
  // 'gdb' is the type VS Code extensions give GDB's DAP (shared with others): detection decides.
  const { client, output, observer } = await startClient(opts.multiarch ? r.multiarchLauncher : r.launcher, ['-i=dap'], 'gdb');
  const version = /GNU gdb \(.*?\) (\S+)/.exec(output.join(''))?.[1] ?? '?';
  // GDB >= 15 answers attach only after configurationDone; attach is `target remote`, no resume.
  const stopped = nextEvent(client, 'stopped', 20000);
  const attached = client.request('attach', { target: `127.0.0.1:${port}` });
  await client.request('configurationDone');
  await attached;
  await stopped; // reason 'attach': GDB reports the stop QEMU made on connect
  const raw = (cmd: string) => replText(client, cmd);
  return Object.assign(session(client, 'gdb', observer, output, raw, 'maintenance packet'), { version });
}

/** lldb-dap / lldb-vscode on PATH (LLVM 18 renamed it; Debian 12's lldb-16 has lldb-vscode-16). */
export function lldbDapBinary(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).concat('/usr/bin');
  for (const name of ['lldb-dap', 'lldb-dap-19', 'lldb-dap-18', 'lldb-vscode-17', 'lldb-vscode-16', 'lldb-vscode']) {
    for (const d of dirs) if (fs.existsSync(path.join(d, name))) return path.join(d, name);
  }
  return undefined;
}

/**
 * lldb-dap attached with `gdb-remote` (attachCommands) for a target of `arch` (LLDB's name:
 * x86_64, aarch64), stopOnEntry and no configurationDone: the process is never continued.
 */
export async function attachLldbDap(port: number, arch: string): Promise<AdapterSession> {
  const bin = lldbDapBinary();
  if (!bin) throw new Error('no lldb-dap / lldb-vscode on PATH (node scripts/ensure-deps.js installs lldb-16)');
  const type = path.basename(bin).startsWith('lldb-dap') ? 'lldb-dap' : 'lldb-vscode';
  const { client, output, observer } = await startClient(bin, [], type);
  try {
    await client.request('attach', { initCommands: [`settings set target.default-arch ${arch}`], attachCommands: [`gdb-remote 127.0.0.1:${port}`], stopOnEntry: true });
  } catch (e) {
    client.kill();
    throw new Error(`${(e as Error).message} | ${output.join('').replace(/\s+/g, ' ').slice(0, 600)}`);
  }
  const raw = (cmd: string) => replText(client, '`' + cmd);
  return session(client, type, observer, output, raw, 'process plugin packet send');
}
