// Builds our bare-metal test guests from source and runs them under QEMU (TCG), with QMP on a
// unix socket (HMP commands through human-monitor-command) and an optional loopback gdbstub.
// Used by integration tests, the demo and the benchmarks. The guest descriptor (guest.json) is
// documented in test/guests/README.md; nothing here is architecture-specific.

import { ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Arch } from '../../src/core/format';

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
export const CACHE = path.join(REPO, '.cache', 'guests');

/** test/guests/<name>/guest.json (see test/guests/README.md). */
export interface GuestSpec {
  readonly arch: Arch;
  readonly description?: string;
  /** Extra source files or directories (relative to the guest dir) whose contents change the build. */
  readonly inputs?: string[];
  /** argv arrays run in order (no shell); placeholders {src} {out} {guests} {common}. */
  readonly build: string[][];
  /** The built file QEMU loads, relative to the build output dir. */
  readonly kernel: string;
  /** QEMU binary then its machine arguments. `-kernel {kernel}` is appended unless an argument
   * already mentions {kernel} (e.g. `-bios {kernel}` or `-device loader,file={kernel}`). */
  readonly qemu: string[];
  /** Base of guest RAM, for readers of raw dumps (informational). */
  readonly ramBase?: string;
  /** Boot timeout override in ms (default 30000, or PTVIEW_BOOT_TIMEOUT_MS). */
  readonly readyTimeoutMs?: number;
}

export function guestNames(): string[] {
  return fs.readdirSync(GUESTS).filter((n) => fs.existsSync(path.join(GUESTS, n, 'guest.json'))).sort();
}

export function guestSpec(name: string): GuestSpec {
  const file = path.join(GUESTS, name, 'guest.json');
  if (!fs.existsSync(file)) throw new Error(`no guest '${name}': ${file} does not exist (guests: ${guestNames().join(', ')})`);
  const spec = JSON.parse(fs.readFileSync(file, 'utf8')) as GuestSpec;
  for (const k of ['arch', 'build', 'kernel', 'qemu'] as const) {
    if (spec[k] === undefined) throw new Error(`${file}: missing "${k}"`);
  }
  if (!Array.isArray(spec.build) || !spec.build.every((a) => Array.isArray(a) && a.length > 0 && a.every((s) => typeof s === 'string'))) {
    throw new Error(`${file}: "build" must be a list of non-empty argv arrays of strings`);
  }
  if (!Array.isArray(spec.qemu) || spec.qemu.length === 0) throw new Error(`${file}: "qemu" must be [binary, ...args]`);
  return spec;
}

function substitute(s: string, vars: Record<string, string>): string {
  return s.replace(/\{(\w+)\}/g, (all, k: string) => vars[k] ?? all);
}

function hashTree(h: ReturnType<typeof createHash>, p: string, label: string): void {
  if (!fs.existsSync(p)) throw new Error(`guest input ${p} does not exist`);
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    for (const f of fs.readdirSync(p).sort()) hashTree(h, path.join(p, f), `${label}/${f}`);
  } else if (st.isFile()) {
    h.update(`${label}\0${st.size}\0`).update(fs.readFileSync(p));
  }
}

/** Hash of everything a guest build depends on: its descriptor, its directory, declared inputs. */
export function guestHash(name: string, spec: GuestSpec = guestSpec(name)): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(spec));
  const dir = path.join(GUESTS, name);
  hashTree(h, dir, name);
  for (const inp of spec.inputs ?? []) hashTree(h, path.resolve(dir, inp), inp);
  if (JSON.stringify(spec.build).includes('{common}') && fs.existsSync(path.join(GUESTS, 'common'))) {
    hashTree(h, path.join(GUESTS, 'common'), 'common');
  }
  return h.digest('hex').slice(0, 16);
}

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new Error(`${cmd} not found (run: node scripts/ensure-deps.js)`) : e),
    );
    p.on('exit', (code, sig) =>
      code === 0 ? resolve() : reject(new Error(`${[cmd, ...args].join(' ')} failed (${sig ?? `exit ${code}`}):\n${out}`)),
    );
  });
}

/**
 * Builds a guest from source into .cache/guests/<name>/ and returns the path of its kernel file.
 * Cached by a hash of the sources (stored in .cache/guests/<name>/.hash). Builds run in a private
 * temp dir and are renamed into place, so concurrent test processes never see half a kernel.
 */
export async function buildGuest(name: string): Promise<string> {
  const spec = guestSpec(name);
  const hash = guestHash(name, spec);
  const out = path.join(CACHE, name);
  const kernel = path.join(out, spec.kernel);
  const stamp = path.join(out, '.hash');
  if (fs.existsSync(kernel) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === hash) return kernel;
  fs.mkdirSync(out, { recursive: true });
  // Leftovers: per-hash dirs of the first harness version, builds interrupted by a kill.
  for (const f of fs.readdirSync(out)) {
    const p = path.join(out, f);
    const stale = /^[0-9a-f]{16}$/.test(f) || (f.startsWith('.build-') && Date.now() - fs.statSync(p).mtimeMs > 600000);
    if (stale) fs.rmSync(p, { recursive: true, force: true });
  }
  const tmp = fs.mkdtempSync(path.join(out, '.build-'));
  try {
    const vars = { src: path.join(GUESTS, name), out: tmp, guests: GUESTS, common: path.join(GUESTS, 'common') };
    for (const argv of spec.build) {
      const [cmd, ...args] = argv.map((a) => substitute(a, vars));
      try {
        await run(cmd, args, tmp);
      } catch (e) {
        throw new Error(`building guest ${name}: ${(e as Error).message}`);
      }
    }
    if (!fs.existsSync(path.join(tmp, spec.kernel))) throw new Error(`building guest ${name}: the build did not produce ${spec.kernel}`);
    for (const f of fs.readdirSync(tmp)) fs.renameSync(path.join(tmp, f), path.join(out, f));
    const stampTmp = path.join(tmp, '.hash');
    fs.writeFileSync(stampTmp, hash);
    fs.renameSync(stampTmp, stamp);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return kernel;
}

/** A TCP port on 127.0.0.1 that was free a moment ago; callers retry if QEMU loses the race. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Minimal QMP client: commands are answered in order, events are kept in `events`. The socket is
 * unref'd while idle so a forgotten guest never keeps Node alive (the exit hook kills it).
 */
export class Qmp {
  private buf = '';
  private pending: { resolve: (msg: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  private closed: Error | undefined;
  readonly events: Record<string, unknown>[] = [];

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (!line) continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if ('event' in msg) this.events.push(msg);
        else this.pending.shift()?.resolve(msg);
        if (this.pending.length === 0) this.sock.unref();
      }
    });
    const fail = (e: Error) => {
      this.closed ??= e;
      for (const p of this.pending.splice(0)) p.reject(e);
    };
    sock.on('error', (e) => fail(new Error(`QMP socket: ${e.message}`)));
    sock.on('close', () => fail(new Error('QMP connection closed (QEMU exited?)')));
  }

  static async connect(file: string, timeoutMs = 10000): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.createConnection(file, () => resolve(s));
          s.once('error', reject);
        });
        const q = new Qmp(sock);
        q.sock.ref();
        await new Promise<void>((resolve, reject) => q.pending.push({ resolve: () => resolve(), reject })); // greeting
        await q.execute('qmp_capabilities');
        return q;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`cannot connect to QMP at ${file}: ${(e as Error).message}`);
        await sleep(20);
      }
    }
  }

  async execute(cmd: string, args?: Record<string, unknown>, timeoutMs = 120000): Promise<unknown> {
    if (this.closed) throw this.closed;
    this.sock.ref();
    const msg = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`QMP ${cmd}: no answer in ${timeoutMs} ms`)), timeoutMs);
      const done = <T>(f: (v: T) => void) => (v: T) => {
        clearTimeout(t);
        f(v);
      };
      this.pending.push({ resolve: done(resolve), reject: done(reject) });
      this.sock.write(JSON.stringify(args ? { execute: cmd, arguments: args } : { execute: cmd }) + '\n');
    });
    if (msg.error) throw new Error(`QMP ${cmd}: ${JSON.stringify(msg.error)}`);
    return msg.return;
  }

  close(): void {
    this.sock.destroy();
  }
}

export interface BootOptions {
  /** Start QEMU's gdbstub on 127.0.0.1:<free port> (never on other interfaces). */
  gdb?: boolean;
  /** Boot timeout in ms (default: guest.json readyTimeoutMs, PTVIEW_BOOT_TIMEOUT_MS, or 30000). */
  timeoutMs?: number;
  /** Extra QEMU arguments appended after the descriptor's (e.g. ['-smp', '2']). */
  extraArgs?: string[];
}

export interface GuestRun {
  readonly name: string;
  readonly arch: Arch;
  readonly spec: GuestSpec;
  /** Private temp dir: serial.log, qmp.sock, core.elf. Removed by kill(). */
  readonly dir: string;
  readonly kernel: string;
  readonly serialLog: string;
  readonly qmpSocket: string;
  readonly gdbPort?: number;
  /** QEMU's own PID (for /proc/<pid>/mem readers). */
  readonly pid: number;
  /** The serial output so far. */
  serial(): string;
  /** An HMP command's text output (through QMP human-monitor-command). */
  hmp(cmd: string): Promise<string>;
  /** A raw QMP command; returns its "return" value. */
  qmp(cmd: string, args?: Record<string, unknown>): Promise<unknown>;
  stop(): Promise<void>;
  cont(): Promise<void>;
  /** Pauses the guest (it stays paused) and writes a dump-guest-memory core (no paging flag) to
   * `file` (default <dir>/core.elf) in `format` (default elf; kdump-zlib etc. as QMP names them);
   * resolves when QEMU reports it completed. */
  dump(file?: string, format?: string): Promise<string>;
  /** Kills QEMU and removes `dir`. Safe to call twice. */
  kill(): Promise<void>;
}

interface Live {
  proc: ChildProcess;
  dir: string;
}
const live = new Set<Live>();
process.on('exit', () => {
  for (const l of live) {
    try {
      l.proc.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    if (!process.env.PTVIEW_KEEP_GUEST_DIR) fs.rmSync(l.dir, { recursive: true, force: true });
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A watchdog per QEMU: a shell reading a pipe from us. When this Node process dies in any way
 * (crash, SIGKILL, mocha abort) the pipe closes and the shell kills that QEMU, but only if the
 * PID still carries our unique -name marker (no PID-reuse accidents).
 */
function watchdog(pid: number, marker: string, dir: string): ChildProcess {
  const script = `read _ 2>/dev/null; if grep -qa -- "$1" /proc/$0/cmdline 2>/dev/null; then kill -9 $0; fi; [ -n "$2" ] && rm -rf -- "$2"`;
  const keep = process.env.PTVIEW_KEEP_GUEST_DIR ? '' : dir;
  const w = spawn('sh', ['-c', script, String(pid), marker, keep], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  w.unref();
  (w.stdin as unknown as net.Socket).unref();
  w.on('error', () => undefined);
  w.stdin!.on('error', () => undefined);
  return w;
}

const READY = /^PTVIEW-READY\r?$/m;
const GUEST_ERROR = /^PTVIEW-ERROR.*$/m;

/**
 * Builds and boots a guest, waits for the line PTVIEW-READY on its serial port and leaves it
 * running (our guests idle in hlt/wfi after READY). Errors carry the serial log, QEMU's stderr and
 * (when QEMU still runs) `info registers`. A guest line starting PTVIEW-ERROR fails the boot early.
 */
export async function bootGuest(name: string, opts: BootOptions = {}): Promise<GuestRun> {
  const spec = guestSpec(name);
  const kernel = await buildGuest(name);
  const timeoutMs = opts.timeoutMs ?? spec.readyTimeoutMs ?? (Number(process.env.PTVIEW_BOOT_TIMEOUT_MS) || 30000);
  for (let attempt = 1; ; attempt++) {
    try {
      return await boot(name, spec, kernel, opts, timeoutMs);
    } catch (e) {
      // Only a lost race for the gdb port is retried.
      if (!(e instanceof PortInUse) || attempt >= 5) throw e;
    }
  }
}

/**
 * Boots an already-built kernel with an in-memory descriptor (no test/guests/<name>/guest.json):
 * what the Linux guests use (test/harness/linux.ts). Same protocol and options as bootGuest.
 */
export async function bootSpec(name: string, spec: GuestSpec, kernel: string, opts: BootOptions = {}): Promise<GuestRun> {
  const timeoutMs = opts.timeoutMs ?? spec.readyTimeoutMs ?? (Number(process.env.PTVIEW_BOOT_TIMEOUT_MS) || 30000);
  for (let attempt = 1; ; attempt++) {
    try {
      return await boot(name, spec, kernel, opts, timeoutMs);
    } catch (e) {
      if (!(e instanceof PortInUse) || attempt >= 5) throw e;
    }
  }
}

class PortInUse extends Error {}

async function boot(name: string, spec: GuestSpec, kernel: string, opts: BootOptions, timeoutMs: number): Promise<GuestRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ptview-${name}-`));
  const serialLog = path.join(dir, 'serial.log');
  const qmpSocket = path.join(dir, 'qmp.sock');
  const gdbPort = opts.gdb ? await freePort() : undefined;
  const marker = `ptview-${name}-${randomBytes(6).toString('hex')}`;
  const [bin, ...machine] = spec.qemu.map((a) => substitute(a, { kernel }));
  const args = [
    ...machine,
    ...(spec.qemu.some((a) => a.includes('{kernel}')) ? [] : ['-kernel', kernel]),
    '-name', marker, '-display', 'none', '-no-reboot',
    '-serial', `file:${serialLog}`, '-monitor', 'none', '-qmp', `unix:${qmpSocket},server=on,wait=off`,
    ...(gdbPort ? ['-gdb', `tcp:127.0.0.1:${gdbPort}`] : []),
    ...(opts.extraArgs ?? []),
  ];
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const entry: Live = { proc, dir };
  live.add(entry);
  proc.unref();
  (proc.stderr as unknown as net.Socket).unref();
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let exit: string | undefined;
  let spawnError: Error | undefined;
  const closed = new Promise<void>((resolve) => proc.on('close', () => resolve()));
  const exited = new Promise<void>((resolve) => {
    proc.on('exit', (code, sig) => {
      exit = sig ? `killed by ${sig}` : `exit code ${code}`;
      live.delete(entry);
      resolve();
    });
    proc.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = e.code === 'ENOENT' ? new Error(`${bin} not found (run: node scripts/ensure-deps.js)`) : e;
      exit ??= 'failed to start';
      live.delete(entry);
      resolve();
    });
  });
  const dog = proc.pid ? watchdog(proc.pid, marker, dir) : undefined;
  const readSerial = () => (fs.existsSync(serialLog) ? fs.readFileSync(serialLog, 'latin1') : '');
  let qmp: Qmp | undefined;
  let killed = false;

  const kill = async (): Promise<void> => {
    if (killed) return;
    killed = true;
    qmp?.close();
    if (exit === undefined) {
      proc.kill('SIGKILL');
      const t = setTimeout(() => undefined, 5000); // keeps the loop alive while QEMU is reaped
      await Promise.race([exited, sleep(5000)]);
      clearTimeout(t);
    }
    dog?.stdin?.end();
    live.delete(entry);
    if (!process.env.PTVIEW_KEEP_GUEST_DIR) fs.rmSync(dir, { recursive: true, force: true });
  };

  const fail = async (why: string): Promise<never> => {
    let regs = '';
    if (qmp && exit === undefined) {
      try {
        const text = String(await qmp.execute('human-monitor-command', { 'command-line': 'info registers' }, 2000));
        regs = `\ninfo registers:\n${text}`;
      } catch {
        /* best effort */
      }
    }
    const serial = readSerial();
    await kill();
    await Promise.race([closed, sleep(1000)]); // all of stderr, for the port check below
    if (spawnError) throw spawnError;
    if (/address already in use|failed to bind|could not bind/i.test(stderr) && gdbPort) throw new PortInUse(stderr);
    throw new Error(
      `guest ${name} did not print PTVIEW-READY: ${why}\n` +
        `qemu: ${[bin, ...args].join(' ')}\nserial: ${JSON.stringify(serial)}\nstderr: ${stderr.trim()}${regs}`,
    );
  };

  try {
    const deadline = Date.now() + timeoutMs;
    // QMP first (the socket appears once QEMU has parsed its options), so a hung boot can be
    // reported with the CPU state.
    while (!qmp) {
      if (exit !== undefined) return await fail(`QEMU ${exit}`);
      if (Date.now() > deadline) return await fail(`no QMP socket after ${timeoutMs} ms`);
      if (fs.existsSync(qmpSocket)) {
        try {
          qmp = await Qmp.connect(qmpSocket, 1000);
        } catch {
          /* not listening yet */
        }
      }
      if (!qmp) await sleep(20);
    }
    for (;;) {
      const serial = readSerial();
      if (READY.test(serial)) break;
      const err = GUEST_ERROR.exec(serial);
      if (err) return await fail(`the guest reported ${err[0]}`);
      if (exit !== undefined) return await fail(`QEMU ${exit}`);
      if (Date.now() > deadline) return await fail(`timeout after ${timeoutMs} ms`);
      await sleep(25);
    }
  } catch (e) {
    await kill();
    throw e;
  }

  const q = qmp;
  return {
    name,
    arch: spec.arch,
    spec,
    dir,
    kernel,
    serialLog,
    qmpSocket,
    gdbPort,
    pid: proc.pid!,
    serial: readSerial,
    hmp: async (cmd) => String(await q.execute('human-monitor-command', { 'command-line': cmd })),
    qmp: (cmd, a) => q.execute(cmd, a),
    stop: async () => void (await q.execute('stop')),
    cont: async () => void (await q.execute('cont')),
    dump: async (file = path.join(dir, 'core.elf'), format = 'elf') => {
      await q.execute('stop');
      fs.rmSync(file, { force: true });
      // Without detach the command returns when the dump is written; query-dump double-checks.
      await q.execute('dump-guest-memory', { paging: false, protocol: `file:${path.resolve(file)}`, ...(format === 'elf' ? {} : { format }) });
      const st = (await q.execute('query-dump')) as { status: string };
      if (st.status !== 'completed') throw new Error(`dump-guest-memory: status ${st.status}`);
      return file;
    },
    kill,
  };
}
