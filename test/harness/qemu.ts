// Builds our bare-metal test guests from source and runs them under QEMU (TCG), with QMP on a
// unix socket (HMP commands through human-monitor-command) and an optional loopback gdbstub.
// Used by integration tests, the demo and the benchmarks.

import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REPO = findRepo(__dirname) ?? findRepo(process.cwd()) ?? process.cwd();

function findRepo(from: string): string | undefined {
  let d = from;
  while (!fs.existsSync(path.join(d, 'package.json')) || !fs.existsSync(path.join(d, 'test', 'guests'))) {
    const up = path.dirname(d);
    if (up === d) return undefined;
    d = up;
  }
  return d;
}

export const GUESTS = path.join(REPO, 'test', 'guests');

/** test/guests/<name>/guest.json */
export interface GuestSpec {
  readonly arch: 'x86_64' | 'x86' | 'aarch64' | 'riscv64';
  /** argv lists run in order; {src} = guest dir, {common} = test/guests/common, {out} = build dir. */
  readonly build: string[][];
  /** QEMU binary and machine arguments (no -kernel, serial, monitor or gdb options). */
  readonly qemu: string[];
  /** Built file passed to -kernel, relative to {out}. */
  readonly kernel: string;
  /** Base of guest RAM (for raw dumps and RAM ranges). */
  readonly ramBase?: string;
}

export function guestNames(): string[] {
  return fs.readdirSync(GUESTS).filter((n) => fs.existsSync(path.join(GUESTS, n, 'guest.json'))).sort();
}

export function guestSpec(name: string): GuestSpec {
  return JSON.parse(fs.readFileSync(path.join(GUESTS, name, 'guest.json'), 'utf8')) as GuestSpec;
}

function sourcesHash(name: string, spec: GuestSpec): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(spec));
  for (const dir of [path.join(GUESTS, name), path.join(GUESTS, 'common')]) {
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, f);
      if (fs.statSync(p).isFile()) h.update(f).update(fs.readFileSync(p));
    }
  }
  return h.digest('hex').slice(0, 16);
}

/** Builds a guest (cached by a hash of its sources) and returns the kernel path. */
export function buildGuest(name: string): string {
  const spec = guestSpec(name);
  const out = path.join(REPO, '.cache', 'guests', name, sourcesHash(name, spec));
  const kernel = path.join(out, spec.kernel);
  if (fs.existsSync(kernel)) return kernel;
  fs.mkdirSync(out, { recursive: true });
  const subst = (s: string) =>
    s.replace(/\{src\}/g, path.join(GUESTS, name)).replace(/\{common\}/g, path.join(GUESTS, 'common')).replace(/\{out\}/g, out);
  for (const argv of spec.build) {
    const [cmd, ...args] = argv.map(subst);
    try {
      execFileSync(cmd, args, { stdio: 'pipe' });
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string };
      throw new Error(`building guest ${name}: ${cmd} failed: ${err.stderr?.toString() ?? err.message}`);
    }
  }
  return kernel;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Minimal QMP client: one command at a time, events skipped. */
class Qmp {
  private buf = '';
  private waiting: ((msg: Record<string, unknown>) => void)[] = [];
  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ('event' in msg) continue;
        this.waiting.shift()?.(msg);
      }
    });
  }

  static async connect(file: string): Promise<Qmp> {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.createConnection(file, () => resolve(s));
      s.once('error', reject);
    });
    const q = new Qmp(sock);
    await q.next(); // greeting
    await q.execute('qmp_capabilities');
    return q;
  }

  private next(): Promise<Record<string, unknown>> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async execute(cmd: string, args?: Record<string, unknown>): Promise<unknown> {
    const p = this.next();
    this.sock.write(JSON.stringify(args ? { execute: cmd, arguments: args } : { execute: cmd }) + '\n');
    const msg = await p;
    if (msg.error) throw new Error(`QMP ${cmd}: ${JSON.stringify(msg.error)}`);
    return msg.return;
  }

  close(): void {
    this.sock.destroy();
  }
}

export interface GuestRun {
  readonly name: string;
  readonly spec: GuestSpec;
  readonly dir: string;
  readonly gdbPort?: number;
  readonly pid: number;
  /** An HMP command's text output (through QMP human-monitor-command). */
  hmp(cmd: string): Promise<string>;
  stop(): Promise<void>;
  cont(): Promise<void>;
  /** Pauses the guest and writes a dump-guest-memory ELF core; returns its path. */
  dump(file?: string): Promise<string>;
  kill(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Boots a guest and waits for PTVIEW-READY on its serial port; the guest then idles in hlt/wfi. */
export async function bootGuest(name: string, opts: { gdb?: boolean; timeoutMs?: number } = {}): Promise<GuestRun> {
  const spec = guestSpec(name);
  const kernel = buildGuest(name);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ptview-${name}-`));
  const serial = path.join(dir, 'serial.log');
  const qmpSock = path.join(dir, 'qmp.sock');
  const gdbPort = opts.gdb ? await freePort() : undefined;
  const [bin, ...machine] = spec.qemu;
  const args = [
    ...machine, '-display', 'none', '-no-reboot', '-kernel', kernel,
    '-serial', `file:${serial}`, '-monitor', 'none', '-qmp', `unix:${qmpSock},server=on,wait=off`,
    ...(gdbPort ? ['-gdb', `tcp:127.0.0.1:${gdbPort}`] : []),
  ];
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(proc);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  proc.on('exit', () => {
    exited = true;
    live.delete(proc);
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 30000);
  for (;;) {
    if (fs.existsSync(serial) && fs.readFileSync(serial, 'utf8').includes('PTVIEW-READY')) break;
    if (exited || Date.now() > deadline) {
      proc.kill('SIGKILL');
      const log = fs.existsSync(serial) ? fs.readFileSync(serial, 'utf8') : '';
      throw new Error(`guest ${name} did not print PTVIEW-READY (${exited ? 'QEMU exited' : 'timeout'}); serial: ${JSON.stringify(log)}; stderr: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const qmp = await Qmp.connect(qmpSock);
  const run: GuestRun = {
    name, spec, dir, gdbPort, pid: proc.pid!,
    hmp: async (cmd) => String(await qmp.execute('human-monitor-command', { 'command-line': cmd })),
    stop: async () => void (await qmp.execute('stop')),
    cont: async () => void (await qmp.execute('cont')),
    dump: async (file = path.join(dir, 'core.elf')) => {
      await qmp.execute('stop');
      await qmp.execute('dump-guest-memory', { paging: false, protocol: `file:${file}` });
      return file;
    },
    kill: async () => {
      qmp.close();
      if (!exited) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await done;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return run;
}
