// The address-space map webview host: builds MapData for the current stop (ranges, audit,
// region labels), answers trace and export requests, and restores the panel after a reload.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { regionLabeler } from '../core/ops/regions';
import { Ready, TargetController } from './controller';
import { MAP_VIEW_TYPE } from './ids';
import { MapData, buildMapData, exportCsv, exportJson } from './mapData';
import { FromWebview, ToWebview } from './protocol';
import { viewSettings } from './settings';
import { translationText } from './text';

export interface MapHost {
  withTarget<T>(title: string, fn: (r: Ready, signal: AbortSignal) => Promise<T>): Promise<T | undefined>;
  reveal(va: string): Promise<unknown>;
}

export class MapPanels implements vscode.Disposable, vscode.WebviewPanelSerializer {
  private panel: vscode.WebviewPanel | undefined;
  private data: { generation: number; data: MapData } | undefined;
  private pendingSelect: string | undefined;
  private webviewReady = false;
  /** Last message posted (tests read it through the API). */
  lastPosted: ToWebview | undefined;

  constructor(private readonly ctx: vscode.ExtensionContext, private readonly controller: TargetController, private readonly host: MapHost) {}

  async show(va?: string): Promise<void> {
    if (!this.panel) {
      this.attach(vscode.window.createWebviewPanel(MAP_VIEW_TYPE, 'Address-Space Map', vscode.ViewColumn.Active, this.options()));
    } else {
      this.panel.reveal();
    }
    this.pendingSelect = va;
    if (this.webviewReady) await this.refresh();
  }

  async deserializeWebviewPanel(panel: vscode.WebviewPanel): Promise<void> {
    panel.webview.options = this.options();
    this.attach(panel);
  }

  private options(): vscode.WebviewOptions & vscode.WebviewPanelOptions {
    const u = this.ctx.extensionUri;
    return {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(u, 'dist'), vscode.Uri.joinPath(u, 'media')],
    };
  }

  private attach(panel: vscode.WebviewPanel): void {
    this.panel = panel;
    this.webviewReady = false;
    panel.webview.html = this.html(panel.webview);
    panel.onDidDispose(() => {
      if (this.panel === panel) this.panel = undefined;
    });
    panel.webview.onDidReceiveMessage((m: FromWebview) => this.receive(m));
  }

  private post(m: ToWebview): void {
    this.lastPosted = m;
    void this.panel?.webview.postMessage(m);
  }

  /** Rebuilds (when the stop changed) and sends the data; or says why there is none. */
  async refresh(opts: { ifVisible?: boolean } = {}): Promise<void> {
    if (!this.panel || (opts.ifVisible && !this.panel.visible)) return;
    const s = this.controller.state();
    if (s.kind === 'none') return this.post({ type: 'status', message: 'No debug session: start debugging a QEMU guest.' });
    if (s.kind === 'running') return this.post({ type: 'status', message: 'The target is running: pause it to see its address space.' });
    const built = await this.host.withTarget('Building the address-space map', async (r, signal) => {
      if (this.data?.generation === r.generation) return this.data.data;
      const ranges = await r.session.ranges({ signal });
      const max = viewSettings().mapMaxRows;
      const report = await r.session.audit({ signal });
      const data = buildMapData(ranges.length > max ? ranges.slice(0, max) : ranges, report, regionLabeler(r.space, r.session.store));
      this.data = { generation: r.generation, data };
      return data;
    });
    if (!built) {
      const st = this.controller.state();
      return this.post({ type: 'status', message: 'message' in st ? st.message : 'The page tables could not be read.' });
    }
    const root = this.controller.activeSession?.name ?? 'debug session';
    this.post({ type: 'data', data: built, title: `${root}: ${built.count} ranges` });
    if (this.pendingSelect) {
      this.post({ type: 'select', va: this.pendingSelect });
      this.pendingSelect = undefined;
    }
  }

  private async receive(m: FromWebview): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.webviewReady = true;
        await this.refresh();
        return;
      case 'trace': {
        const t = await this.host.withTarget(`Translating ${m.va}`, (r, signal) => r.session.translate(BigInt(m.va), { signal }));
        if (t) this.post({ type: 'trace', index: m.index, va: m.va, text: translationText(t) });
        return;
      }
      case 'reveal':
        await this.host.reveal(m.va);
        return;
      case 'export': {
        const d = this.data?.data;
        if (!d) return;
        const text = m.format === 'csv' ? exportCsv(d, m.rows) : exportJson(d, m.rows);
        const uri = await vscode.window.showSaveDialog({
          title: `Export ${m.rows.length} ranges`,
          filters: m.format === 'csv' ? { CSV: ['csv'] } : { JSON: ['json'] },
          defaultUri: vscode.workspace.workspaceFolders?.[0] && vscode.Uri.joinPath(vscode.workspace.workspaceFolders[0].uri, `address-space.${m.format}`),
        });
        if (uri) await vscode.workspace.fs.writeFile(uri, Buffer.from(text, 'utf8'));
        return;
      }
    }
  }

  private html(w: vscode.Webview): string {
    const nonce = randomBytes(16).toString('base64');
    const u = (...p: string[]) => w.asWebviewUri(vscode.Uri.joinPath(this.ctx.extensionUri, ...p)).toString();
    const csp = `default-src 'none'; style-src ${w.cspSource}; font-src ${w.cspSource}; img-src ${w.cspSource}; script-src 'nonce-${nonce}';`;
    const defaults = JSON.stringify(viewSettings().defaultFilters);
    // No data in the HTML: everything arrives by postMessage and is inserted as text.
    return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${u('media', 'map.css')}">
<title>Address-Space Map</title></head>
<body data-default-filters="${escapeAttr(defaults)}">
<div id="toolbar">
  <vscode-checkbox id="f-w" label="w">w</vscode-checkbox>
  <vscode-checkbox id="f-x" label="x">x</vscode-checkbox>
  <vscode-checkbox id="f-u" label="u">u</vscode-checkbox>
  <vscode-checkbox id="f-wx" label="W+X">W+X</vscode-checkbox>
  <vscode-checkbox id="f-findings" label="findings">findings</vscode-checkbox>
  <vscode-single-select id="f-memtype" aria-label="memory type"><vscode-option value="">any type</vscode-option></vscode-single-select>
  <vscode-single-select id="f-pagesize" aria-label="page size"><vscode-option value="">any size</vscode-option></vscode-single-select>
  <vscode-textfield id="f-va" placeholder="VA range (a-b, a+len)"></vscode-textfield>
  <vscode-textfield id="f-pa" placeholder="PA range"></vscode-textfield>
  <vscode-textfield id="f-text" placeholder="text"></vscode-textfield>
  <vscode-button id="export-csv" secondary>CSV</vscode-button>
  <vscode-button id="export-json" secondary>JSON</vscode-button>
</div>
<div id="summary"></div>
<div id="strip-box"><canvas id="strip" height="36"></canvas><div id="strip-labels"></div></div>
<div id="table">
  <div class="row head"><span>VA</span><span>end</span><span>PA</span><span>size</span><span>page</span><span>rights</span><span>type</span><span>root</span><span>region / finding</span></div>
  <div id="scroller"><div id="spacer"></div></div>
</div>
<pre id="trace"></pre>
<script nonce="${nonce}" src="${u('dist', 'map.js')}"></script>
</body></html>`;
  }

  dispose(): void {
    this.panel?.dispose();
  }
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
