// A direct map (e.g. Linux's physmap at page_offset_base): guest-physical PA is virtual
// offset + PA, read with plain virtual readMemory. Needs no raw commands at all.
import { MemoryReadError, ReadRequest } from '../../core/memory';
import { Transport } from '../transport';
import { batchError, isBatchFatal, mapLimited, readMemory } from '../dapMemory';
import { Strategy } from './types';

const U64 = (1n << 64n) - 1n;

export class DirectMapStrategy implements Strategy {
  readonly name = 'direct-map' as const;

  constructor(private readonly t: Transport, readonly offset: bigint) {}

  readMany(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]> {
    return mapLimited(
      reqs,
      16,
      async (r) => {
        try {
          const va = (this.offset + BigInt(r.addr)) & U64;
          return await readMemory(this.t, r.addr, `0x${va.toString(16)}`, r.length, signal);
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
