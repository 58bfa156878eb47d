// Guest-physical memory of one stop: RAM checks (never read outside RAM, so never MMIO), a cache
// for this stop, counters, and the chosen strategy underneath.
import type { PhysAddr } from '../core/addr';
import { MemoryReadError, PhysicalMemory, RamRange, ReadRequest, inRam } from '../core/memory';
import { LiveStats } from './api';
import { batchError } from './dapMemory';
import { Strategy } from './strategies/types';

export class LiveMemory implements PhysicalMemory {
  private cache = new Map<string, Uint8Array>();
  /** Set when the target ran, or the session ended: every read then fails with this reason. */
  invalid: 'running' | 'session-ended' | undefined;

  constructor(
    readonly ram: readonly RamRange[],
    private readonly strategy: Strategy,
    private readonly stats: () => LiveStats,
    /** false when RAM is unknown (no monitor): then every address is allowed (direct-map only). */
    private readonly checkRam = true,
  ) {}

  invalidate(): void {
    this.cache.clear();
  }

  async read(addr: PhysAddr, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const [r] = await this.readMany([{ addr, length }], signal);
    if (r instanceof MemoryReadError) throw r;
    return r;
  }

  async readMany(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]> {
    const out: (Uint8Array | MemoryReadError | undefined)[] = new Array(reqs.length);
    const todo: ReadRequest[] = [];
    const slots: number[] = [];
    const first = reqs[0] ?? { addr: 0 as PhysAddr, length: 0 };
    if (this.invalid) throw new MemoryReadError(first.addr, first.length, this.invalid, this.invalid === 'running' ? 'the target is running: pause it to read its page tables' : 'the debug session has ended');
    if (signal?.aborted) throw new MemoryReadError(first.addr, first.length, 'cancelled', 'the walk was cancelled');
    const seen = new Map<string, number>();
    reqs.forEach((r, i) => {
      const key = `${r.addr}:${r.length}`;
      const hit = this.cache.get(key);
      if (hit) {
        this.stats().cacheHits++;
        out[i] = hit;
      } else if (this.checkRam && !inRam(this.ram, r.addr, r.length)) {
        out[i] = new MemoryReadError(r.addr, r.length, 'outside-ram', 'not guest RAM (ptview never reads MMIO or unbacked addresses)');
      } else if (!seen.has(key)) {
        seen.set(key, i);
        todo.push(r);
        slots.push(i);
      }
    });
    if (todo.length) {
      let res: (Uint8Array | MemoryReadError)[];
      try {
        res = await this.strategy.readMany(todo, signal);
      } catch (e) {
        throw batchError(e, todo[0].addr, todo[0].length, signal);
      }
      this.stats().reads += todo.length;
      let k = 0;
      for (const s of slots) {
        const v = res[k++];
        out[s] = v;
        if (!(v instanceof MemoryReadError)) this.cache.set(`${reqs[s].addr}:${reqs[s].length}`, v);
      }
    }
    // Duplicates within the batch share the first request's answer.
    reqs.forEach((r, i) => {
      if (out[i] === undefined) out[i] = out[seen.get(`${r.addr}:${r.length}`)!];
    });
    return out as (Uint8Array | MemoryReadError)[];
  }
}
