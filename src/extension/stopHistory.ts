// Which stops of which debug session and CPU the Changes views compare: stop numbers per session
// (a stop begins when the target ran since the last snapshot; a refresh or a thread switch at the
// same stop is not a new stop), the current and previous snapshot per CPU (thread), and a pinned
// baseline. Pure and generic over the snapshot, so it is unit-tested without a debugger.

export interface Stamped<S> {
  readonly stop: number;
  readonly snap: S;
}

export interface CpuHistory<S, R> {
  previous?: Stamped<S>;
  current?: Stamped<S>;
  pinned?: Stamped<S>;
  /** What the views show for this CPU (the caller's comparison). */
  result: R;
}

interface SessionHistory<S, R> {
  stop: number;
  ran: boolean;
  /** By thread id; '-' until a thread is focused. */
  cpus: Map<string, CpuHistory<S, R>>;
  last?: string;
}

export class StopHistory<S, R> {
  private readonly sessions = new Map<string, SessionHistory<S, R>>();

  constructor(private readonly initial: () => R) {}

  private session(id: string): SessionHistory<S, R> {
    let s = this.sessions.get(id);
    if (!s) this.sessions.set(id, (s = { stop: 0, ran: true, cpus: new Map() }));
    return s;
  }

  /** The target of session `id` ran: its next snapshot is a new stop. */
  ran(id: string): void {
    this.session(id).ran = true;
  }

  /**
   * The history of the CPU (thread) shown. A thread not focused yet (undefined) is the adapter's
   * stopped thread: the CPU of the last snapshot; its history becomes that thread's once one is
   * focused.
   */
  cpu(id: string, thread: number | undefined, create = false): CpuHistory<S, R> | undefined {
    const s = create ? this.session(id) : this.sessions.get(id);
    if (!s) return undefined;
    let key = thread === undefined ? s.last ?? '-' : String(thread);
    if (!s.cpus.has(key) && thread !== undefined && s.cpus.has('-')) {
      s.cpus.set(key, s.cpus.get('-')!);
      s.cpus.delete('-');
      if (s.last === '-') s.last = key;
    }
    let h = s.cpus.get(key);
    if (!h && create) s.cpus.set(key, (h = { result: this.initial() }));
    if (h && create) s.last = key;
    return h;
  }

  /**
   * Records a snapshot of session `id` on `thread`: a new stop when the target ran since the last
   * one (current becomes previous), else a re-read of the same stop (current is replaced).
   */
  record(id: string, thread: number | undefined, snap: S): CpuHistory<S, R> {
    const s = this.session(id);
    if (s.ran) {
      s.stop++;
      s.ran = false;
    }
    const h = this.cpu(id, thread, true)!;
    if (h.current && h.current.stop !== s.stop) h.previous = h.current;
    h.current = { stop: s.stop, snap };
    return h;
  }

  /** Whether the next snapshot of session `id` begins a new stop (the target ran since the last one). */
  isNewStop(id: string): boolean {
    return this.sessions.get(id)?.ran ?? true;
  }

  /** The baseline of the snapshot `record` would take now (before its tables are read). */
  upcoming(id: string, thread: number | undefined): { base: Stamped<S>; pinned: boolean } | undefined {
    const s = this.sessions.get(id);
    const h = this.cpu(id, thread);
    if (!s || !h) return undefined;
    if (h.pinned) return { base: h.pinned, pinned: true };
    const base = s.ran ? h.current : h.previous;
    return base && { base, pinned: false };
  }

  /** What to compare the current stop with: the pinned stop, else the previous one. */
  static baseline<S, R>(h: CpuHistory<S, R>): { base: Stamped<S>; pinned: boolean } | undefined {
    const base = h.pinned ?? h.previous;
    return base && { base, pinned: h.pinned !== undefined };
  }

  forget(id: string): void {
    this.sessions.delete(id);
  }
}
