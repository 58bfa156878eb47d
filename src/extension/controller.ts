// Per-debug-session state and the LiveTarget lifecycle, free of vscode so it is unit-tested with
// an in-memory target. One LiveTarget and one PageTableSession per stop: every view and command
// of that stop shares the session's table store, so each table is read once per stop.
import { spaceFromRegisters } from '../core/formats';
import { PageTableSession } from '../core/ops/session';
import { RecordingMemory } from '../core/sources/snapshot';
import { AddressSpace } from '../core/space';
import type { DapChannel, DapObserver, LiveOptions, LiveTarget, OpenLiveTarget } from '../debug/api';
import { LiveAccessError } from '../debug/api';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { TargetEvent } from './tracking';

export interface Ready {
  readonly target: LiveTarget;
  readonly space: AddressSpace;
  readonly session: PageTableSession;
  /** Changes at every stop, refresh and invalidation: views compare it to drop stale data. */
  readonly generation: number;
  /**
   * This stop's memory may have changed since its first read (Refresh, memory written, the
   * adapter's invalidated event): set on the re-read's Ready only.
   */
  readonly reread?: true;
  /** What this stop cost, filled in by the views as they build (stopFigures). */
  readonly timing: StopTiming;
}

/** The cost of one stop (or refresh) to ptview, apart from the adapter's own work. */
/**
 * Building the map: merged ranges with the audit (one fold: ranges, the tables' reads and
 * comparison included), or each apart; rows; reused: the previous stop's map (no table changed);
 * fold: ranges and audit alone, the tables already loaded (CPU, apart from the reads).
 */
export interface MapTiming {
  ranges: number;
  audit: number;
  rows: number;
  reused?: boolean;
  fold?: number;
  /**
   * The process's CPU time (process.cpuUsage, every thread: GC helpers included) during the
   * fold: on a busy machine its wall time also counts the time it waited for a core.
   */
  foldCpu?: number;
}

export interface StopTiming {
  /** Date.now() when the stop (or refresh) arrived. */
  readonly stoppedAt: number;
  /** process.cpuUsage() then: the extension host's CPU from the stop on (cross-check). */
  readonly cpuAtStop: NodeJS.CpuUsage;
  /** From the stop until the target was open (registers, RAM layout, memory strategy). */
  openMs: number;
  /** In the Page Tables view's getChildren for this stop (sections may overlap the map's). */
  treeMs: number;
  map?: MapTiming;
}

export interface StopFigures {
  stoppedAt: number;
  openMs: number;
  treeMs: number;
  map?: MapTiming;
  /** Wall-clock ms the adapter was answering ptview's requests in this stop, and how many. */
  adapterMs: number;
  requests: number;
  /** ptview's own work: open + tree + map, less the adapter's share (an upper bound: overlapping sections count in each). */
  ownMs: number;
  /** Extension host CPU since the stop (every extension of the host, ptview's included). */
  hostCpuMs: number;
}

export function stopFigures(r: Ready): StopFigures {
  const t = r.timing;
  const adapterMs = r.target.stats.adapterMs ?? 0;
  const mapMs = t.map ? t.map.ranges + t.map.audit + t.map.rows : 0;
  const cpu = process.cpuUsage(t.cpuAtStop);
  return {
    stoppedAt: t.stoppedAt, openMs: t.openMs, treeMs: t.treeMs, map: t.map, adapterMs, requests: r.target.stats.dapRequests,
    ownMs: Math.max(0, t.openMs + t.treeMs + mapMs - adapterMs), hostCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

/** One line for the output channel and the e2e figures. */
export function stopFiguresText(f: StopFigures, drawnAt?: number): string {
  const r = (x: number) => x.toFixed(0);
  const map = !f.map ? '' : f.map.reused ? `, map ${r(f.map.ranges)} ms (no table changed: the last stop's map)` : `, map ${r(f.map.ranges + f.map.audit + f.map.rows)} ms (ranges${f.map.audit ? '' : ' and audit'} ${r(f.map.ranges)}${f.map.audit ? `, audit ${r(f.map.audit)}` : ''}, rows ${r(f.map.rows)}${f.map.fold === undefined ? '' : `; fold ${r(f.map.fold)}${f.map.foldCpu === undefined ? '' : ` (CPU ${r(f.map.foldCpu)})`}`})`;
  const drawn = drawnAt !== undefined ? `; map drawn ${r(drawnAt - f.stoppedAt)} ms after the stop` : '';
  return `stop: ptview's own work ${r(f.ownMs)} ms beside the adapter's ${r(f.adapterMs)} ms for ${f.requests} requests (open ${r(f.openMs)} ms, tree ${r(f.treeMs)} ms${map}); extension host CPU ${r(f.hostCpuMs)} ms${drawn}`;
}

export type State =
  | { readonly kind: 'none' }
  /** The session has not stopped yet: nothing is asked of it before its first `stopped` event. */
  | { readonly kind: 'waiting' }
  | { readonly kind: 'running' }
  | { readonly kind: 'stopped' } // paused, nothing read yet
  | { readonly kind: 'loading' }
  | { readonly kind: 'ready'; readonly ready: Ready }
  /** no-memory: the adapter cannot give registers or physical memory; error: anything else. */
  | { readonly kind: 'no-memory' | 'error'; readonly message: string };

interface Entry {
  readonly id: string;
  readonly name: string;
  readonly channel: DapChannel;
  readonly observer: DapObserver;
  readonly eventListeners: Set<(e: DebugProtocol.Event) => void>;
  // 'unknown' until the first stopped/continued. Nothing is requested before the first stop: an
  // adapter still connecting has no threads and no monitor, and its error answers show as toasts.
  run: 'unknown' | 'stopped' | 'running';
  /** The thread (vCPU) the target of this stop was opened for: its registers give the roots. */
  thread?: number;
  /** The thread this stop's `stopped` event named (the one VS Code focuses at a stop). */
  stoppedThread?: number;
  /** Running only because a run request was sent: a refusal of it means stopped again. */
  runRequested?: boolean;
  generation: number;
  /** Date.now() and process CPU when the current stop (or refresh) arrived. */
  since: { at: number; cpu: NodeJS.CpuUsage };
  ready?: Ready;
  opening?: Promise<Ready>;
  failure?: State;
}

const NO_MEMORY: ReadonlySet<LiveAccessError['kind']> = new Set(['no-memory-access', 'no-registers', 'unsupported-adapter']);

export class TargetController {
  private readonly sessions = new Map<string, Entry>();
  private activeId: string | undefined;
  private readonly listeners = new Set<(s: State) => void>();
  private gen = 0;

  constructor(
    private readonly open: OpenLiveTarget,
    private readonly options: () => LiveOptions = () => ({}),
  ) {}

  onDidChange(fn: (s: State) => void): { dispose(): void } {
    this.listeners.add(fn);
    return { dispose: () => this.listeners.delete(fn) };
  }

  /** Registers a session (before its initialize response, so capabilities are seen). */
  add(id: string, name: string, channel: DapChannel): DapObserver {
    const eventListeners = new Set<(e: DebugProtocol.Event) => void>();
    // The debug layer reads monitor output from `output` events (cdt-gdb-adapter) through this.
    const observer: DapObserver & { onEvent(l: (e: DebugProtocol.Event) => void): { dispose(): void } } = {
      onEvent: (l) => {
        eventListeners.add(l);
        return { dispose: () => eventListeners.delete(l) };
      },
    };
    this.sessions.set(id, { id, name, channel, observer, eventListeners, run: 'unknown', generation: ++this.gen, since: now() });
    this.activeId ??= id;
    this.changed(id);
    return observer;
  }

  async remove(id: string): Promise<void> {
    const e = this.sessions.get(id);
    if (!e) return;
    this.sessions.delete(id);
    if (this.activeId === id) this.activeId = this.sessions.keys().next().value;
    this.fire();
    await this.drop(e);
  }

  setActive(id: string | undefined): void {
    if (id !== undefined && !this.sessions.has(id)) return;
    if (this.activeId === id) return;
    this.activeId = id;
    this.fire();
  }

  get activeSession(): { id: string; name: string; channel: DapChannel; observer: DapObserver } | undefined {
    const e = this.active();
    return e && { id: e.id, name: e.name, channel: e.channel, observer: e.observer };
  }

  /** Every event the adapter of session `id` sent, for the debug layer's listeners. */
  adapterEvent(id: string, e: DebugProtocol.Event): void {
    const entry = this.sessions.get(id);
    if (!entry) return;
    for (const l of [...entry.eventListeners]) {
      try {
        l(e);
      } catch {
        /* a listener's failure is not the session's */
      }
    }
  }

  /** Feeds one classified DAP message of session `id`. */
  handle(id: string, ev: TargetEvent): void {
    const e = this.sessions.get(id);
    if (!e) return;
    switch (ev.kind) {
      case 'capabilities':
        e.observer.capabilities = ev.capabilities;
        return;
      case 'stopped':
        // A stop after a stop (another thread, a step that ended) still means new state.
        e.run = 'stopped';
        e.runRequested = false;
        e.stoppedThread = ev.threadId;
        void this.reset(e);
        return;
      case 'running':
        if (e.run === 'running') {
          if (!ev.byRequest) e.runRequested = false; // the adapter says it runs
          return;
        }
        e.run = 'running';
        e.runRequested = ev.byRequest === true;
        e.stoppedThread = undefined;
        void this.reset(e);
        return;
      case 'runRefused':
        if (e.run !== 'running' || !e.runRequested) return;
        e.run = 'stopped';
        e.runRequested = false;
        void this.reset(e);
        return;
      case 'invalidate':
        this.invalidate(e);
        return;
      case 'ended':
        void this.remove(id);
        return;
    }
  }

  /**
   * The user selected thread `threadId` of session `id` (Call Stack): each thread is a vCPU with
   * its own paging registers, so a target opened for another thread is opened again for this one.
   */
  selectThread(id: string, threadId: number | undefined): void {
    const e = this.sessions.get(id);
    if (!e || e.run !== 'stopped' || threadId === undefined) return;
    if (!e.ready && !e.opening && !e.failure) return; // nothing opened yet: the next open asks
    if (e.thread === threadId) return;
    // Opened before VS Code focused a thread: the adapter's own (stopped) thread, the one VS Code
    // focuses at a stop. Opening again for it would only make the views start over.
    if (e.thread === undefined) {
      e.thread = threadId;
      return;
    }
    void this.reset(e);
  }

  /** Drops everything read in this stop (Refresh, memory written, invalidated event). */
  refresh(): void {
    const e = this.active();
    if (e) this.invalidate(e);
  }

  /** Re-opens the target with new options (strategy changed). */
  async reopen(): Promise<void> {
    const e = this.active();
    if (e) await this.reset(e);
  }

  state(): State {
    const e = this.active();
    if (!e) return { kind: 'none' };
    if (e.run === 'unknown') return { kind: 'waiting' };
    if (e.run === 'running') return { kind: 'running' };
    if (e.failure) return e.failure;
    if (e.ready) return { kind: 'ready', ready: e.ready };
    if (e.opening) return { kind: 'loading' };
    return { kind: 'stopped' };
  }

  /** The ready target of the active session, opening it if needed. Throws LiveAccessError. */
  async ready(signal?: AbortSignal): Promise<Ready> {
    const e = this.active();
    if (!e) throw new LiveAccessError('session-ended', 'no debug session: start debugging a QEMU guest first');
    if (e.run === 'running') throw new LiveAccessError('running', 'the target is running: pause it to read its page tables');
    if (e.run === 'unknown') throw new LiveAccessError('running', 'the debug session has not stopped yet: pause it to read its page tables');
    if (e.ready) return e.ready;
    if (e.failure && e.failure.kind !== 'ready' && 'message' in e.failure) {
      throw new LiveAccessError(e.failure.kind === 'no-memory' ? 'no-memory-access' : 'strategy-failed', e.failure.message);
    }
    if (!e.opening) {
      // Assigned before anyone hears of it: a listener that asks for the target joins this open.
      e.opening = this.openFor(e, signal);
      this.changed(e.id);
    }
    return e.opening;
  }

  private async openFor(e: Entry, signal?: AbortSignal): Promise<Ready> {
    const generation = e.generation;
    await Promise.resolve(); // e.opening is set before the first read
    let target: LiveTarget | undefined;
    try {
      let options = this.options();
      // No thread focused yet (VS Code focuses one only after asking for threads and a stack):
      // the stopped event's own thread, so the debug layer asks for no thread list.
      if (options.threadId === undefined && e.stoppedThread !== undefined) options = { ...options, threadId: e.stoppedThread };
      e.thread = options.threadId;
      target = await this.open(e.channel, e.observer, options, signal);
      if (e.generation !== generation || !this.sessions.has(e.id)) {
        await target.dispose().catch(() => undefined);
        target = undefined;
        // Another stop arrived meanwhile (a second stopped event, a step): read that one instead.
        if (this.sessions.has(e.id) && e.run === 'stopped') return await this.ready(signal);
        throw new LiveAccessError('running', 'the target ran while its page tables were being read');
      }
      const space = spaceFromRegisters(target.arch, target.registers);
      const timing: StopTiming = { stoppedAt: e.since.at, cpuAtStop: e.since.cpu, openMs: Date.now() - e.since.at, treeMs: 0 };
      const ready: Ready = { target, space, session: stopSession(space, target), generation: ++this.gen, timing };
      e.ready = ready;
      return ready;
    } catch (err) {
      if (e.generation === generation) {
        if (err instanceof LiveAccessError && err.kind === 'running') e.run = 'running';
        // A cancelled open is not a failure of the target: the next request tries again.
        else if (!signal?.aborted) e.failure = failureState(err);
        if (target && !e.ready) await target.dispose().catch(() => undefined);
      }
      throw err;
    } finally {
      if (e.generation === generation) e.opening = undefined;
      this.changed(e.id);
    }
  }

  private invalidate(e: Entry): void {
    const r = e.ready;
    e.failure = undefined;
    e.since = now();
    if (r) {
      r.target.invalidate();
      r.target.resetStats();
      const timing: StopTiming = { stoppedAt: e.since.at, cpuAtStop: e.since.cpu, openMs: 0, treeMs: 0 };
      e.ready = { ...r, session: stopSession(r.space, r.target), generation: ++this.gen, timing, reread: true };
    }
    this.changed(e.id);
  }

  private async reset(e: Entry): Promise<void> {
    e.generation = ++this.gen;
    e.since = now();
    const old = e.ready;
    e.ready = undefined;
    e.opening = undefined;
    e.failure = undefined;
    this.changed(e.id);
    if (old) await old.target.dispose().catch(() => undefined);
  }

  private async drop(e: Entry): Promise<void> {
    e.generation = ++this.gen;
    e.eventListeners.clear();
    const old = e.ready;
    e.ready = undefined;
    if (old) await old.target.dispose().catch(() => undefined);
  }

  private active(): Entry | undefined {
    return this.activeId === undefined ? undefined : this.sessions.get(this.activeId);
  }

  private changed(id: string): void {
    if (id === this.activeId) this.fire();
  }

  private fire(): void {
    const s = this.state();
    for (const l of this.listeners) l(s);
  }
}

// The tables a stop read are kept with it (RecordingMemory): the next stop compares its tables
// with them to reuse what nothing changed (core/ops/unchanged.ts).
function stopSession(space: AddressSpace, target: LiveTarget): PageTableSession {
  return new PageTableSession(space, new RecordingMemory(target.memory));
}

function now(): { at: number; cpu: NodeJS.CpuUsage } {
  return { at: Date.now(), cpu: process.cpuUsage() };
}

function failureState(err: unknown): State {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof LiveAccessError && NO_MEMORY.has(err.kind)) return { kind: 'no-memory', message };
  return { kind: 'error', message };
}

/** The one-line context value for `ptview.state` (package.json when clauses). */
export function stateKey(s: State): string {
  return s.kind;
}
