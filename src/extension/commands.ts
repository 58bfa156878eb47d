// The palette and context-menu commands. Each returns its result (Translation, aliases, report)
// so in-extension-host tests can check what the user saw.
import * as vscode from 'vscode';
import { MemoryReadError } from '../core/memory';
import { hex } from '../core/addr';
import { AuditReport } from '../core/ops/audit';
import { Alias } from '../core/ops/reverse';
import { Translation } from '../core/ops/translate';
import { LiveAccessError } from '../debug/api';
import { addressFromValue, evaluateAddress } from '../debug/expression';
import { Ready, TargetController } from './controller';
import { CMD, CONFIG, TRACE_SCHEME } from './ids';
import { STRATEGIES, config } from './settings';
import { addressTokenAt, aliasDetail, aliasLabel, literalAddress, translationSummary, translationText } from './text';
import type { PageTablesView } from './treeView';
import type { PtNode } from './treeModel';
import { entryActions } from './treeModel';
import type { MapPanels } from './mapPanel';
import { simulateCommand } from './simulate';

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

/** Evaluates a debugger expression in the selected frame (src/debug makes the DAP requests). */
function evaluateAddressHere(deps: Deps, expression: string): Promise<bigint> {
  const s = deps.controller.activeSession;
  if (!s) throw new LiveAccessError('session-ended', 'no debug session');
  const item = vscode.debug.activeStackItem;
  const mine = item !== undefined && item.session.id === s.id;
  const frameId = mine && item instanceof vscode.DebugStackFrame ? item.frameId : undefined;
  const threadId = mine ? item.threadId : undefined;
  return evaluateAddress(s.channel, expression, { threadId, frameId });
}

async function resolveAddress(deps: Deps, text: string): Promise<bigint> {
  return literalAddress(text) ?? evaluateAddressHere(deps, text);
}

function addressAtCursor(): string | undefined {
  const ed = vscode.window.activeTextEditor;
  if (!ed) return undefined;
  if (!ed.selection.isEmpty) return ed.document.getText(ed.selection).trim();
  const line = ed.document.lineAt(ed.selection.active.line).text;
  return addressTokenAt(line, ed.selection.active.character)?.text;
}

async function askAddress(prompt: string, value?: string): Promise<string | undefined> {
  return vscode.window.showInputBox({
    title: prompt,
    prompt: 'hex (0xffff888000000000), decimal, or an expression the debugger can evaluate (a pointer variable)',
    value,
    ignoreFocusOut: true,
    validateInput: (t) => (t.trim() ? undefined : 'enter an address or an expression'),
  });
}

export async function translateCommand(deps: Deps, arg?: unknown, opts: { quiet?: boolean } = {}): Promise<Translation | undefined> {
  const text = typeof arg === 'string' ? arg : typeof arg === 'bigint' ? hex(arg) : await askAddress('Translate Virtual Address', addressAtCursor());
  if (!text) return undefined;
  const t = await withTarget(deps, `Translating ${text}`, async (r, signal) => r.session.translate(await resolveAddress(deps, text), { signal }));
  if (!t) return undefined;
  deps.output.appendLine(translationText(t));
  if (!opts.quiet) void offerTrace(deps, t);
  return t;
}

async function offerTrace(deps: Deps, t: Translation): Promise<void> {
  const actions = ['Show Trace', ...(t.kind === 'mapped' ? ['Reveal in Page Tables', 'Show in Map'] : [])];
  const pick = await (t.kind === 'mapped' ? vscode.window.showInformationMessage : vscode.window.showWarningMessage)(`ptview: ${translationSummary(t)}`, ...actions);
  if (pick === 'Show Trace') await deps.docs.show(`translate ${t.va}.txt`, translationText(t));
  if (pick === 'Reveal in Page Tables') await revealCommand(deps, t.va);
  if (pick === 'Show in Map') await deps.maps.show(t.va);
}

export async function findPhysicalCommand(deps: Deps, arg?: unknown, pick = typeof arg !== 'string'): Promise<Alias[] | undefined> {
  const text = typeof arg === 'string' ? arg : await askAddress('Find Physical Address (every VA that maps it)', addressAtCursor());
  if (!text) return undefined;
  const aliases = await withTarget(deps, `Finding the VAs of ${text}`, async (r, signal) => r.session.aliases(Number(await resolveAddress(deps, text)), { signal }));
  if (!aliases) return undefined;
  deps.output.appendLine(`${text}: ${aliases.length} mapping(s)`);
  for (const a of aliases) deps.output.appendLine(`  ${aliasLabel(a)} ${aliasDetail(a)}`);
  if (pick) {
    if (aliases.length === 0) {
      void vscode.window.showInformationMessage(`ptview: no virtual address maps physical ${text}`);
    } else {
      void vscode.window.showQuickPick(aliases.map((a) => ({ label: aliasLabel(a), detail: aliasDetail(a), a })), {
        title: `${aliases.length} virtual address(es) map physical ${text}`,
      }).then((p) => p && translateCommand(deps, p.a.vaOfPa));
    }
  }
  return aliases;
}

export async function auditCommand(deps: Deps, opts: { quiet?: boolean } = {}): Promise<AuditReport | undefined> {
  const report = await withTarget(deps, 'Auditing page tables', (r, signal) => r.session.audit({ signal }));
  if (!report) return undefined;
  const lines = report.findings.map((f) => `${f.severity.padEnd(7)} ${f.kind.padEnd(22)} ${f.root} ${f.message}`);
  if (!opts.quiet) {
    await deps.docs.show('audit.txt', [report.summary, `${report.leaves} leaf entries checked`, '', ...lines].join('\n'));
    void vscode.window.showInformationMessage(`ptview: ${report.summary}`);
  }
  return report;
}

export async function chooseStrategyCommand(deps: Deps, arg?: unknown): Promise<string | undefined> {
  let id = typeof arg === 'string' ? arg : undefined;
  if (!id) {
    const cur = config().get<string>('memoryStrategy', 'auto');
    const pick = await vscode.window.showQuickPick(
      STRATEGIES.map((s) => ({ label: s.label, description: s.id === cur ? `${s.id} (current)` : s.id, detail: s.detail, id: s.id })),
      { title: 'How ptview reads guest-physical memory' },
    );
    id = pick?.id;
  }
  if (!id) return undefined;
  await vscode.workspace.getConfiguration(CONFIG).update('memoryStrategy', id, vscode.ConfigurationTarget.Global);
  await deps.controller.reopen();
  return id;
}

interface VariableContext {
  variable?: { value?: string; memoryReference?: string; evaluateName?: string; name?: string };
  expression?: string;
  value?: string;
  evaluateName?: string;
}

/** Variables / Watch context menu: translate the value (a pointer) of the item. */
export async function translateVariableCommand(deps: Deps, ctx?: VariableContext): Promise<Translation | undefined> {
  const v = ctx?.variable ?? ctx ?? {};
  const fromValue = addressFromValue(v.value, (v as { memoryReference?: string }).memoryReference);
  if (fromValue !== undefined) return translateCommand(deps, hex(fromValue));
  const expr = v.evaluateName ?? ctx?.expression;
  if (expr) return translateCommand(deps, expr);
  void vscode.window.showWarningMessage('ptview: this item has no address value to translate');
  return undefined;
}

export async function revealCommand(deps: Deps, va?: unknown): Promise<boolean> {
  if (typeof va !== 'string') return false;
  try {
    return await deps.tree.reveal(await resolveAddress(deps, va));
  } catch (e) {
    reportError(e, deps);
    return false;
  }
}

function entryOf(n: unknown) {
  const node = n as PtNode | undefined;
  return node?.kind === 'entry' ? entryActions(node.entry) : undefined;
}

export function register(ctx: vscode.ExtensionContext, deps: Deps): void {
  const reg = (id: string, fn: (...a: any[]) => unknown) => ctx.subscriptions.push(vscode.commands.registerCommand(id, fn));
  reg(CMD.translate, (a?: unknown) => translateCommand(deps, a));
  reg(CMD.findPhysical, (a?: unknown) => findPhysicalCommand(deps, a));
  reg(CMD.audit, (o?: { quiet?: boolean }) => auditCommand(deps, o));
  reg(CMD.showMap, (va?: unknown) => deps.maps.show(typeof va === 'string' ? va : undefined));
  // Resolves when the map (if open) is rebuilt. `{ signal }`: test hook, see RunOptions.
  reg(CMD.refresh, async (o?: RunOptions) => {
    deps.controller.refresh();
    deps.tree.refresh();
    await deps.maps.refresh({ signal: o?.signal instanceof AbortSignal ? o.signal : undefined });
  });
  reg(CMD.chooseStrategy, (a?: unknown) => chooseStrategyCommand(deps, a));
  reg(CMD.translateVariable, (c?: VariableContext) => translateVariableCommand(deps, c));
  reg(CMD.revealVa, (va?: unknown) => revealCommand(deps, va));
  reg(CMD.translateHere, (n?: unknown) => {
    const e = entryOf(n);
    return e ? translateCommand(deps, e.va) : undefined;
  });
  reg(CMD.showInMap, (n?: unknown) => {
    const va = typeof n === 'string' ? n : entryOf(n)?.va;
    return deps.maps.show(va);
  });
  reg(CMD.findAliases, (n?: unknown) => {
    const e = entryOf(n);
    return e?.pa ? findPhysicalCommand(deps, e.pa, true) : undefined;
  });
  const copy = (pick: (e: NonNullable<ReturnType<typeof entryOf>>) => string | undefined) => async (n?: unknown) => {
    const e = entryOf(n);
    const text = e && pick(e);
    if (text) await vscode.env.clipboard.writeText(text);
    return text;
  };
  reg(CMD.copyVa, copy((e) => e.va));
  reg(CMD.copyPa, copy((e) => e.pa));
  reg(CMD.copyRaw, copy((e) => e.raw));
  reg(CMD.simulate, (spec?: unknown) => simulateCommand(deps, typeof spec === 'string' ? spec : undefined));
}
