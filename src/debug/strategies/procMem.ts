// The local fast path: QEMU runs on this machine, so guest RAM is readable in /proc/<pid>/mem at
// the host address `gpa2hva` gives for each RAM range (each flat range is linear in host memory).
import fs from 'node:fs';
import { MemoryReadError, ReadRequest } from '../../core/memory';
import { FlatRamRange, parseGpa2hva } from '../ram';
import { Strategy, TargetCommands, Unavailable, isUnavailable } from './types';

export interface HostRange extends FlatRamRange {
  readonly hva: bigint;
}

/** What the session learned once: the QEMU PID and each RAM range's host address. */
export interface ProcMemSetup {
  readonly pid: number;
  readonly ranges: readonly HostRange[];
}

/** Finds the QEMU process and maps RAM to host addresses (once per session). */
export async function setupProcMem(cmds: TargetCommands, ram: readonly FlatRamRange[], signal?: AbortSignal): Promise<ProcMemSetup | Unavailable> {
  if (process.platform !== 'linux') return { unavailable: `/proc/<pid>/mem needs a Linux host (this is ${process.platform})` };
  if (cmds.noCommands) return { unavailable: `${cmds.noCommands} (gpa2hva)` };
  if (ram.length === 0) return { unavailable: 'no RAM ranges from the monitor' };
  const found = await cmds.qemuPid(signal);
  if (isUnavailable(found)) return found;
  // Asked together (a carrier that keeps order pipelines them; a debug adapter queues them).
  const answers = await Promise.all(ram.map((r) => cmds.monitor(`gpa2hva 0x${r.start.toString(16)}`, signal)));
  const ranges: HostRange[] = [];
  for (const [i, r] of ram.entries()) {
    const hva = parseGpa2hva(answers[i]);
    if (hva === undefined) return { unavailable: `gpa2hva gave no host address for RAM at 0x${r.start.toString(16)} (${r.name})` };
    ranges.push({ ...r, hva });
  }
  return { pid: found.pid, ranges };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

export class ProcMemStrategy implements Strategy {
  readonly name = 'proc-mem' as const;
  private fd: number | undefined;

  private constructor(private readonly setup: ProcMemSetup, fd: number, private readonly onBytes: (n: number) => void) {
    this.fd = fd;
  }

  /** Opens /proc/<pid>/mem and checks one read; reports EACCES/EPERM as the reason to fall back. */
  static open(setup: ProcMemSetup, onBytes: (n: number) => void): ProcMemStrategy | Unavailable {
    const file = `/proc/${setup.pid}/mem`;
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
      const probe = Buffer.alloc(8);
      fs.readSync(fd, probe, 0, 8, Number(setup.ranges[0].hva));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'EACCES' || err.code === 'EPERM'
        ? `${file} is not readable (${err.code}: ptrace rights are needed — same user and kernel.yama.ptrace_scope 0, or CAP_SYS_PTRACE)`
        : `${file}: ${err.message}`;
      return { unavailable: why };
    }
    return new ProcMemStrategy(setup, fd, onBytes);
  }

  async readMany(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]> {
    signal?.throwIfAborted();
    const out = reqs.map((r) => this.readOne(r));
    const bad = out.find((x): x is MemoryReadError => x instanceof MemoryReadError && x.reason !== 'outside-ram');
    // A failed read of a process that is gone means QEMU exited: the whole session is over.
    if (bad && !alive(this.setup.pid)) throw new MemoryReadError(bad.addr, bad.length, 'session-ended', `QEMU (pid ${this.setup.pid}) has exited`);
    return out;
  }

  private readOne(r: ReadRequest): Uint8Array | MemoryReadError {
    if (this.fd === undefined) return new MemoryReadError(r.addr, r.length, 'session-ended', 'the target was disposed');
    const range = this.setup.ranges.find((x) => r.addr >= x.start && r.addr + r.length <= x.end);
    if (!range) return new MemoryReadError(r.addr, r.length, 'outside-ram', 'not inside one RAM range');
    const buf = new Uint8Array(r.length);
    try {
      const n = fs.readSync(this.fd, buf, 0, r.length, Number(range.hva + BigInt(r.addr - range.start)));
      this.onBytes(n);
      if (n !== r.length) return new MemoryReadError(r.addr, r.length, 'io', `short read from /proc/${this.setup.pid}/mem: ${n} bytes`);
    } catch (e) {
      // QEMU gone (killed mid-walk): the session has ended for us too.
      const code = (e as NodeJS.ErrnoException).code;
      return new MemoryReadError(r.addr, r.length, code === 'ESRCH' || code === 'EIO' ? 'session-ended' : 'io', (e as Error).message);
    }
    return buf;
  }

  async dispose(): Promise<void> {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
