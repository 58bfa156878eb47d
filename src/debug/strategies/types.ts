// What every physical-memory strategy provides. Callers (LiveMemory) have already checked that
// each request lies inside guest RAM and is not cached.
import type { PhysAddr } from '../../core/addr';
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

/**
 * What the strategies need from a session, whatever carries it: gdbstub packets, QEMU monitor
 * commands, reads in the target's current memory mode. Two implementations: through a debug
 * adapter's debugger (DapCommands, src/debug/dapCommands.ts) and ptview's own gdbstub client
 * (src/debug/gdbstub/session.ts), so one set of strategies serves both.
 */
export interface TargetCommands {
  /** Why packets and monitor commands cannot be sent (e.g. a dialect without a command channel). */
  readonly noCommands: string | undefined;
  /** Why `read` cannot be used (an adapter without DAP readMemory); undefined when it can. */
  readonly noReads?: string;
  /** The QEMU process on this machine that owns the gdbstub's socket (for /proc/<pid>/mem). */
  qemuPid(signal?: AbortSignal): Promise<{ pid: number } | Unavailable>;
  /** A QEMU monitor command's text. */
  monitor(cmd: string, signal?: AbortSignal): Promise<string>;
  /** One gdbstub query packet's reply (undefined when none came back). */
  packet(p: string, signal?: AbortSignal): Promise<string | undefined>;
  /** QEMU's PhyMemMode; switching off also drops any debugger-side memory cache. Prints nothing. */
  setPhyMemMode(on: boolean): Promise<void>;
  /**
   * `count` bytes at `address` in the target's current memory mode (virtual, or physical while
   * PhyMemMode is on). Rejects with MemoryReadError (reported at `reportAddr`).
   */
  read(reportAddr: PhysAddr, address: bigint, count: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** Reads worth keeping in flight together (the carrier pipelines them). */
  readonly inFlight: number;
  /**
   * Whether requests reach the stub in the order they are made and are served one after the
   * other (ptview's own client: one TCP stream). Then a PhyMemMode window can be sent as one
   * pipeline (on, reads, off) without waiting for each step. Not so through a debug adapter.
   */
  readonly ordered: boolean;
}
