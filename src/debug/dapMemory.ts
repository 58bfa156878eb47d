// DAP readMemory as ptview uses it: decoded bytes, short or unreadable answers as errors
// (GDB 13.1 may return a short buffer whose last byte is garbage, without unreadableBytes).
import type { PhysAddr } from '../core/addr';
import { MemoryReadError } from '../core/memory';
import { LiveAccessError } from './api';
import { Transport } from './transport';

/** Rejections of a batch are session-level: map them to the MemoryReadError reasons. */
export function batchError(e: unknown, addr: PhysAddr, length: number, signal?: AbortSignal): MemoryReadError {
  if (signal?.aborted) return new MemoryReadError(addr, length, 'cancelled', 'the walk was cancelled');
  if (e instanceof MemoryReadError) return e;
  if (e instanceof LiveAccessError && (e.kind === 'running' || e.kind === 'session-ended')) return new MemoryReadError(addr, length, e.kind, e.message);
  if ((e as Error)?.name === 'AbortError') return new MemoryReadError(addr, length, 'cancelled', 'the walk was cancelled');
  return new MemoryReadError(addr, length, 'io', (e as Error)?.message ?? String(e));
}

/** Whether an error ends the whole batch (rather than this one request). */
export function isBatchFatal(e: unknown): boolean {
  return e instanceof MemoryReadError ? e.reason === 'running' || e.reason === 'session-ended' || e.reason === 'cancelled' : false;
}

/**
 * Reads `count` bytes at `address` (a number or GDB expression text) with readMemory. Rejects
 * with MemoryReadError: 'io' for a failed or short read, batch reasons for session failures.
 */
export async function readMemory(t: Transport, reportAddr: PhysAddr, memoryReference: string, count: number, signal?: AbortSignal): Promise<Uint8Array> {
  let body: any;
  try {
    body = await t.request('readMemory', { memoryReference, count }, signal);
  } catch (e) {
    throw batchError(e, reportAddr, count, signal);
  }
  const data = typeof body?.data === 'string' ? Buffer.from(body.data, 'base64') : Buffer.alloc(0);
  t.stats.bytesRead += data.length;
  if (body?.unreadableBytes) throw new MemoryReadError(reportAddr, count, 'io', `${body.unreadableBytes} bytes unreadable`);
  if (data.length < count) throw new MemoryReadError(reportAddr, count, 'io', `short read: ${data.length} of ${count} bytes`);
  return new Uint8Array(data.buffer, data.byteOffset, count);
}

/**
 * Runs `fn` over items with at most `limit` in flight. After the first rejection (or an abort)
 * no new item starts; it resolves or rejects only once every started call has settled, so a
 * caller's `finally` (PhyMemMode back to 0) never overtakes a read still in flight.
 */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (x: T, i: number) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failure: { e: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      if (signal?.aborted) {
        failure = { e: signal.reason };
        break;
      }
      const i = next++;
      try {
        out[i] = await fn(items[i], i);
      } catch (e) {
        failure ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.e;
  return out;
}
