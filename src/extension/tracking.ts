// What a DAP message means for our per-stop state. Pure: the DebugAdapterTracker in
// extension.ts feeds every message through here.
import type { DebugProtocol } from '@vscode/debugprotocol';

export type TargetEvent =
  | { kind: 'capabilities'; capabilities: DebugProtocol.Capabilities }
  /** threadId: the thread the adapter says stopped (DAP's StoppedEvent.threadId), when it names one. */
  | { kind: 'stopped'; threadId?: number }
  /** byRequest: VS Code asked the adapter to run (it may still refuse, see 'runRefused'). */
  | { kind: 'running'; byRequest?: true }
  /** The adapter answered a run request with an error: the target did not run. */
  | { kind: 'runRefused' }
  /** Guest memory or registers may have changed without the target running. */
  | { kind: 'invalidate' }
  | { kind: 'ended' };

// Client requests after which the target runs (VS Code → adapter).
const RUN_REQUESTS = new Set(['continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue', 'goto', 'restartFrame']);
// Client requests that may change guest memory or registers.
const WRITE_REQUESTS = new Set(['writeMemory', 'setVariable', 'setExpression']);

/** Messages VS Code sends to the adapter (DebugAdapterTracker.onWillReceiveMessage). */
export function fromClient(msg: unknown): TargetEvent | undefined {
  const m = msg as Partial<DebugProtocol.Request>;
  if (m?.type !== 'request' || typeof m.command !== 'string') return undefined;
  if (RUN_REQUESTS.has(m.command)) return { kind: 'running', byRequest: true };
  if (WRITE_REQUESTS.has(m.command)) return { kind: 'invalidate' };
  return undefined;
}

/** Messages the adapter sends to VS Code (DebugAdapterTracker.onDidSendMessage). */
export function fromAdapter(msg: unknown): TargetEvent | undefined {
  const m = msg as Partial<DebugProtocol.Response & DebugProtocol.Event>;
  if (m?.type === 'response' && m.command === 'initialize' && m.success) {
    return { kind: 'capabilities', capabilities: (m.body ?? {}) as DebugProtocol.Capabilities };
  }
  // A refused continue/step (e.g. a ptview-core session: a core never runs) leaves it stopped.
  if (m?.type === 'response' && m.success === false && typeof m.command === 'string' && RUN_REQUESTS.has(m.command)) return { kind: 'runRefused' };
  if (m?.type !== 'event') return undefined;
  switch (m.event) {
    case 'stopped': {
      const threadId = (m.body as { threadId?: unknown } | undefined)?.threadId;
      return typeof threadId === 'number' ? { kind: 'stopped', threadId } : { kind: 'stopped' };
    }
    case 'continued':
      return { kind: 'running' };
    case 'invalidated':
    case 'memory':
      return { kind: 'invalidate' };
    case 'terminated':
    case 'exited':
      return { kind: 'ended' };
    default:
      return undefined;
  }
}
