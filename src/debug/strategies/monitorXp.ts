// `monitor xp /Ngx PA`: works on any QEMU with a monitor channel, independent of PhyMemMode, but
// slow through a debugger (one console line per 16 bytes) and noisy in the Debug Console.
import { MemoryReadError, ReadRequest } from '../../core/memory';
import { batchError, isBatchFatal } from '../dapMemory';
import { parseXpQwords } from '../ram';
import { Strategy, TargetCommands, Unavailable } from './types';

export class MonitorXpStrategy implements Strategy {
  readonly name = 'monitor-xp' as const;

  private constructor(private readonly cmds: TargetCommands, private readonly onBytes: (n: number) => void) {}

  static create(cmds: TargetCommands, onBytes: (n: number) => void): MonitorXpStrategy | Unavailable {
    if (cmds.noCommands) return { unavailable: cmds.noCommands };
    return new MonitorXpStrategy(cmds, onBytes);
  }

  async readMany(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]> {
    const out: (Uint8Array | MemoryReadError)[] = [];
    for (const r of reqs) {
      try {
        signal?.throwIfAborted();
        if (r.length % 8) throw new MemoryReadError(r.addr, r.length, 'io', 'monitor xp reads whole 8-byte words');
        const text = await this.cmds.monitor(`xp /${r.length / 8}gx 0x${r.addr.toString(16)}`, signal);
        const bytes = parseXpQwords(text, r.addr, r.length);
        this.onBytes(bytes.length);
        out.push(bytes);
      } catch (e) {
        const err = batchError(e, r.addr, r.length, signal);
        if (isBatchFatal(err)) throw err;
        out.push(err);
      }
    }
    return out;
  }

  async dispose(): Promise<void> {}
}
