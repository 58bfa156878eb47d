// QEMU physical-memory mode: `Qqemu.PhyMemMode:1`, whole tables per read (one level's tables
// concurrently), then always `:0` (and a debugger's memory cache flushed) in `finally`.
// The mode is global and sticky in QEMU (it survives reconnects), so the window is kept to one
// batch and a stale 1 is cleared on attach (see checkPhyMemMode).
import { MemoryReadError, ReadRequest } from '../../core/memory';
import { LiveAccessError } from '../api';
import { batchError, isBatchFatal, mapLimited } from '../dapMemory';
import { Strategy, TargetCommands, Unavailable } from './types';

/** Queries the mode; when a previous session left it at 1, switches it off. */
export async function checkPhyMemMode(cmds: TargetCommands, signal?: AbortSignal): Promise<{ supported: boolean; note?: string }> {
  let reply: string | undefined;
  try {
    reply = await cmds.packet('qqemu.PhyMemMode', signal);
  } catch (e) {
    if (e instanceof LiveAccessError) throw e;
    return { supported: false, note: `the PhyMemMode query failed: ${(e as Error).message}` };
  }
  if (reply !== '0' && reply !== '1') {
    return { supported: false, note: `the gdbstub does not answer qqemu.PhyMemMode (${reply === undefined || reply === '' ? 'empty reply' : `reply '${reply}'`}): QEMU >= 4.1 is needed` };
  }
  if (reply === '1') {
    // No signal here: switching back must happen even when the walk was cancelled.
    await cmds.setPhyMemMode(false);
    return { supported: true, note: 'PhyMemMode was left at 1 (by an interrupted session); switched it back to 0' };
  }
  return { supported: true };
}

export class PhyMemStrategy implements Strategy {
  readonly name = 'phymem-mode' as const;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly cmds: TargetCommands) {}

  static create(cmds: TargetCommands, supported: { supported: boolean; note?: string }): PhyMemStrategy | Unavailable {
    if (cmds.noCommands) return { unavailable: cmds.noCommands };
    if (cmds.noReads) return { unavailable: cmds.noReads };
    if (!supported.supported) return { unavailable: supported.note ?? 'PhyMemMode is not supported' };
    return new PhyMemStrategy(cmds);
  }

  readMany(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]> {
    // One physical window at a time per target.
    const run = () => this.batch(reqs, signal);
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /**
   * Mode 1, the batch's reads concurrently, then mode 0 (and the debugger's cache flushed) before
   * the batch resolves. The mode is global to the target: any request the user's UI sends while
   * it is on (Variables, Memory view) would read physical memory, so the window is one batch and
   * nothing outside it — even though switching per level costs two requests per level of a walk.
   */
  private async batch(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]> {
    if (reqs.length === 0) return [];
    const first = reqs[0];
    if (signal?.aborted) throw batchError(signal.reason, first.addr, first.length, signal);
    if (this.cmds.ordered) return this.pipelined(reqs, signal);
    let fatal: MemoryReadError | undefined;
    try {
      // A failed switch-on is still switched off in finally (the mode may have changed).
      await this.cmds.setPhyMemMode(true);
      return await mapLimited(
        reqs,
        this.cmds.inFlight,
        async (r) => {
          try {
            return await this.cmds.read(r.addr, BigInt(r.addr), r.length, signal);
          } catch (e) {
            const err = batchError(e, r.addr, r.length, signal);
            if (isBatchFatal(err)) throw err;
            return err;
          }
        },
        signal,
      );
    } catch (e) {
      fatal = batchError(e, first.addr, first.length, signal);
      throw fatal;
    } finally {
      await this.switchOffNow(fatal);
    }
  }

  /**
   * On a carrier that keeps order (ptview's own connection to the stub, which QEMU serves alone)
   * the window is one pipeline: mode 1 (unless still on from the walk's previous level), every
   * read, sent before the first answer, so a batch costs one round trip plus the transfer. The
   * stub serves them in order, so the reads are physical. The mode goes back to 0 as soon as the
   * walk stops asking — on the next turn of the event loop after a batch without a follow-up
   * (the walker asks for the next level from the previous one's answer, without yielding) — and
   * at once on any failure; dispose waits for it. Nobody else can read through this connection
   * meanwhile. A failed switch-on discards the reads.
   */
  private async pipelined(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]> {
    if (this.idle) {
      clearImmediate(this.idle);
      this.idle = undefined;
    }
    const first = reqs[0];
    const on = this.modeOn ? Promise.resolve(undefined) : this.cmds.setPhyMemMode(true).then(() => undefined, (e: unknown) => ({ e }));
    this.modeOn = true;
    const reads = reqs.map((r) => this.cmds.read(r.addr, BigInt(r.addr), r.length).catch((e: unknown) => batchError(e, r.addr, r.length)));
    const [onFailed, res] = await Promise.all([on, Promise.all(reads)]);
    const fatal = res.find((x): x is MemoryReadError => x instanceof MemoryReadError && isBatchFatal(x));
    if (onFailed || fatal || signal?.aborted) {
      await this.offNow(fatal ?? (onFailed ? batchError(onFailed.e, first.addr, first.length) : undefined));
      if (onFailed) throw batchError(onFailed.e, first.addr, first.length, signal);
      if (fatal) throw fatal;
      throw batchError(signal!.reason, first.addr, first.length, signal);
    }
    // Off unless the walk's next batch comes first (it runs in this queue, before the switch-off).
    this.idle = setImmediate(() => {
      this.idle = undefined;
      const off = () => this.offNow().catch((e: unknown) => (this.offError = e));
      this.queue = this.queue.then(off, off);
    });
    return res;
  }

  private modeOn = false;
  private idle: NodeJS.Immediate | undefined;
  private offError: unknown;

  private async offNow(fatal?: MemoryReadError): Promise<void> {
    if (!this.modeOn) return;
    await this.switchOffNow(fatal);
    this.modeOn = false;
  }

  /** Mode 0 and the debugger's cache flushed; a dead session is left to the next attach's check. */
  private async switchOffNow(fatal?: MemoryReadError): Promise<void> {
    try {
      await this.cmds.setPhyMemMode(false);
    } catch (e) {
      if (!(fatal?.reason === 'session-ended' || (e instanceof LiveAccessError && e.kind === 'session-ended'))) {
        throw new LiveAccessError('strategy-failed', `could not switch QEMU's PhyMemMode back to 0 (${(e as Error).message}): virtual reads of this session now return physical memory; run 'maintenance packet Qqemu.PhyMemMode:0' in the debug console`);
      }
    }
  }

  /**
   * Through a debug adapter every batch switches the mode off before it settles; on an ordered
   * carrier the idle switch-off may still be pending: run it now.
   */
  async dispose(): Promise<void> {
    if (this.idle) {
      clearImmediate(this.idle);
      this.idle = undefined;
      const off = () => this.offNow();
      this.queue = this.queue.then(off, off);
    }
    await this.queue.catch(() => undefined);
    if (this.modeOn) await this.offNow(); // a batch that failed to switch back: one more try, loudly
    const e = this.offError;
    this.offError = undefined;
    if (e) throw e;
  }
}
