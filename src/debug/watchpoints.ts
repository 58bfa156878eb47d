// Break When Translation Changes: a write watchpoint on every entry of one VA's walk (issue 13
// item 4). The planner (pure, on a PageTableSession) finds each level's entry and the virtual
// addresses the guest can write it through; the backends arm them in the debugger:
//
// - GDB's command channel: `watch -l *(unsigned long long *)VA` (GDB manual, "Setting
//   Watchpoints"; -location watches the address, not the expression's scope). Preferred for GDB
//   adapters: cdt-gdb-adapter's setDataBreakpoints replaces every GDB watchpoint with VS Code's
//   list (and its asAddress form dereferences `ADDR+0xBYTES`, the wrong address), so ptview's own
//   watchpoints there are checked at every stop and re-armed when the adapter dropped them.
// - LLDB's: `watchpoint set expression -w write -s N -- VA` (LLDB command reference; verified with
//   lldb-vscode 16, which reports a hit as a `breakpoint` stop described `watchpoint N`).
// - DAP `dataBreakpointInfo` + `setDataBreakpoints` (DAP specification) for adapters without a
//   command channel. setDataBreakpoints REPLACES the adapter's whole set, so ptview sends the
//   user's last set (seen on its way to the adapter) plus its own.
//
// Watchpoints are virtual: QEMU's gdbstub (Z2 packets) matches them against the guest's virtual
// accesses. Under TCG each is an entry of the vCPU's watchpoint list (softmmu checks it on every
// access to a watched page), so there is no count limit; under KVM they are the CPU's debug
// registers (x86: DR0-DR3, so at most 4 aligned 8-byte watchpoints; Intel SDM vol. 3B §18.2).
// A page-table walker's own A/D updates are physical stores inside QEMU, not virtual accesses.
import { PhysAddr, hex } from '../core/addr';
import { findArch } from '../core/arch';
import { EntryKind, PagingFormat, Perm } from '../core/format';
import { decodeEntry } from '../core/descent';
import { DebuggerConsole } from './console';
import { PhysicalMemory } from '../core/memory';
import { PageTableSession } from '../core/ops/session';
import { Translation } from '../core/ops/translate';

/** One level's entry of the watched VA's walk. */
export interface WatchedEntry {
  readonly level: number;
  readonly levelName: string;
  readonly index: number;
  readonly entryPa: number;
  readonly bytes: 4 | 8;
  /** The entry's value when armed (updated after each change seen). */
  raw: bigint;
  /** The virtual addresses the guest may write it through (one watchpoint each). */
  readonly vas: readonly bigint[];
}

export interface WatchPlan {
  readonly va: bigint;
  readonly root: string;
  readonly format: PagingFormat;
  readonly entries: WatchedEntry[];
  /** How the entries' virtual addresses were found. */
  readonly how: string;
  /** A kernel-half direct-map offset seen (VA - PA), to remember for stops that cannot see it. */
  readonly directMapOffset?: bigint;
}

export interface PlanOptions {
  /** Guest VA of physical 0 (the user's setting, or one remembered from an earlier stop). */
  readonly directMapOffset?: bigint;
  readonly signal?: AbortSignal;
  /** At most this many watchpoints in all (default 64). */
  readonly maxWatchpoints?: number;
}

export class WatchError extends Error {
  override name = 'WatchError';
}

const U64 = (1n << 64n) - 1n;

/**
 * Each entry of `va`'s walk and the VAs it is writable through: every mapping of the entry's
 * frame that the privileged level may write, in the current tables (a guest may write through
 * its direct map, an identity map or the kernel image's alias of a static table); when the
 * current tables map no table page at all (a user-mode stop under KPTI: the user PGD does not
 * map the direct map) the direct-map offset given, else an error that says so.
 */
export async function planWatch(session: PageTableSession, va: bigint, opts: PlanOptions = {}): Promise<WatchPlan> {
  const t: Translation = await session.translate(va, { signal: opts.signal });
  if (t.kind === 'invalid' && t.trace.length === 0) throw new WatchError(t.message);
  const root = session.space.roots.find((r) => r.name === t.root)!;
  const f = root.format;
  const entries: WatchedEntry[] = [];
  const hows = new Set<string>();
  let seenOffset: bigint | undefined;
  for (const step of t.trace) {
    const aliases = await session.aliases([step.entryPa, step.entryPa + f.entryBytes], { signal: opts.signal, max: (opts.maxWatchpoints ?? 64) + 1 });
    const vas = new Set<bigint>();
    for (const a of aliases) {
      if (!a.write) continue;
      const v = BigInt(a.vaOfPa);
      vas.add(v);
      const off = (v - BigInt(step.entryPa)) & U64;
      if (v >= 1n << 63n && (seenOffset === undefined || off === opts.directMapOffset)) seenOffset = off;
    }
    if (vas.size) hows.add('writable mappings in the current tables');
    if (opts.directMapOffset !== undefined) {
      const dm = (opts.directMapOffset + BigInt(step.entryPa)) & U64;
      if (!vas.has(dm)) {
        vas.add(dm);
        hows.add(`direct map at ${hex(opts.directMapOffset)}`);
      }
    }
    if (vas.size === 0) {
      throw new WatchError(
        `${step.levelName}[${step.index}] of ${hex(va)} (PA ${hex(step.entryPa)}) is not writable through any mapping of this address space, ` +
          'and no direct-map offset is known: the debugger can only watch virtual addresses. A user-mode stop under KPTI does not map ' +
          'the kernel\'s direct map; stop once in the kernel (ptview remembers the direct map for the session) or set ptview.directMapOffset',
      );
    }
    entries.push({ level: step.level, levelName: step.levelName, index: step.index, entryPa: step.entryPa, bytes: f.entryBytes, raw: BigInt(step.raw), vas: [...vas] });
  }
  const total = entries.reduce((n, e) => n + e.vas.length, 0);
  const max = opts.maxWatchpoints ?? 64;
  if (total > max) throw new WatchError(`the ${entries.length} entries of ${hex(va)}'s walk are mapped writable at ${total} addresses, more than ${max} watchpoints: set ptview.directMapOffset to watch only the direct map`);
  return { va, root: t.root, format: f, entries, how: [...hows].join(' and '), directMapOffset: seenOffset };
}

/** One watchpoint per (entry, VA): what to arm. */
export interface WatchSpec {
  readonly va: bigint;
  readonly bytes: 4 | 8;
}

export function watchSpecs(plan: WatchPlan): WatchSpec[] {
  return plan.entries.flatMap((e) => e.vas.map((va) => ({ va, bytes: e.bytes })));
}

/** A change of one watched entry between two stops. */
export interface EntryChange {
  readonly entry: WatchedEntry;
  readonly before: bigint;
  readonly after: bigint;
}

/** Reads the watched entries (physical reads, through the stop's cache) and returns those that changed. */
export async function changedEntries(memory: PhysicalMemory, entries: readonly WatchedEntry[], signal?: AbortSignal): Promise<EntryChange[]> {
  const got = await memory.readMany(entries.map((e) => ({ addr: e.entryPa as PhysAddr, length: e.bytes })), signal);
  const out: EntryChange[] = [];
  entries.forEach((e, i) => {
    const b = got[i];
    if (!(b instanceof Uint8Array)) throw b;
    const after = bytesToBigint(b);
    if (after !== e.raw) out.push({ entry: e, before: e.raw, after });
  });
  return out;
}

function bytesToBigint(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
}

/** One line for an entry's value: kind, where it points and its flags, as the format decodes it. */
export function describeEntry(f: PagingFormat, level: number, raw: bigint): string {
  const lo = Number(raw & 0xffffffffn);
  const hi = Number((raw >> 32n) & 0xffffffffn);
  // Read as the walk reads it (one descent): the entry alone, nothing restricted from above.
  const e = decodeEntry(f, lo, hi, level, 0, Perm.All, 0);
  switch (e.kind) {
    case EntryKind.Invalid:
      return 'not present';
    case EntryKind.Reserved:
      return 'reserved bits set: the CPU faults here';
    case EntryKind.Table:
      return `table → ${f.levels[level + 1]?.name ?? 'next'} @ ${hex(e.target ?? 0)}`;
    case EntryKind.Leaf: {
      // flagString pads columns for tables of leaves: one space between words here.
      return `leaf → ${hex(e.target ?? 0)} ${f.flagString(lo, hi, level, e.perms)} ${f.memTypes[e.memType] ?? ''}`.replace(/\s+/g, ' ').trim();
    }
  }
}

/** "PT[8]: 0x0 (not present) → 0x8000000000108101 (leaf → 0x108000 …)". */
export function changeText(f: PagingFormat, c: EntryChange): string {
  const w = c.entry.bytes * 2;
  return `${c.entry.levelName}[${c.entry.index}]: ${hex(c.before, w)} (${describeEntry(f, c.entry.level, c.before)}) → ${hex(c.after, w)} (${describeEntry(f, c.entry.level, c.after)})`;
}

// ---- backends --------------------------------------------------------------------------------

/** What runs raw debugger commands (DebuggerConsole fits). */
export interface CommandRunner {
  run(cmd: string, signal?: AbortSignal): Promise<string>;
  quiet(cmds: string | readonly string[], signal?: AbortSignal): Promise<void>;
}

/** One armed watchpoint: the debugger's id for it. */
export interface Armed {
  readonly spec: WatchSpec;
  readonly id: string;
}

export interface WatchBackend {
  /** "GDB watch -l", "LLDB watchpoint", "DAP data breakpoints". */
  readonly mechanism: string;
  /** Arms all or none (a failure deletes what was set) and says why. */
  arm(specs: readonly WatchSpec[], signal?: AbortSignal): Promise<Armed[]>;
  disarm(ids: readonly string[], signal?: AbortSignal): Promise<void>;
  /** Ids (of `ids`) the debugger still has; undefined when it cannot tell. */
  alive?(ids: readonly string[], signal?: AbortSignal): Promise<Set<string> | undefined>;
}

const ctype = (bytes: number): string => (bytes === 4 ? 'unsigned int' : 'unsigned long long');

/** `watch -l` through GDB's command channel. */
export class GdbWatchBackend implements WatchBackend {
  readonly mechanism = 'GDB watch -l';
  constructor(
    private readonly con: CommandRunner,
    /** Hardware limit when known (KVM on x86: 4); undefined: none (TCG). */
    private readonly limit?: { count: number; why: string },
  ) {}

  async arm(specs: readonly WatchSpec[], signal?: AbortSignal): Promise<Armed[]> {
    if (this.limit && specs.length > this.limit.count) {
      throw new WatchError(`${specs.length} watchpoints needed, but ${this.limit.why} allows ${this.limit.count}`);
    }
    const done: Armed[] = [];
    try {
      for (const spec of specs) {
        const text = await this.con.run(`watch -l *(${ctype(spec.bytes)} *)${hex(spec.va)}`, signal);
        const m = /(Hardware )?(?:[Ww]atchpoint) (\d+)/.exec(text);
        if (!m) throw new WatchError(`GDB did not set a watchpoint on ${hex(spec.va)}: ${text.trim() || 'no answer'}`);
        done.push({ spec, id: m[2] });
        // A software watchpoint single-steps the whole guest: never what the user wants.
        if (!m[1]) throw new WatchError(`GDB could only make a software watchpoint on ${hex(spec.va)} (it would single-step the guest); is can-use-hw-watchpoints 0?`);
      }
    } catch (e) {
      if (done.length) await this.disarm(done.map((d) => d.id), signal).catch(() => undefined);
      throw e instanceof WatchError ? e : new WatchError((e as Error).message);
    }
    return done;
  }

  async disarm(ids: readonly string[], signal?: AbortSignal): Promise<void> {
    if (ids.length) await this.con.quiet(`delete ${ids.join(' ')}`, signal);
  }

  async alive(ids: readonly string[], signal?: AbortSignal): Promise<Set<string> | undefined> {
    const text = await this.con.run('info watchpoints', signal);
    const have = new Set([...text.matchAll(/^(\d+)\s+(?:hw |acc |read )?watchpoint/gm)].map((m) => m[1]));
    return new Set(ids.filter((i) => have.has(i)));
  }
}

/** `watchpoint set expression` through LLDB's command channel. */
export class LldbWatchBackend implements WatchBackend {
  readonly mechanism = 'LLDB watchpoint';
  constructor(private readonly con: CommandRunner) {}

  async arm(specs: readonly WatchSpec[], signal?: AbortSignal): Promise<Armed[]> {
    const done: Armed[] = [];
    try {
      for (const spec of specs) {
        const text = await this.con.run(`watchpoint set expression -w write -s ${spec.bytes} -- ${hex(spec.va)}`, signal);
        const m = /Watchpoint (\d+)/.exec(text);
        if (!m || /error/i.test(text)) throw new WatchError(`LLDB did not set a watchpoint on ${hex(spec.va)}: ${text.trim()}`);
        done.push({ spec, id: m[1] });
      }
    } catch (e) {
      if (done.length) await this.disarm(done.map((d) => d.id), signal).catch(() => undefined);
      throw e instanceof WatchError ? e : new WatchError((e as Error).message);
    }
    return done;
  }

  async disarm(ids: readonly string[], signal?: AbortSignal): Promise<void> {
    for (const id of ids) await this.con.run(`watchpoint delete ${id}`, signal);
  }
}

/** A DAP request sender (DapChannel fits). */
export interface RequestSender {
  request(command: string, args?: unknown): Promise<any>;
}

/**
 * DAP data breakpoints. The adapter keeps one set per session, replaced by every
 * setDataBreakpoints: ptview sends the user's last set (`userSet()`, what VS Code last sent)
 * followed by its own, and removes its own the same way.
 */
export class DapWatchBackend implements WatchBackend {
  readonly mechanism = 'DAP data breakpoints';
  private ours: { id: string; bp: { dataId: string; accessType: 'write' } }[] = [];
  private seq = 0;
  constructor(
    private readonly channel: RequestSender,
    private readonly userSet: () => readonly unknown[],
  ) {}

  /** Whether a setDataBreakpoints request's breakpoints are ptview's own (sent by this backend). */
  isOwn(breakpoints: readonly { dataId?: string }[]): boolean {
    return breakpoints.some((b) => this.ours.some((o) => o.bp.dataId === b.dataId));
  }

  async arm(specs: readonly WatchSpec[]): Promise<Armed[]> {
    const added: { id: string; bp: { dataId: string; accessType: 'write' }; spec: WatchSpec }[] = [];
    for (const spec of specs) {
      // An expression, not asAddress: cdt-gdb-adapter turns an address of N bytes into ADDR+N. And
      // without spaces: it passes the expression to MI's -break-watch unquoted. `long` is 8 bytes
      // on the 64-bit architectures, where entries are 8 bytes.
      const info = await this.channel.request('dataBreakpointInfo', { name: `*(${spec.bytes === 4 ? 'int' : 'long'}*)${hex(spec.va)}` });
      if (!info?.dataId) throw new WatchError(`the adapter offers no data breakpoint on ${hex(spec.va)}: ${info?.description ?? 'no answer'}`);
      if (Array.isArray(info.accessTypes) && !info.accessTypes.includes('write')) throw new WatchError(`the adapter cannot break on writes to ${hex(spec.va)}`);
      added.push({ id: `dap-${++this.seq}`, bp: { dataId: String(info.dataId), accessType: 'write' }, spec });
    }
    const before = this.ours;
    this.ours = [...before, ...added];
    try {
      const r = await this.send();
      const bps: { verified?: boolean; message?: string }[] = r?.breakpoints ?? [];
      const user = this.userSet().length;
      const bad = added.findIndex((_, i) => bps[user + before.length + i]?.verified === false);
      if (bad >= 0) throw new WatchError(`the adapter did not accept the data breakpoint on ${hex(added[bad].spec.va)}: ${bps[user + before.length + bad]?.message ?? 'not verified'}`);
    } catch (e) {
      this.ours = before;
      await this.send().catch(() => undefined);
      throw e instanceof WatchError ? e : new WatchError((e as Error).message);
    }
    return added.map((a) => ({ spec: a.spec, id: a.id }));
  }

  async disarm(ids: readonly string[]): Promise<void> {
    const n = this.ours.length;
    this.ours = this.ours.filter((o) => !ids.includes(o.id));
    if (this.ours.length !== n) await this.send();
  }

  /** Sends the user's set plus ptview's (after VS Code replaced the set, too). */
  send(): Promise<any> {
    return this.channel.request('setDataBreakpoints', { breakpoints: [...this.userSet(), ...this.ours.map((o) => o.bp)] });
  }
}

/** What the session's debugger offers, for choosing a backend. */
export interface WatchChannels {
  /** The dialect's debugger, when it has a command channel whose text comes back. */
  readonly commands?: { debugger: 'gdb' | 'lldb'; runner: CommandRunner };
  readonly supportsDataBreakpoints: boolean;
  readonly channel: RequestSender;
  readonly userDataBreakpoints: () => readonly unknown[];
  readonly adapter: string;
}

/**
 * The backend for a session: the command channel when there is one (it does not touch the
 * user's data breakpoints), else DAP data breakpoints, else an error naming what is missing.
 * `limit` is the hardware limit found for the target (see hardwareLimit).
 */
export function chooseBackend(c: WatchChannels, limit?: { count: number; why: string }): WatchBackend {
  if (c.commands?.debugger === 'gdb') return new GdbWatchBackend(c.commands.runner, limit);
  if (c.commands?.debugger === 'lldb') return new LldbWatchBackend(c.commands.runner);
  if (c.supportsDataBreakpoints) return new DapWatchBackend(c.channel, c.userDataBreakpoints);
  throw new WatchError(`${c.adapter} has neither data breakpoints (supportsDataBreakpoints) nor a debugger command channel: ptview cannot ask it to stop on a write`);
}

/**
 * The watchpoint limit of the target, from QEMU's monitor: under KVM the vCPU's debug registers
 * (x86: 4), under TCG none. `monitorText` is `info kvm`'s answer (undefined: no monitor).
 */
export function hardwareLimit(arch: string, monitorText: string | undefined): { count: number; why: string } | undefined {
  if (!monitorText || !/kvm support: enabled/i.test(monitorText)) return undefined;
  return findArch(arch)?.kvmWatchpoints;
}


/** The channels of a session whose console (dialect and command channel) is known. */
export function watchChannels(con: DebuggerConsole, channel: RequestSender, supportsDataBreakpoints: boolean, userDataBreakpoints: () => readonly unknown[]): WatchChannels {
  const dbg = con.dialect.debugger;
  return {
    commands: dbg !== 'none' && con.canRun ? { debugger: dbg, runner: con } : undefined,
    supportsDataBreakpoints,
    channel,
    userDataBreakpoints,
    adapter: `the ${con.dialect.dialect} adapter`,
  };
}

/** `info kvm` through the session's monitor, or undefined when there is none. */
export async function monitorKvm(con: DebuggerConsole, signal?: AbortSignal): Promise<string | undefined> {
  if (con.dialect.debugger === 'none' || !con.canRun) return undefined;
  return con.run(con.dialect.monitor('info kvm'), signal).catch(() => undefined);
}

/**
 * The backend for a session whose console is known: the command channel, else DAP data
 * breakpoints (`userDataBreakpoints`: the user's set, to send along), with the hardware limit
 * asked of QEMU's monitor.
 */
export async function sessionWatchBackend(
  con: DebuggerConsole,
  channel: RequestSender,
  supportsDataBreakpoints: boolean,
  arch: string,
  userDataBreakpoints: () => readonly unknown[],
  signal?: AbortSignal,
): Promise<WatchBackend> {
  const c = watchChannels(con, channel, supportsDataBreakpoints, userDataBreakpoints);
  return chooseBackend(c, hardwareLimit(arch, await monitorKvm(con, signal)));
}
