// One DAP channel as src/debug uses it: counts requests, maps adapter errors to LiveAccessError
// kinds, honours AbortSignal, and captures the `output` events a raw command produces.
import type { DebugProtocol } from '@vscode/debugprotocol';
import { DapChannel, DapObserver, LiveAccessError, LiveStats } from './api';

export function newStats(): LiveStats {
  return { dapRequests: 0, errorResponses: 0, bytesRead: 0, cacheHits: 0, reads: 0, phases: {}, adapterMs: 0 };
}

const RUNNING = /running|busy|not stopped|is not paused|target is executing|process is not stopped/i;
const ENDED = /not connected|connection closed|session (has )?ended|no session|remote connection closed|remote communication error|the program is not being run|terminated|EPIPE|disconnected/i;

/** Maps an adapter's error text to the kind the user can act on (or undefined: a plain failure). */
export function classifyError(message: string): 'running' | 'session-ended' | undefined {
  if (RUNNING.test(message)) return 'running';
  if (ENDED.test(message)) return 'session-ended';
  return undefined;
}

export const PAUSE_MESSAGE = 'pause the target to read its page tables (ptview never pauses or resumes it for you)';

export class Transport {
  stats: LiveStats = newStats();
  private ended = false;
  private running = false;
  private outputSink: string[] | undefined;
  /** Requests waiting for the adapter, and since when (stats.adapterMs). */
  private inFlight = 0;
  private busySince = 0;
  private rawQueue: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(e: DebugProtocol.Event) => void>();
  private readonly sub?: { dispose(): void };

  constructor(
    readonly channel: DapChannel,
    readonly observer: DapObserver,
  ) {
    this.sub = observer.onEvent?.((e) => this.onEvent(e));
  }

  get canCaptureOutput(): boolean {
    return this.observer.onEvent !== undefined;
  }

  get sessionEnded(): boolean {
    return this.ended;
  }

  get targetRunning(): boolean {
    return this.running;
  }

  /** Called for every adapter event (continued/stopped/terminated bookkeeping, output capture). */
  onAnyEvent(l: (e: DebugProtocol.Event) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private onEvent(e: DebugProtocol.Event): void {
    if (e.event === 'output' && this.outputSink) {
      const b = (e as DebugProtocol.OutputEvent).body;
      if (b.category !== 'telemetry') this.outputSink.push(b.output);
    } else if (e.event === 'continued') this.running = true;
    else if (e.event === 'stopped') this.running = false;
    else if (e.event === 'terminated' || e.event === 'exited') this.ended = true;
    for (const l of this.listeners) l(e);
  }

  /** Sends one request; rejects with LiveAccessError for running/ended targets, Error otherwise. */
  async request(command: string, args?: unknown, signal?: AbortSignal): Promise<any> {
    signal?.throwIfAborted();
    if (this.ended) throw new LiveAccessError('session-ended', 'the debug session has ended');
    this.stats.dapRequests++;
    if (this.inFlight++ === 0) this.busySince = performance.now();
    const stats = this.stats;
    try {
      return await this.channel.request(command, args);
    } catch (e) {
      if (e instanceof LiveAccessError) {
        if (e.kind === 'session-ended') this.ended = true;
        throw e;
      }
      this.stats.errorResponses++;
      const msg = e instanceof Error ? e.message : String(e);
      const kind = classifyError(msg);
      if (kind === 'running') throw new LiveAccessError('running', `${PAUSE_MESSAGE} (${command}: ${msg})`);
      if (kind === 'session-ended') {
        this.ended = true;
        throw new LiveAccessError('session-ended', `the debug session ended (${command}: ${msg})`);
      }
      throw new DapRequestError(command, msg);
    } finally {
      if (--this.inFlight === 0) stats.adapterMs += performance.now() - this.busySince;
    }
  }

  /**
   * Sends a request and returns the text of the `output` events that arrive before its response
   * (adapters emit a command's output before answering). Serialized so outputs never mix.
   */
  requestCapturingOutput(command: string, args: unknown, signal?: AbortSignal): Promise<{ body: any; output: string }> {
    const run = async () => {
      const sink: string[] = [];
      this.outputSink = sink;
      try {
        const body = await this.request(command, args, signal);
        return { body, output: sink.join('') };
      } finally {
        this.outputSink = undefined;
      }
    };
    const p = this.rawQueue.then(run, run);
    this.rawQueue = p.catch(() => undefined);
    return p;
  }

  dispose(): void {
    this.sub?.dispose();
    this.listeners.clear();
  }
}

/** An adapter refused one request (not a session-level condition). */
export class DapRequestError extends Error {
  override name = 'DapRequestError';
  constructor(
    readonly command: string,
    readonly detail: string,
  ) {
    super(`${command}: ${detail}`);
  }
}
