// The CLI's live target without GDB: ptview's own client on QEMU's gdbstub (client.ts). The
// target description names the paging registers (read with `p`), qRcmd runs the monitor
// commands (`info mtree -f`, `gpa2hva`, `xp`), and the same strategies as the debug-adapter path
// read memory (src/debug/target.ts). Rather than a fake DAP channel, the stub implements the two
// small interfaces the strategies and the register code use (TargetCommands, RegisterSource):
// no DAP text round trips, and `m` reads pipelined.
//
// QEMU stops the VM when a client connects and keeps it stopped when the connection closes;
// ptview never sends `c`, `s`, `vCont` or a write, and ends with a plain close, not `D` (a detach
// resumes the VM), unless the caller asks to resume.
import type { PhysAddr } from '../../core/addr';
import { liveFamilies, liveRootLabels } from '../../core/arch';
import { MemoryReadError } from '../../core/memory';
import { LiveAccessError, LiveOptions, LiveTarget } from '../api';
import { parseHostPort } from '../hostPort';
import { findQemuPid } from '../procfs';
import { readTargetRegisters, RegisterFamily, RegisterSource } from '../registers';
import { TargetCommands, Unavailable } from '../strategies/types';
import { assembleTarget, discoverQemu, elapsed, SessionKnowledge } from '../target';
import { newStats } from '../transport';
import { GdbStubClient, GdbStubError, StubOptions } from './client';
import { errorReply, littleEndianHex } from './rsp';
import { RegisterDesc, TargetDescription, loadTargetDescription } from './targetXml';

/** Reads in flight per batch: each is two `m` packets on QEMU, and the stub answers in order. */
const IN_FLIGHT = 32;

function memoryError(e: unknown, addr: PhysAddr, count: number, signal?: AbortSignal): MemoryReadError {
  if (signal?.aborted) return new MemoryReadError(addr, count, 'cancelled', 'the walk was cancelled');
  if (e instanceof GdbStubError) return new MemoryReadError(addr, count, e.kind === 'error-reply' || e.kind === 'protocol' ? 'io' : 'session-ended', e.message);
  return new MemoryReadError(addr, count, 'io', (e as Error)?.message ?? String(e));
}

/** Connection-level stub errors end the session for the walker. */
function sessionError(e: unknown): unknown {
  if (e instanceof GdbStubError && e.kind !== 'error-reply' && e.kind !== 'unsupported' && e.kind !== 'protocol') return new LiveAccessError('session-ended', e.message);
  return e;
}

export class StubCommands implements TargetCommands {
  readonly noCommands = undefined;
  readonly inFlight = IN_FLIGHT;
  readonly ordered = true;

  constructor(
    readonly client: GdbStubClient,
    private readonly onBytes: (n: number) => void = () => {},
  ) {}

  private pid: Promise<{ pid: number } | Unavailable> | undefined;

  /**
   * Started at connect (startPidLookup) so that listing /proc, slow on some kernels, overlaps
   * the stub's own requests; the socket's owner decides, as on the debug-adapter path.
   */
  qemuPid(): Promise<{ pid: number } | Unavailable> {
    return this.startPidLookup();
  }

  startPidLookup(): Promise<{ pid: number } | Unavailable> {
    this.pid ??= process.platform !== 'linux'
      ? Promise.resolve({ unavailable: `/proc/<pid>/mem needs a Linux host (this is ${process.platform})` })
      : // After a yield: the requests sent so far go out first (client.ts writes at the end of a job).
        Promise.resolve().then(() => findQemuPid(this.client.host, this.client.port)).then((r) => ('reason' in r ? { unavailable: r.reason } : r), (e: Error) => ({ unavailable: `looking for the QEMU process failed: ${e.message}` }));
    return this.pid;
  }

  monitor(cmd: string): Promise<string> {
    return this.client.monitor(cmd).catch((e) => Promise.reject(sessionError(e)));
  }

  packet(p: string): Promise<string | undefined> {
    return this.client.request(p).catch((e) => Promise.reject(sessionError(e)));
  }

  setPhyMemMode(on: boolean): Promise<void> {
    return this.client.setPhyMemMode(on).catch((e) => Promise.reject(sessionError(e)));
  }

  async read(reportAddr: PhysAddr, address: bigint, count: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (signal?.aborted) throw memoryError(undefined, reportAddr, count, signal);
    try {
      const bytes = await this.client.readMemory(address, count);
      this.onBytes(bytes.length);
      return bytes;
    } catch (e) {
      throw memoryError(e, reportAddr, count, signal);
    }
  }
}

/** Registers by name from the target description, read with `p` packets sent together. */
export class StubRegisters implements RegisterSource {
  constructor(
    private readonly client: GdbStubClient,
    private readonly desc: TargetDescription,
  ) {}

  async readAll(names: readonly string[]): Promise<Map<string, bigint>> {
    const present = names.map((n) => this.desc.registers.get(n.toLowerCase())).filter((d) => d !== undefined);
    const replies = await Promise.all(present.map((d) => this.client.request(`p${d.regnum.toString(16)}`)));
    // A stub without `p` (empty replies) still sends the registers of its `g` packet.
    const all = replies.some((r) => r === '') ? await this.client.request('g') : undefined;
    const out = new Map<string, bigint>();
    present.forEach((d, i) => {
      const r = replies[i] === '' && all !== undefined ? this.fromG(all, d) : replies[i];
      // `xx…` is "unavailable"; an E reply or an empty one means absent too.
      if (r !== undefined && /^[0-9a-f]+$/i.test(r) && r.length === Math.ceil(d.bitsize / 8) * 2) out.set(d.name.toLowerCase(), littleEndianHex(r));
    });
    return out;
  }

  /** Register `d` in a `g` reply: the registers in number order, each bitsize/8 bytes, from 0. */
  private fromG(g: string, d: RegisterDesc): string | undefined {
    if (errorReply(g)) return undefined;
    let at = 0;
    const ordered = [...this.desc.registers.values()].sort((a, b) => a.regnum - b.regnum);
    for (let n = 0, i = 0; n < d.regnum; n++) {
      if (ordered[i]?.regnum !== n) return undefined; // a gap: the layout is unknown
      at += Math.ceil(ordered[i++].bitsize / 8) * 2;
    }
    const end = at + Math.ceil(d.bitsize / 8) * 2;
    return end <= g.length ? g.slice(at, end) : undefined;
  }

  expectedFamily(): RegisterFamily | undefined {
    return liveFamilies().find((f) => this.desc.registers.has(f.probe.toLowerCase()))?.family;
  }

  async pcBytes(): Promise<bigint | undefined> {
    const pc = this.desc.registers.get('pc');
    return pc ? BigInt(pc.bitsize / 8) : undefined;
  }
}

export interface StubSession {
  readonly client: GdbStubClient;
  readonly description: TargetDescription;
  readonly target: LiveTarget;
  /** Milliseconds: connect + qSupported, QEMU check and target description. */
  readonly attachMs: number;
  /** Restores PhyMemMode 0 and closes the connection (the guest stays paused unless `resume`). */
  close(opts?: { resume?: boolean }): Promise<void>;
}

/**
 * Connects to QEMU's gdbstub at HOST:PORT and returns the stopped target. Clear errors
 * (GdbStubError / LiveAccessError) for: nothing listening, a stub serving another debugger, a
 * stub that is not QEMU's, a target description without paging registers.
 */
export async function openStubTarget(hostPort: string, options: LiveOptions = {}, stubOptions: StubOptions = {}): Promise<StubSession> {
  const t0 = performance.now();
  const { host, port } = parseHostPort(hostPort);
  const client = await GdbStubClient.open(host, port, stubOptions);
  let stats = newStats();
  const getStats = () => stats;
  client.onSend = () => stats.dapRequests++;
  let target: LiveTarget | undefined;
  const close = async (o: { resume?: boolean } = {}) => {
    try {
      await target?.dispose();
    } finally {
      await client.close(o);
    }
  };
  try {
    // qSupported alone: a stub that waits for each reply's ack (gdbserver) takes packets queued
    // behind it for a bad ack and sends its reply again, so nothing is pipelined before the QEMU
    // check (QEMU answers each packet as it parses it). The QEMU process is looked for in /proc
    // while the answer travels.
    const negotiated = client.negotiate();
    const cmds = new StubCommands(client, (n) => (stats.bytesRead += n));
    if (!options.strategy || options.strategy === 'proc-mem') void cmds.startPidLookup();
    await negotiated;
    // Then back to back: the QEMU check and the target description, then RAM discovery and the
    // registers; each answer is still examined in that order, so a stub that is not QEMU's is
    // named as such before anything else fails.
    const sstep = client.request('qqemu.sstepbits');
    const xml = client.features.get('qXfer:features:read') === '+' ? loadTargetDescription((annex) => client.readXfer('features', annex)) : undefined;
    xml?.catch(() => undefined);
    const sstepReply = await sstep;
    if (!sstepReply || errorReply(sstepReply)) throw new GdbStubError('unsupported', `the gdbstub at ${client.where} is not QEMU's (no answer to qqemu.sstepbits): ptview --gdb reads QEMU guests; for other stubs try --via gdb`);
    if (!xml) throw new GdbStubError('unsupported', `the gdbstub at ${client.where} sends no target description (qXfer:features:read), so the paging registers cannot be found by name`);
    const s: SessionKnowledge = { commands: cmds, connection: `ptview's gdbstub client on ${client.where}`, notes: [] };
    // RAM discovery (qRcmd 'info mtree -f') goes out now, behind the description's reads.
    const discovered = elapsed(getStats, 'discover', () => discoverQemu(s));
    discovered.catch(() => undefined);
    const description = await xml;
    // The target description names registers lower-case (targetXml.ts).
    if (!liveFamilies().some((f) => description.registers.has(f.probe.toLowerCase()))) {
      throw new LiveAccessError(
        'no-registers',
        `the target description of ${client.where} (${description.architecture ?? 'unknown architecture'}; features ${description.features.join(', ') || 'none'}) has none of ${liveRootLabels()}: ptview needs the paging registers`,
      );
    }
    const attachMs = performance.now() - t0;
    s.connection = `ptview's gdbstub client on ${client.where} (${description.architecture ?? '?'}, PacketSize 0x${client.features.get('PacketSize') ?? '?'}, ${client.noAckMode ? 'no-ack mode' : 'acks on: the stub offers no QStartNoAckMode'})`;
    const registers = elapsed(getStats, 'registers', () => readTargetRegisters(new StubRegisters(client, description)));
    registers.catch(() => undefined);
    const d = await discovered;
    const regs = await registers;
    const built = await assembleTarget(
      s,
      d,
      {
        kind: 'gdbstub',
        arch: regs.arch,
        registers: regs.registers,
        notes: regs.notes,
        evaluate: async () => undefined, // no symbols without a debugger
        getStats,
        resetStats() {
          stats = newStats();
        },
        noStrategyAdvice: 'QEMU >= 4.1 answers PhyMemMode; otherwise give --direct-map.',
      },
      options,
    );
    target = built.target;
    return { client, description, target, attachMs, close };
  } catch (e) {
    await close().catch(() => undefined);
    throw sessionError(e);
  }
}
