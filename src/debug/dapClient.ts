// A DAP client for a debug adapter ptview starts itself (the CLI's --gdb: GDB under
// cdt-gdb-adapter). DebugClient, from VS Code's debug adapter test-support package, is a test
// library; the protocol library is @vscode/debugadapter's ProtocolServer, which frames messages
// (the DAP base protocol's Content-Length header), numbers them and dispatches what arrives. This adds what a client needs
// on top: spawning the adapter, events to listeners, reverse requests refused (ptview serves
// none), error responses and timeouts as rejections, and the adapter's exit failing every request
// in flight at once. Responses are matched here, not by ProtocolServer.sendRequest's callback:
// its timeout timer outlives the response, so every request would keep the process alive (and
// its closure in memory) for the whole timeout.
import { Response } from '@vscode/debugadapter/lib/messages';
import { ProtocolServer } from '@vscode/debugadapter/lib/protocol';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { ChildProcess, spawn } from 'node:child_process';

/**
 * 'error-response': the adapter answered success: false (the message is the adapter's own text,
 * as DebugClient reports it); 'timeout': no answer in time; 'ended': the adapter is gone (the
 * message says "session ended", which src/debug/transport classifies as 'session-ended').
 */
export type DapErrorKind = 'error-response' | 'timeout' | 'ended';

export class DapError extends Error {
  override name = 'DapError';
  constructor(
    readonly kind: DapErrorKind,
    message: string,
    readonly response?: DebugProtocol.Response,
  ) {
    super(message);
  }
}

interface Pending {
  command: string;
  timer: NodeJS.Timeout;
  resolve(r: DebugProtocol.Response): void;
  reject(e: DapError): void;
}

/** The last characters of the adapter's stderr kept for the exit message (a crash's reason). */
const STDERR_TAIL = 2000;

export class DapClient extends ProtocolServer {
  private readonly pending = new Map<number, Pending>();
  private readonly eventListeners = new Set<(e: DebugProtocol.Event) => void>();
  private lastSent: DebugProtocol.ProtocolMessage | undefined;
  private endedBy: DapError | undefined;
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly timeoutMs: number,
  ) {
    super();
    // ProtocolServer numbers a message as it sends it and tells only this listener the number.
    this.onDidSendMessage((m) => (this.lastSent = m as DebugProtocol.ProtocolMessage));
    child.stderr!.setEncoding('utf8');
    // Read always: an adapter blocks once a full stderr pipe is left unread.
    child.stderr!.on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-STDERR_TAIL)));
    child.on('error', (e) => this.end(`session ended: the debug adapter could not run: ${e.message}`));
    child.on('close', (code, signal) => {
      const tail = this.stderr.trim().split('\n').slice(-3).join(' | ');
      this.end(`session ended: the debug adapter ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${tail ? ` (stderr: ${tail})` : ''}`);
    });
    // Stream errors (EPIPE once the adapter is gone) and undecodable data; unhandled, an 'error'
    // event would throw.
    this.on('error', (e: DebugProtocol.Event) => {
      this.end(`session ended: ${String(e.body)}`);
      this.child.kill();
    });
    this.start(child.stdout!, child.stdin!);
  }

  /** Starts the adapter `command args` on stdin/stdout. `timeoutMs`: per request unless given. */
  static launch(command: string, args: string[], opts: { timeoutMs: number }): DapClient {
    return new DapClient(spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] }), opts.timeoutMs);
  }

  /** Whether the adapter is gone (exited, killed, or its pipes failed). */
  get ended(): boolean {
    return this.endedBy !== undefined;
  }

  /** Sends one request; resolves with a successful response, rejects with a DapError. */
  request(command: string, args?: unknown, opts: { timeoutMs?: number } = {}): Promise<DebugProtocol.Response> {
    if (this.endedBy) return Promise.reject(this.endedBy);
    return new Promise((resolve, reject) => {
      // No callback: ProtocolServer then only frames, numbers and writes the request.
      this.sendRequest(command, args, 0, undefined as unknown as (r: DebugProtocol.Response) => void);
      const seq = this.lastSent!.seq;
      const ms = opts.timeoutMs ?? this.timeoutMs;
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new DapError('timeout', `'${command}' timed out: the debug adapter sent no answer within ${ms} ms`));
      }, ms);
      this.pending.set(seq, { command, timer, resolve, reject });
    });
  }

  /** Subscribes to the adapter's events, in the order it sends them. */
  onEvent(listener: (e: DebugProtocol.Event) => void): { dispose(): void } {
    this.eventListeners.add(listener);
    return { dispose: () => this.eventListeners.delete(listener) };
  }

  /** Ends the adapter process (no disconnect request: the caller sends one when it wants one). */
  kill(): void {
    this.end('session ended: the debug adapter was stopped');
    this.child.kill();
  }

  override handleMessage(msg: DebugProtocol.ProtocolMessage): void {
    if (msg.type === 'event') {
      for (const l of [...this.eventListeners]) l(msg as DebugProtocol.Event);
    } else if (msg.type === 'response') {
      const r = msg as DebugProtocol.Response;
      const p = this.pending.get(r.request_seq);
      if (!p) return; // timed out before it came
      this.pending.delete(r.request_seq);
      clearTimeout(p.timer);
      if (r.success) p.resolve(r);
      else p.reject(new DapError('error-response', r.message || (r.body as { error?: { format?: string } } | undefined)?.error?.format || `'${p.command}' failed`, r));
    } else {
      super.handleMessage(msg); // a reverse request: dispatchRequest
    }
  }

  /** Reverse requests (runInTerminal, startDebugging): ptview serves none, so it says so at once. */
  protected override dispatchRequest(request: DebugProtocol.Request): void {
    if (!this.endedBy) this.sendResponse(new Response(request, `ptview does not serve the '${request.command}' request`));
  }

  private end(message: string): void {
    if (this.endedBy) return;
    this.endedBy = new DapError('ended', message);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(this.endedBy);
    }
    this.pending.clear();
  }
}
