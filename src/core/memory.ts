import { PhysAddr, hex } from './addr';

/** A range of guest RAM, end exclusive. Reads outside every RAM range are refused. */
export interface RamRange {
  readonly start: PhysAddr;
  readonly end: PhysAddr;
  readonly name?: string;
}

export interface ReadRequest {
  readonly addr: PhysAddr;
  readonly length: number;
}

/**
 * Guest-physical memory as the core reads it: whole tables per request, async so that live
 * sources can batch, pipeline and cache. Implementations never touch addresses outside `ram`.
 */
export interface PhysicalMemory {
  /** Where guest RAM is; the walker validates every table address against it. */
  readonly ram: readonly RamRange[];
  /** Reads `length` bytes; rejects with MemoryReadError. */
  read(addr: PhysAddr, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * Reads many ranges at once (one walk level). Each slot is the bytes or the error for that
   * request, so one bad table does not lose the others.
   */
  readMany(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]>;
}

export type ReadFailure =
  | 'outside-ram' // address not in any RAM range
  | 'truncated' // source (core file) ends before the data
  | 'not-dumped' // RAM the dump left out (makedumpfile -d): unknown, never zeros
  | 'corrupt' // the source holds the page but its data cannot be decoded
  | 'io' // the source failed
  | 'cancelled'
  | 'session-ended'
  | 'running'; // live target is running

export class MemoryReadError extends Error {
  override name = 'MemoryReadError';
  constructor(
    readonly addr: PhysAddr,
    readonly length: number,
    readonly reason: ReadFailure,
    detail?: string,
  ) {
    super(`cannot read ${length} bytes at physical ${hex(addr)}: ${detail ?? reason}`);
  }
}

export function inRam(ram: readonly RamRange[], addr: number, length: number): boolean {
  for (const r of ram) if (addr >= r.start && addr + length <= r.end) return true;
  return false;
}

/** Default readMany: sequential reads, errors captured per slot. */
export async function readManyVia(
  mem: Pick<PhysicalMemory, 'read'>,
  reqs: readonly ReadRequest[],
  signal?: AbortSignal,
): Promise<(Uint8Array | MemoryReadError)[]> {
  const out: (Uint8Array | MemoryReadError)[] = [];
  for (const r of reqs) {
    try {
      out.push(await mem.read(r.addr, r.length, signal));
    } catch (e) {
      if (e instanceof MemoryReadError) out.push(e);
      else throw e;
    }
  }
  return out;
}
