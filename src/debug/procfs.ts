// Finds the QEMU process behind a gdbstub TCP port (not by process name): the socket bound to
// that local port in /proc/net/tcp{,6}, then the process holding that socket in /proc/*/fd.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const LISTEN = '0A';
const ESTABLISHED = '01';

/** Socket inodes whose local port is `port` (listening or connected: QEMU's side). */
export function socketInodes(port: number, procNet = '/proc/net'): Set<string> {
  const out = new Set<string>();
  for (const f of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(procNet, f), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const local = cols[1];
      const state = cols[3];
      const lport = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
      if (lport === port && (state === LISTEN || state === ESTABLISHED) && cols[9] !== '0') out.add(cols[9]);
    }
  }
  return out;
}

/** PIDs (other than ours) holding one of the socket inodes. */
export function pidsHoldingSockets(inodes: ReadonlySet<string>, proc = '/proc'): number[] {
  if (inodes.size === 0) return [];
  const want = new Set([...inodes].map((i) => `socket:[${i}]`));
  const found: number[] = [];
  for (const d of fs.readdirSync(proc)) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(path.join(proc, d, 'fd'));
    } catch {
      continue; // not ours to look at, or gone
    }
    for (const fd of fds) {
      try {
        if (want.has(fs.readlinkSync(path.join(proc, d, 'fd', fd)))) {
          found.push(Number(d));
          break;
        }
      } catch {
        /* fd closed meanwhile */
      }
    }
  }
  return found;
}

/** Whether `host` names this machine (only then can /proc reach the QEMU process). */
export function isLocalHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '' || h.startsWith('127.') || h === '0.0.0.0' || h === os.hostname().toLowerCase()) return true;
  for (const addrs of Object.values(os.networkInterfaces())) for (const a of addrs ?? []) if (a.address.toLowerCase() === h) return true;
  return false;
}

export type PidLookup = { pid: number } | { reason: string };

/** The one process serving the gdbstub on `host:port`, or why it cannot be found. */
export function findQemuPid(host: string, port: number): PidLookup {
  if (!isLocalHost(host)) return { reason: `the gdbstub ${host}:${port} is not on this machine` };
  const inodes = socketInodes(port);
  if (inodes.size === 0) return { reason: `no socket with local port ${port} in /proc/net/tcp (QEMU in another network namespace or container?)` };
  // The GDB side of the connection has the port as its *remote* port, so it never matches here.
  const pids = pidsHoldingSockets(inodes);
  if (pids.length === 0) return { reason: `no visible process holds the socket of port ${port} (another PID namespace, or /proc/<pid>/fd not readable)` };
  if (pids.length > 1) return { reason: `several processes (${pids.join(', ')}) hold the socket of port ${port}` };
  return { pid: pids[0] };
}
