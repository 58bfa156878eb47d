// Shared helpers for the live-debug integration tests: raw GDB commands through the real
// adapter (as a user would type them in the Debug Console) and QEMU monitor oracles.
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { GdbSession } from '../../../src/debug/gdbAttach';
import { GuestRun } from '../../harness/qemu';

/** Runs `>CMD` in the Debug Console of a cdt-gdb-adapter session and returns its output text. */
export async function consoleCommand(s: GdbSession, cmd: string): Promise<string> {
  const out: string[] = [];
  const sub = s.observer.onEvent!((e) => {
    if (e.event === 'output') out.push((e as DebugProtocol.OutputEvent).body.output);
  });
  try {
    await s.channel.request('evaluate', { expression: `>${cmd}`, context: 'repl' });
  } finally {
    sub.dispose();
  }
  return out.join('');
}

/** QEMU's PhyMemMode as GDB reads it with `maintenance packet qqemu.PhyMemMode`. */
export async function phyMemMode(s: GdbSession): Promise<string> {
  const text = await consoleCommand(s, 'maintenance packet qqemu.PhyMemMode');
  const m = /received: "([^"]*)"/.exec(text);
  assert.ok(m, `no reply in ${JSON.stringify(text)}`);
  return m[1];
}

/** Bytes at a guest-physical address, from the monitor's `xp /Nxb` (independent of GDB). */
export async function xpBytes(run: GuestRun, pa: bigint, n: number): Promise<Buffer> {
  const text = await run.hmp(`xp /${n}xb 0x${pa.toString(16)}`);
  const bytes = [...text.matchAll(/\b0x([0-9a-f]{2})\b/g)].map((m) => parseInt(m[1], 16));
  assert.equal(bytes.length, n, text);
  return Buffer.from(bytes);
}

/**
 * The user's next virtual readMemory after ptview: reading `va` must give the bytes at its
 * physical page `pa` (per the monitor), not the bytes at physical address `va`.
 */
export async function assertVirtualRead(s: GdbSession, run: GuestRun, va: bigint, pa: bigint): Promise<void> {
  const body = await s.channel.request('readMemory', { memoryReference: `0x${va.toString(16)}`, count: 16 });
  const got = Buffer.from(body.data, 'base64');
  const want = await xpBytes(run, pa, 16);
  assert.ok(!want.equals(Buffer.alloc(16)), 'the oracle page must not be all zeros');
  assert.deepEqual(got, want, `virtual read of 0x${va.toString(16)}`);
}

/** A channel wrapper that runs `hook` before the n-th request of a kind (fault injection). */
export function hookRequests(
  s: GdbSession,
  command: string,
  hook: (n: number) => void | Promise<void>,
): GdbSession['channel'] {
  let n = 0;
  return {
    type: s.channel.type,
    request: async (c, args) => {
      if (c === command) await hook(++n);
      return s.channel.request(c, args);
    },
  };
}
