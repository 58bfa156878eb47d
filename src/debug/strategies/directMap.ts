// A direct map (e.g. Linux's physmap at page_offset_base): guest-physical PA is virtual
// offset + PA, read with plain virtual reads. Needs no packets or monitor commands at all.
import { MemoryReadError, ReadRequest } from '../../core/memory';
import { batchError, isBatchFatal, mapLimited } from '../dapMemory';
import { Strategy, TargetCommands } from './types';

const U64 = (1n << 64n) - 1n;

export class DirectMapStrategy implements Strategy {
  readonly name = 'direct-map' as const;

  constructor(private readonly cmds: TargetCommands, readonly offset: bigint) {}

  readMany(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]> {
    return mapLimited(
      reqs,
      this.cmds.inFlight,
      async (r) => {
        try {
          return await this.cmds.read(r.addr, (this.offset + BigInt(r.addr)) & U64, r.length, signal);
        } catch (e) {
          const err = batchError(e, r.addr, r.length, signal);
          if (isBatchFatal(err)) throw err;
          return err;
        }
      },
      signal,
    );
  }

  async dispose(): Promise<void> {}
}
