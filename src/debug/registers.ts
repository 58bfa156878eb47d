// Paging registers of a stopped target through evaluate, with the architecture detected from
// which registers exist (never from a setting). Values are cast/masked to unsigned 64-bit;
// "void" or an error means the register is absent.
import { LiveRegisters, findArch, liveFamilies, liveRootLabels } from '../core/arch';
import type { Arch } from '../core/format';
import { LiveAccessError, LiveOptions } from './api';
import { DialectCommands } from './dialects';
import { parseRegisterValue } from './registerValue';
import { PAUSE_MESSAGE, Transport } from './transport';

/**
 * The frame to evaluate in: the caller's; else the top frame of the caller's thread (one request:
 * each request at a stop waits its turn behind the client's own); else the first stopped
 * thread's top frame.
 */
export async function resolveFrame(t: Transport, opts: LiveOptions, signal?: AbortSignal): Promise<{ threadId?: number; frameId?: number }> {
  if (opts.frameId !== undefined) return { threadId: opts.threadId, frameId: opts.frameId };
  if (t.targetRunning) throw new LiveAccessError('running', PAUSE_MESSAGE);
  if (opts.threadId !== undefined) {
    const frameId = await topFrame(t, opts.threadId, signal).catch((e) => {
      if (e instanceof LiveAccessError) throw e;
      return undefined; // a thread that is gone: ask for the list
    });
    if (frameId !== undefined) return { threadId: opts.threadId, frameId };
  }
  const th = await t.request('threads', undefined, signal);
  const threads: { id: number; running?: boolean }[] = th?.threads ?? [];
  if (threads.length === 0) throw new LiveAccessError('no-registers', 'the debug session has no threads (is the target connected?)');
  // cdt-gdb-adapter marks each thread; an all-running target cannot be read.
  const stopped = threads.filter((x) => x.running !== true);
  if (stopped.length === 0) throw new LiveAccessError('running', PAUSE_MESSAGE);
  const threadId = stopped.some((x) => x.id === opts.threadId) ? opts.threadId! : stopped[0].id;
  const frameId = await topFrame(t, threadId, signal);
  if (frameId === undefined) throw new LiveAccessError('running', PAUSE_MESSAGE);
  return { threadId, frameId };
}

async function topFrame(t: Transport, threadId: number, signal?: AbortSignal): Promise<number | undefined> {
  const st = await t.request('stackTrace', { threadId, startFrame: 0, levels: 1 }, signal);
  const id = st?.stackFrames?.[0]?.id;
  return typeof id === 'number' ? id : undefined;
}

/** Where registers come from: a debugger's expressions (RegisterReader) or the gdbstub's `p` packets. */
export interface RegisterSource {
  /** Several registers; lower-case names as keys, absent registers left out. */
  readAll(names: readonly string[], signal?: AbortSignal): Promise<Map<string, bigint>>;
  /** Bytes of the PC (RISC-V: 4 on RV32, 8 on RV64), undefined when unknown. */
  pcBytes(signal?: AbortSignal): Promise<bigint | undefined>;
  /**
   * The family whose probe register the source knows to exist without a request (a gdbstub's
   * target description): its registers are then read with the probes, in one round trip.
   */
  expectedFamily?(): RegisterFamily | undefined;
}

/** A family's name (LiveRegisters.family: "x86", "aarch64", "riscv"). */
export type RegisterFamily = string;

export class RegisterReader implements RegisterSource {
  constructor(
    private readonly t: Transport,
    private readonly d: DialectCommands,
    private readonly frameId: number | undefined,
    /** Whether to ask for several registers in one request (false once the adapter's answer did not fit). */
    public batched = true,
  ) {}

  /** One register, or undefined when the target does not have it. */
  async read(name: string, signal?: AbortSignal): Promise<bigint | undefined> {
    const req = this.d.evaluate(this.d.registerExpression(name), this.frameId);
    try {
      const body = await this.t.request(req.command, req.args, signal);
      if (body?.type === 'void' || body?.result === 'void') return undefined;
      return parseRegisterValue(body?.result);
    } catch (e) {
      if (e instanceof LiveAccessError) throw e;
      return undefined;
    }
  }

  /** Any numeric expression (e.g. sizeof($pc)); undefined when it does not evaluate. */
  async evaluateNumber(expression: string, signal?: AbortSignal): Promise<bigint | undefined> {
    const req = this.d.evaluate(expression, this.frameId);
    try {
      return parseRegisterValue((await this.t.request(req.command, req.args, signal))?.result);
    } catch (e) {
      if (e instanceof LiveAccessError) throw e;
      return undefined;
    }
  }

  pcBytes(signal?: AbortSignal): Promise<bigint | undefined> {
    return this.evaluateNumber('sizeof($pc)', signal);
  }

  /**
   * Several registers: in one request where the dialect can (every request at a stop also waits
   * its turn through the client), else concurrently (adapters pipeline evaluate requests). A batch
   * the adapter refuses or answers in another shape is read one register at a time.
   */
  async readAll(names: readonly string[], signal?: AbortSignal): Promise<Map<string, bigint>> {
    const vals = (await this.readBatch(names, signal)) ?? (await Promise.all(names.map((n) => this.read(n, signal))));
    const out = new Map<string, bigint>();
    names.forEach((n, i) => {
      const v = vals[i];
      if (v !== undefined) out.set(n.toLowerCase(), v);
    });
    return out;
  }

  /** The values of `names` from one request, or undefined when the dialect or the adapter cannot. */
  private async readBatch(names: readonly string[], signal?: AbortSignal): Promise<(bigint | undefined)[] | undefined> {
    const batch = this.batched ? this.d.registerBatch?.(names, this.frameId) : undefined;
    if (!batch) return undefined;
    const got = await this.t.request(batch.request.command, batch.request.args, signal).then(
      (body) => batch.parse(body),
      (e) => {
        if (e instanceof LiveAccessError) throw e;
        return undefined;
      },
    );
    if (!got) {
      this.batched = false; // not the shape expected: one register at a time from now on
      return undefined;
    }
    return names.map((n) => got.get(n));
  }
}

// Register sets per family: the architecture modules' (LiveRegisters, in src/core/arch).
// Also read for every family: the frame's PC (which AArch64 root is active: TTBR1 for an
// upper-half PC). Not a paging register; absent when it does not evaluate.
const PC = 'pc';

export interface TargetRegisters {
  arch: Arch;
  registers: Map<string, bigint>;
  notes: string[];
}

const rootOf = (f: LiveRegisters) => f.probe.toLowerCase();

/** The architecture and registers of a family, from its registers as read (lower-case names). */
async function fromFamily(r: RegisterSource, family: LiveRegisters, regs: Map<string, bigint>, signal?: AbortSignal): Promise<TargetRegisters> {
  const pcBytes = family.needsPcBytes ? await r.pcBytes(signal) : undefined;
  return { arch: family.identify(regs, pcBytes), registers: regs, notes: [] };
}

/**
 * Detects the architecture with one probe per family (sent together), then reads that family's
 * paging registers. AArch64 also gets `el` (current EL from CPSR).
 * - `known`: the architecture an earlier stop of the same session found; its registers are read at
 *   once, without the probes (fewer requests to the adapter per stop), and probed again only when
 *   its root register is gone.
 * - A source that can tell the family beforehand (a gdbstub's target description) gets that
 *   family's registers in the probes' round trip.
 */
export async function readTargetRegisters(r: RegisterSource, signal?: AbortSignal, known?: Arch): Promise<TargetRegisters> {
  const families = liveFamilies();
  const knownFamily = known !== undefined ? findArch(known)?.live : undefined;
  if (knownFamily) {
    const regs = await r.readAll([...knownFamily.names, PC], signal);
    if (regs.has(rootOf(knownFamily))) {
      // A width told by the PC's size (RISC-V XLEN) is the gdbstub description's: the session's
      // earlier stop told it, so no sizeof($pc) request.
      if (knownFamily.needsPcBytes) return { arch: known!, registers: regs, notes: [] };
      return fromFamily(r, knownFamily, regs, signal);
    }
  }
  const family = r.expectedFamily?.();
  const expectedFamily = families.find((f) => f.family === family);
  const expected = expectedFamily ? [...expectedFamily.names, PC] : [];
  const probe = await r.readAll([...new Set([...families.map((f) => f.probe), ...expected])], signal);
  for (const f of families) {
    if (!probe.has(rootOf(f))) continue;
    const names = [...f.names, PC];
    // The family's registers, from the probes' round trip when it was the expected one.
    const regs = f === expectedFamily ? new Map([...probe].filter(([k]) => names.some((n) => n.toLowerCase() === k))) : await r.readAll(names, signal);
    return fromFamily(r, f, regs, signal);
  }
  throw new LiveAccessError(
    'no-registers',
    `none of ${liveRootLabels()} can be read through this adapter: ptview needs the paging registers (QEMU's gdbstub exposes them; other stubs may not)`,
  );
}
