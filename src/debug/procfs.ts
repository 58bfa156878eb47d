// Finds the QEMU process behind a gdbstub TCP port (not by process name): the socket bound to
// that local port in /proc/net/tcp{,6}, then the process holding that socket in /proc/*/fd.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const LISTEN = '0A';

/** A /proc file's text ('' when absent), synchronously. */
const readOrEmpty = (dir: string) => (f: string): string => {
  try {
    return fs.readFileSync(path.join(dir, f), 'utf8');
  } catch {
    return '';
  }
};
const ESTABLISHED = '01';

/** The columns of one /proc/net/tcp{,6} line: local port, state, inode. */
function socketLine(line: string): { lport: number; state: string; inode: string } | undefined {
  const cols = line.trim().split(/\s+/);
  if (cols.length < 10) return undefined;
  const local = cols[1];
  return { lport: parseInt(local.slice(local.lastIndexOf(':') + 1), 16), state: cols[3], inode: cols[9] };
}

/**
 * Inodes of the sockets listening on `port`, from the listening part of one /proc/net/tcp{,6}
 * file, or undefined when the file cannot be read. The kernel writes these files as they are read,
 * listening sockets first, then the established hash table (net/ipv4/tcp_ipv4.c, tcp_get_idx);
 * walking that table costs milliseconds of kernel time per file on a host with a large one
 * (262,144 buckets here: 5-10 ms for a file of 60 lines), so the file is read in small pieces and
 * left at its first line that is not a listener.
 */
function listeners(file: string, port: number): Set<string> | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  const out = new Set<string>();
  try {
    // ~3 lines a read: the kernel formats what a read asks for (and looks for one entry more).
    const buf = Buffer.alloc(512);
    let text = '';
    let header = true;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) return out;
      text += buf.toString('latin1', 0, n);
      const lines = text.split('\n');
      text = lines.pop()!;
      for (const line of lines) {
        if (header) {
          header = false;
          continue;
        }
        const s = socketLine(line);
        if (!s) continue;
        if (s.state !== LISTEN) return out;
        if (s.lport === port && s.inode !== '0') out.add(s.inode);
      }
    }
  } catch {
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Socket inodes whose local port is `port` (QEMU's side). QEMU keeps its gdbstub's listening
 * socket open while a debugger is connected, so the listening parts of /proc/net/tcp and then
 * tcp6 usually answer at once; otherwise both files are read whole (off the main thread: the
 * established sockets, e.g. of a stub whose listener was closed).
 */
export async function socketInodes(port: number, procNet = '/proc/net'): Promise<Set<string>> {
  for (const f of ['tcp', 'tcp6']) {
    const found = listeners(path.join(procNet, f), port);
    if (found?.size) return found;
  }
  const out = new Set<string>();
  const texts = await Promise.all(['tcp', 'tcp6'].map((f) => fsp.readFile(path.join(procNet, f), 'utf8').catch(() => '')));
  for (const text of texts) {
    for (const line of text.split('\n').slice(1)) {
      const s = socketLine(line);
      if (s && s.lport === port && (s.state === LISTEN || s.state === ESTABLISHED) && s.inode !== '0') out.add(s.inode);
    }
  }
  return out;
}

/** Whether this machine has an established TCP connection from local port `port` to remote port `peerPort`. */
export async function hasConnection(port: number, peerPort: number, procNet = '/proc/net'): Promise<boolean> {
  const texts = ['tcp', 'tcp6'].map(readOrEmpty(procNet));
  for (const text of texts) {
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== ESTABLISHED) continue;
      const p = (a: string) => parseInt(a.slice(a.lastIndexOf(':') + 1), 16);
      if (p(cols[1]) === port && p(cols[2]) === peerPort) return true;
    }
  }
  return false;
}

/**
 * PIDs (other than ours) holding one of the socket inodes, among `pids` (default: all). Plain
 * synchronous calls: measured on a loaded 2-core host with ~160 processes, the whole lookup took
 * 2-6 ms this way and 80-100 ms wall (20 ms CPU) as hundreds of concurrent promises.
 */
export async function pidsHoldingSockets(inodes: ReadonlySet<string>, proc = '/proc', pids?: readonly string[]): Promise<number[]> {
  if (inodes.size === 0) return [];
  const want = new Set([...inodes].map((i) => `socket:[${i}]`));
  const holds = (d: string): boolean => {
    let fds: string[];
    try {
      fds = fs.readdirSync(path.join(proc, d, 'fd'));
    } catch {
      return false; // not ours to look at, or gone
    }
    for (const fd of fds) {
      let l = '';
      try {
        l = fs.readlinkSync(path.join(proc, d, 'fd', fd));
      } catch {
        // closed meanwhile
      }
      if (want.has(l)) return true;
    }
    return false;
  };
  const list = (pids ?? fs.readdirSync(proc)).filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid);
  return list.filter(holds).map(Number);
}

/** Whether `host` names this machine (only then can /proc reach the QEMU process). */
export function isLocalHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '' || h.startsWith('127.') || h === '0.0.0.0' || h === os.hostname().toLowerCase()) return true;
  for (const addrs of Object.values(os.networkInterfaces())) for (const a of addrs ?? []) if (a.address.toLowerCase() === h) return true;
  return false;
}

/** PIDs whose executable is named qemu*: one readlink each (a file read costs four calls). */
async function qemuNamedPids(): Promise<string[]> {
  return fs.readdirSync('/proc').filter((d) => {
    if (!/^\d+$/.test(d)) return false;
    try {
      return path.basename(fs.readlinkSync(`/proc/${d}/exe`)).startsWith('qemu');
    } catch {
      return false; // gone, or not ours to look at
    }
  });
}

export type PidLookup = { pid: number } | { reason: string };

/** The one process serving the gdbstub on `host:port`, or why it cannot be found. */
export async function findQemuPid(host: string, port: number): Promise<PidLookup> {
  if (!isLocalHost(host)) return { reason: `the gdbstub ${host}:${port} is not on this machine` };
  const [inodes, named] = await Promise.all([socketInodes(port), qemuNamedPids()]);
  if (inodes.size === 0) return { reason: `no socket with local port ${port} in /proc/net/tcp (QEMU in another network namespace or container?)` };
  // The GDB side of the connection has the port as its *remote* port, so it never matches here.
  // Processes named qemu* are looked at first (listing every process's descriptors costs tens of
  // milliseconds); the owner of the socket decides either way, the name only orders the search.
  const first = named.length ? await pidsHoldingSockets(inodes, '/proc', named) : [];
  const pids = first.length === 1 ? first : await pidsHoldingSockets(inodes);
  if (pids.length === 0) return { reason: `no visible process holds the socket of port ${port} (another PID namespace, or /proc/<pid>/fd not readable)` };
  if (pids.length > 1) return { reason: `several processes (${pids.join(', ')}) hold the socket of port ${port}` };
  return { pid: pids[0] };
}
