// Status bar: active root, paging mode and memory strategy (text from status.ts); click opens the view.
import * as vscode from 'vscode';
import { State } from './controller';
import { CMD } from './ids';
import { statusText, statusTooltip } from './status';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('ptview.status', vscode.StatusBarAlignment.Left, 10);

  constructor() {
    this.item.name = 'ptview page tables';
    this.item.command = CMD.focusView;
  }

  update(s: State): void {
    const text = statusText(s);
    if (!text) return this.item.hide();
    this.item.text = text;
    this.item.tooltip = statusTooltip(s);
    this.item.backgroundColor = s.kind === 'error' || s.kind === 'no-memory' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
