// The contract between src/debug (the only DAP code) and its two users: the VS Code extension
// and the CLI's --gdb mode. Types only; the implementation lives beside this file.
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { Arch } from '../core/format';
import type { PhysicalMemory } from '../core/memory';
import type { Registers } from '../core/space';

/**
 * The one thing src/debug needs from a session: send a DAP request, get its body. Both
 * vscode.DebugSession.customRequest and the CLI's DapClient (./dapClient) fit.
 */
export interface DapChannel {
  /** The session type ("gdb", "cppdbg", "cortex-debug", "lldb", …) when known. */
  readonly type?: string;
  request(command: string, args?: unknown): Promise<any>;
}

/** DAP traffic the caller observed (a DebugAdapterTracker in VS Code; the client in the CLI). */
export interface DapObserver {
  /** The adapter's initialize response capabilities, captured at session start. */
  capabilities?: DebugProtocol.Capabilities;
  /**
   * Subscribes to the adapter's events (VS Code: a tracker's onDidSendMessage, filtered to
   * events). cdt-gdb-adapter and cortex-debug return raw-command text only as `output` events, so
   * without this those dialects cannot query the monitor (RAM ranges, gpa2hva, PhyMemMode state);
   * `continued`, `memory`, `invalidated` and `terminated` also drop the per-stop cache.
   */
  onEvent?(listener: (event: DebugProtocol.Event) => void): { dispose(): void };
}

export type Dialect = 'cdt-gdb' | 'cppdbg' | 'cortex-debug' | 'gdb-dap' | 'codelldb' | 'lldb-dap' | 'readmemory-only' | 'ptview-core';
/** What carries a live target: a debug adapter's dialect, or ptview's own gdbstub client (the CLI's --gdb). */
export type TargetKind = Dialect | 'gdbstub';
/** 'core-file': a ptview-core session, whose registers and physical memory are the core's own. */
export type StrategyName = 'proc-mem' | 'phymem-mode' | 'monitor-xp' | 'direct-map' | 'core-file';

export interface LiveOptions {
  dialect?: Dialect; // setting override; otherwise chosen from capabilities + type + one probe
  strategy?: StrategyName; // forced; otherwise the fastest that works
  /** Direct-map base: guest VA of physical 0 (e.g. Linux page_offset_base), for 'direct-map'. */
  directMapOffset?: bigint;
  /** DAP thread and frame to evaluate in; defaults to the first stopped thread's top frame. */
  threadId?: number;
  frameId?: number;
}

/** Counters for one walk (or since the last reset): what the transport cost. */
export interface LiveStats {
  /** DAP requests, or gdbstub packets for ptview's own client. */
  dapRequests: number;
  /** Requests the adapter answered with an error (VS Code may show each as an error toast). */
  errorResponses: number;
  bytesRead: number;
  cacheHits: number;
  /** Physical reads that reached the target (tables, after the per-stop cache). */
  reads: number;
  phases: Record<string, number>; // milliseconds per phase: attach, registers, ram, walk...
  /** Wall-clock ms with at least one request waiting for the adapter (its share of a stop). */
  adapterMs: number;
}

/**
 * A stopped target as the core sees it. Created per stop; invalid after the target runs
 * (every read then fails with MemoryReadError reason 'running' or 'session-ended').
 */
export interface LiveTarget {
  readonly arch: Arch;
  readonly dialect: TargetKind;
  readonly strategy: StrategyName;
  /** How the target is reached: the adapter dialect and why, ptview's gdbstub client, the core file. */
  readonly connection: string;
  /** Why faster strategies were not used (shown to the user). */
  readonly strategyNotes: readonly string[];
  /** Paging registers, lower-case names as in src/core/space.ts Registers, unsigned 64-bit; plus `pc` (the frame's PC) when it evaluates. */
  readonly registers: Registers;
  /** Guest-physical memory, RAM ranges from the monitor, cached for this stop. */
  readonly memory: PhysicalMemory;
  readonly stats: LiveStats;
  resetStats(): void;
  /** Drops cached memory (continue, step, memory/invalidated events). */
  invalidate(): void;
  /** Restores everything this target changed (PhyMemMode 0, GDB cache flushed). Idempotent. */
  dispose(): Promise<void>;
}

/** A failure the user can act on: what is missing and what to do. */
export class LiveAccessError extends Error {
  override name = 'LiveAccessError';
  constructor(
    readonly kind: 'running' | 'no-memory-access' | 'no-registers' | 'session-ended' | 'unsupported-adapter' | 'strategy-failed',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The entry point, implemented in src/debug/index.ts: attach to a stopped session and return its
 * LiveTarget. Throws LiveAccessError ('running' when the target is not stopped, never pausing it).
 */
export type OpenLiveTarget = (
  channel: DapChannel,
  observer: DapObserver,
  options?: LiveOptions,
  signal?: AbortSignal,
) => Promise<LiveTarget>;
