// What every physical-memory strategy provides. Callers (LiveMemory) have already checked that
// each request lies inside guest RAM and is not cached.
import type { MemoryReadError, ReadRequest } from '../../core/memory';
import type { StrategyName } from '../api';

export interface Strategy {
  readonly name: StrategyName;
  /**
   * One slot per request: the bytes, or a MemoryReadError for that request alone. Throws
   * MemoryReadError ('running', 'session-ended', 'cancelled') when the whole batch is lost.
   */
  readMany(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]>;
  /** Restores whatever the strategy changed; idempotent. */
  dispose(): Promise<void>;
}

/** A strategy that could not be set up, and why (shown to the user). */
export interface Unavailable {
  readonly unavailable: string;
}

export function isUnavailable<T>(x: T | Unavailable): x is Unavailable {
  return typeof x === 'object' && x !== null && (x as Unavailable).unavailable !== undefined;
}
