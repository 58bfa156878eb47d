// Status bar: active root, paging mode and memory strategy; click opens the view.
import * as vscode from 'vscode';
import { hex } from '../core/addr';
import { State } from './controller';
import { CMD } from './ids';

export function statusText(s: State): string | undefined {
  switch (s.kind) {
    case 'none':
      return undefined;
    case 'running':
      return '$(layers) page tables: running';
    case 'stopped':
    case 'loading':
      return '$(layers) page tables: paused';
    case 'no-memory':
      return '$(layers) page tables: no physical memory';
    case 'error':
      return '$(layers) page tables: error';
    case 'ready': {
      const r = s.ready.space.roots[0];
      const root = r ? `${r.name.toUpperCase()} ${hex(r.tablePa)}` : 'no roots';
      return `$(layers) ${root} · ${r?.format.mode ?? s.ready.space.arch} · ${s.ready.target.strategy}`;
    }
  }
}

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
    this.item.tooltip = s.kind === 'ready'
      ? `ptview: ${s.ready.space.roots.map((r) => `${r.name} ${r.format.mode} ${r.info.map(([k, v]) => `${k} ${v}`).join(' ')}`).join('; ')}\nmemory: ${s.ready.target.strategy}${s.ready.target.strategyNotes.length ? ` (${s.ready.target.strategyNotes.join('; ')})` : ''}\nClick to open the Page Tables view`
      : 'ptview: click to open the Page Tables view';
    this.item.backgroundColor = s.kind === 'error' || s.kind === 'no-memory' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
