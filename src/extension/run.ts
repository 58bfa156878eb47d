// Running work on the stopped target from a command or a view: the progress UI, cancellation,
// and how failures reach the user. Its own module so commands.ts, simulate.ts and the views that
// run work (map, changes) depend on it and not on each other.
import * as vscode from 'vscode';
import { MemoryReadError } from '../core/memory';
import { LiveAccessError } from '../debug/api';
import { Ready, TargetController } from './controller';
import { TRACE_SCHEME } from './ids';
import type { PageTablesView } from './treeView';
import type { MapPanels } from './mapPanel';

/** Read-only documents for traces and audit reports (ptview-trace:/name). */
export class TraceDocuments implements vscode.TextDocumentContentProvider {
  private readonly docs = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.docs.get(uri.path) ?? '';
  }

  /** Stores a document without opening it (e.g. one side of a diff). */
  put(name: string, text: string): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: TRACE_SCHEME, path: `/${name}` });
    this.docs.set(uri.path, text);
    this.changed.fire(uri);
    return uri;
  }

  async show(name: string, text: string): Promise<vscode.TextEditor> {
    const uri = this.put(name, text);
    const doc = await vscode.workspace.openTextDocument(uri);
    return vscode.window.showTextDocument(doc, { preview: true, preserveFocus: false });
  }
}

export interface Deps {
  controller: TargetController;
  tree: PageTablesView;
  maps: MapPanels;
  docs: TraceDocuments;
  output: vscode.OutputChannel;
}

/** How a run under the progress notification ended: a value, cancelled, or failed (reported). */
export interface TargetRun<T> {
  readonly value?: T;
  readonly cancelled: boolean;
  readonly error?: unknown;
}

/** Runs shorter than this show no progress notification (the status bar spinner only). */
const PROGRESS_NOTIFICATION_AFTER_MS = 600;

export interface RunOptions {
  /**
   * Aborts the run as the notification's Cancel button does. Test hook (the in-extension-host
   * e2e tests abort it mid-walk, e.g. `ptview.refresh` with `{ signal }`); the UI never sets it.
   */
  readonly signal?: AbortSignal;
  /** Failures go to the output channel only: the caller shows them in its own view. */
  readonly quiet?: boolean;
}

/**
 * Runs `fn` on the ready target under a cancellable notification; its AbortSignal reaches the
 * open and the walk. Errors are reported to the user; a cancelled run is not an error (and a
 * value computed after the cancel, e.g. a walk that swallowed its cancelled reads, is dropped).
 */
export async function runTarget<T>(deps: Deps, title: string, fn: (r: Ready, signal: AbortSignal) => Promise<T>, opts: RunOptions = {}): Promise<TargetRun<T>> {
  const ac = new AbortController();
  const outer = opts.signal;
  const onOuter = () => ac.abort(outer?.reason);
  if (outer?.aborted) onOuter();
  else outer?.addEventListener('abort', onOuter, { once: true });
  const work = (async () => fn(await deps.controller.ready(ac.signal), ac.signal))();
  // A spinner in the status bar at once; a cancellable notification only for runs that take a
  // while, so a quick result never appears beside a progress toast that is still closing.
  void vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title }, () => work.catch(() => undefined));
  const slow = setTimeout(() => {
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (_p, token) => {
      const sub = token.onCancellationRequested(() => ac.abort());
      return work.catch(() => undefined).finally(() => sub.dispose());
    });
  }, PROGRESS_NOTIFICATION_AFTER_MS);
  try {
    const value = await work;
    if (ac.signal.aborted) return cancelled(deps, title);
    return { value, cancelled: false };
  } catch (e) {
    if (ac.signal.aborted) return cancelled(deps, title);
    // The target ran meanwhile: the views already say so; this run's result no longer matters.
    const ran = ((e instanceof LiveAccessError && e.kind === 'running') || (e instanceof MemoryReadError && e.reason === 'running')) && deps.controller.state().kind === 'running';
    if (opts.quiet || ran) deps.output.appendLine(`error: ${title}: ${e instanceof Error ? e.message : String(e)}`);
    else reportError(e, deps);
    return { cancelled: false, error: e };
  } finally {
    clearTimeout(slow);
    outer?.removeEventListener('abort', onOuter);
  }
}

function cancelled(deps: Deps, title: string): TargetRun<never> {
  deps.output.appendLine(`cancelled: ${title}`);
  return { cancelled: true };
}

/** runTarget's value, or undefined when cancelled or failed (already reported). */
export async function withTarget<T>(deps: Deps, title: string, fn: (r: Ready, signal: AbortSignal) => Promise<T>, opts: RunOptions = {}): Promise<T | undefined> {
  return (await runTarget(deps, title, fn, opts)).value;
}

export function reportError(e: unknown, deps: Deps): void {
  const msg = e instanceof Error ? e.message : String(e);
  deps.output.appendLine(`error: ${msg}`);
  if (e instanceof Error && (e.name === 'AbortError' || /aborted|cancel/i.test(msg))) return;
  if (e instanceof LiveAccessError && e.kind === 'running') void vscode.window.showWarningMessage(`ptview: ${msg}`);
  else void vscode.window.showErrorMessage(`ptview: ${msg}`);
}
