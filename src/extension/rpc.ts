// Request/response correlation for the map webview's messages (postMessage has none): each
// request carries an id, the host answers every request exactly once with that id, and a failure
// comes back as an error the webview shows instead of silence. Pure (no vscode, no DOM), so both
// sides and the unit tests share it. Hand-written: the protocol is a dozen lines and the
// JSON-RPC packages bring transports (streams, workers) a webview's postMessage does not need.

/** A request as it crosses postMessage. */
export interface RequestEnvelope<R> {
  readonly type: 'request';
  readonly id: number;
  readonly request: R;
}

/** Exactly one per request id. */
export type ResponseEnvelope<T = unknown> =
  | { readonly type: 'response'; readonly id: number; readonly ok: true; readonly result: T }
  | { readonly type: 'response'; readonly id: number; readonly ok: false; readonly error: string };

export class RequestError extends Error {
  override name = 'RequestError';
}

/** The requesting side: ids, pending promises, settling by id (answers may come in any order). */
export class Requester<R> {
  private next = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(private readonly send: (m: RequestEnvelope<R>) => void) {}

  request<T = unknown>(request: R): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      try {
        this.send({ type: 'request', id, request });
      } catch (e) {
        this.pending.delete(id);
        reject(new RequestError(e instanceof Error ? e.message : String(e)));
      }
    });
  }

  /** Settles the request a response names; false for an id that is not pending (a stale answer). */
  settle(m: ResponseEnvelope): boolean {
    const p = this.pending.get(m.id);
    if (!p) return false;
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new RequestError(m.error));
    return true;
  }

  /** Fails every pending request (the other side went away or will not answer them). */
  failAll(reason: string): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(new RequestError(reason));
  }

  get outstanding(): number {
    return this.pending.size;
  }
}

export function isResponse(m: unknown): m is ResponseEnvelope {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'response' && typeof (m as { id?: unknown }).id === 'number';
}

export function isRequest<R>(m: unknown): m is RequestEnvelope<R> {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'request' && typeof (m as { id?: unknown }).id === 'number';
}

/**
 * The answering side: runs the handler and turns its value, its thrown error or its rejection
 * into the one response for that id. A handler that returns undefined answers `result: null`.
 */
export async function answer<R, T>(m: RequestEnvelope<R>, handle: (r: R) => Promise<T> | T): Promise<ResponseEnvelope<T | null>> {
  try {
    const result = await handle(m.request);
    return { type: 'response', id: m.id, ok: true, result: result === undefined ? null : result };
  } catch (e) {
    return { type: 'response', id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}
