// Hover-to-translate: an address literal (or the selected expression) in an editor while the
// session is paused. VS Code's debug hover hides extension hovers unless Alt is held.
import * as vscode from 'vscode';
import { LiveAccessError } from '../debug/api';
import { TargetController } from './controller';
import { CMD } from './ids';
import { viewSettings } from './settings';
import { addressTokenAt, literalAddress, translationMarkdown } from './text';

export class TranslateHover implements vscode.HoverProvider {
  constructor(private readonly controller: TargetController) {}

  async provideHover(doc: vscode.TextDocument, pos: vscode.Position, token: vscode.CancellationToken): Promise<vscode.Hover | undefined> {
    if (!viewSettings().hover) return undefined;
    const s = this.controller.state();
    if (s.kind !== 'ready' && s.kind !== 'stopped') return undefined;
    const ed = vscode.window.activeTextEditor;
    let va: bigint | undefined;
    let range: vscode.Range | undefined;
    if (ed && ed.document === doc && !ed.selection.isEmpty && ed.selection.contains(pos)) {
      va = literalAddress(doc.getText(ed.selection));
      range = ed.selection;
    }
    if (va === undefined) {
      const tok = addressTokenAt(doc.lineAt(pos.line).text, pos.character);
      if (!tok) return undefined;
      va = tok.value;
      range = new vscode.Range(pos.line, tok.start, pos.line, tok.end);
    }
    const ac = new AbortController();
    const sub = token.onCancellationRequested(() => ac.abort());
    try {
      const ready = await this.controller.ready(ac.signal);
      const t = await ready.session.translate(va, { signal: ac.signal });
      const md = new vscode.MarkdownString(translationMarkdown(t));
      const arg = encodeURIComponent(JSON.stringify([t.va]));
      md.appendMarkdown(`\n\n[Reveal in Page Tables](command:${CMD.revealVa}?${arg}) · [Show in Map](command:${CMD.showInMap}?${arg})`);
      md.isTrusted = { enabledCommands: [CMD.revealVa, CMD.showInMap] };
      return new vscode.Hover(md, range);
    } catch (e) {
      if (e instanceof LiveAccessError || ac.signal.aborted) return undefined;
      return new vscode.Hover(new vscode.MarkdownString().appendText(`ptview: ${e instanceof Error ? e.message : String(e)}`), range);
    } finally {
      sub.dispose();
    }
  }
}
