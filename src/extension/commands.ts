// The palette and context-menu commands. Each returns its result (Translation, aliases, report)
// so in-extension-host tests can check what the user saw.
import * as vscode from 'vscode';
import { hex } from '../core/addr';
import { AuditReport } from '../core/ops/audit';
import { Alias } from '../core/ops/reverse';
import { Translation } from '../core/ops/translate';
import { LiveAccessError } from '../debug/api';
import { addressFromValue, evaluateAddress } from '../debug/expression';
import { CMD, CONFIG } from './ids';
import { STRATEGIES, config } from './settings';
import { addressTokenAt, aliasDetail, aliasLabel, literalAddress, translationSummary, translationText } from './text';
import type { PtNode } from './treeModel';
import { entryActions } from './treeModel';
import { simulateCommand } from './simulate';

export { TraceDocuments, runTarget, withTarget, reportError } from './run';
export type { Deps, TargetRun, RunOptions } from './run';
import { Deps, RunOptions, reportError, withTarget } from './run';

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
