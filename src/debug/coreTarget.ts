// LiveTarget of a `ptview-core` session (coreAdapter.ts): registers and guest-physical memory
// come straight from the core through two custom requests; no debugger, no strategies. Reads are
// batched one request per walk level, like every other source.
import { PhysAddr } from '../core/addr';
import { MemoryReadError, PhysicalMemory, ReadFailure, ReadRequest } from '../core/memory';
import type { Arch } from '../core/format';
import { DapChannel, LiveAccessError, LiveOptions, LiveTarget } from './api';
import { CORE_INFO_REQUEST, CORE_READ_REQUEST, CoreInfo, FRAME_BASE, PhysicalReads } from './coreProtocol';
import { newStats } from './transport';

export async function openCoreTarget(channel: DapChannel, options: LiveOptions, signal?: AbortSignal): Promise<LiveTarget> {
  signal?.throwIfAborted();
  let stats = newStats();
  const t0 = performance.now();
  const threadId = options.threadId ?? (options.frameId !== undefined ? options.frameId - FRAME_BASE + 1 : 1);
  let info: CoreInfo;
  try {
    info = (await channel.request(CORE_INFO_REQUEST, { threadId })) as CoreInfo;
    stats.dapRequests++;
  } catch (e) {
    throw new LiveAccessError('session-ended', `the ptview-core session did not answer: ${(e as Error).message}`);
  }
  stats.phases.registers = performance.now() - t0;
  const registers = new Map(Object.entries(info.registers).map(([k, v]) => [k, BigInt(v)]));
  const ram = info.ram.map((r) => ({ start: r.start as PhysAddr, end: r.end as PhysAddr, name: r.name }));
  let ended = false;
  const readMany = async (reqs: readonly ReadRequest[], sig?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]> => {
    sig?.throwIfAborted();
    if (ended) return reqs.map((r) => new MemoryReadError(r.addr, r.length, 'session-ended', 'the core session ended'));
    const t1 = performance.now();
    const body = (await channel.request(CORE_READ_REQUEST, { reads: reqs.map((r) => ({ addr: r.addr, length: r.length })) })) as PhysicalReads;
    stats.dapRequests++;
    stats.phases.read = (stats.phases.read ?? 0) + performance.now() - t1;
    return body.results.map((x, i) => {
      if ('data' in x) {
        const b = Buffer.from(x.data, 'base64');
        stats.reads++;
        stats.bytesRead += b.length;
        return new Uint8Array(b);
      }
      return new MemoryReadError(reqs[i].addr, reqs[i].length, x.reason as ReadFailure, x.error.replace(/^cannot read \d+ bytes at physical 0x[0-9a-f]+: /, ''));
    });
  };
  const memory: PhysicalMemory = {
    ram,
    readMany,
    read: async (addr, length, sig) => {
      const [r] = await readMany([{ addr, length }], sig);
      if (r instanceof MemoryReadError) throw r;
      return r;
    },
  };
  return {
    arch: info.arch as Arch,
    dialect: 'ptview-core',
    strategy: 'core-file',
    connection: info.source,
    strategyNotes: info.notes,
    registers,
    memory,
    get stats() {
      return stats;
    },
    resetStats() {
      stats = newStats();
    },
    invalidate: () => undefined, // a core never changes
    dispose: async () => {
      ended = true;
    },
  };
}
