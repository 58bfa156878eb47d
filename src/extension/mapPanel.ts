// The address-space map webview host: builds MapData for the current stop (ranges, audit,
// region labels), answers trace and export requests, and restores the panel after a reload.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { regionLabeler } from '../core/ops/regions';
import { UnchangedTables, registersKey } from '../core/ops/unchanged';
import type { RunOptions, TargetRun } from './commands';
import { Ready, TargetController, stopFigures, stopFiguresText } from './controller';
import { MAP_VIEW_TYPE } from './ids';
import { MapData, buildMapData, exportCsv, exportJson } from './mapData';
import { DrawnFigures, FromWebview, ToWebview } from './protocol';
import { mapHtml } from './mapHtml';
import { viewSettings } from './settings';
import { translationText } from './text';

export interface MapHost {
  withTarget<T>(title: string, fn: (r: Ready, signal: AbortSignal) => Promise<T>): Promise<T | undefined>;
  runTarget<T>(title: string, fn: (r: Ready, signal: AbortSignal) => Promise<T>, opts?: RunOptions): Promise<TargetRun<T>>;
  reveal(va: string): Promise<unknown>;
  /** A line in ptview's output channel (the per-stop figures). */
  log?(line: string): void;
}

export class MapPanels implements vscode.Disposable, vscode.WebviewPanelSerializer {
  private panel: vscode.WebviewPanel | undefined;
  private data: { generation: number; data: MapData } | undefined;
  private pendingSelect: string | undefined;
  private webviewReady = false;
  /** Figures of the last build sent, until the webview says it drew it. */
  private pending: { ready: Ready; postedAt: number } | undefined;
  /** The last stop's map, reused while its registers and tables are unchanged. */
  private readonly lastStop = new UnchangedTables<MapData>();
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
  async refresh(opts: { ifVisible?: boolean } & RunOptions = {}): Promise<void> {
    if (!this.panel || (opts.ifVisible && !this.panel.visible)) return;
    const s = this.controller.state();
    if (s.kind === 'none') return this.post({ type: 'status', message: 'No debug session: start debugging a QEMU guest.' });
    if (s.kind === 'running') return this.post({ type: 'status', message: 'The target is running: pause it to see its address space.' });
    if (s.kind === 'waiting') return this.post({ type: 'status', message: 'The debug session has not stopped yet: pause it to see its address space.' });
    let fresh: Ready | undefined;
    const run = await this.host.runTarget('Building the address-space map', async (r, signal) => {
      if (this.data?.generation === r.generation) return this.data.data;
      const max = viewSettings().mapMaxRows;
      const t0 = performance.now();
      const times = { ranges: 0, audit: 0, rows: 0 };
      const { value: data, reused } = await this.lastStop.get(r.session, `${registersKey(r.target.registers)};${max}`, async (session) => {
        // One fold over the tables for both (each shared subtree decoded once): audit 0 apart.
        const { ranges, report } = await session.rangesAndAudit({ signal });
        const t1 = performance.now();
        const d = buildMapData(ranges.length > max ? ranges.slice(0, max) : ranges, report, regionLabeler(r.space, ranges, session.memory.ram));
        times.ranges = t1 - t0;
        times.rows = performance.now() - t1;
        return d;
      }, signal);
      // Reused: reading and comparing the tables is the whole cost (counted as the ranges').
      r.timing.map = reused ? { ranges: performance.now() - t0, audit: 0, rows: 0, reused: true } : times;
      fresh = r;
      this.data = { generation: r.generation, data };
      return data;
    }, { signal: opts.signal, quiet: opts.ifVisible });
    const built = run.value;
    if (run.cancelled) {
      return this.post({ type: 'status', kind: 'cancelled', message: 'Cancelled: the map was not built. Run ptview: Refresh Page Tables (or Show Address-Space Map) to build it.' });
    }
    if (!built) {
      const st = this.controller.state();
      const why = 'message' in st ? st.message : run.error instanceof Error ? run.error.message : undefined;
      return this.post({ type: 'status', kind: 'error', message: why ? `The page tables could not be read: ${why}` : 'The page tables could not be read.' });
    }
    const root = this.controller.activeSession?.name ?? 'debug session';
    // A new build: the webview says when it is on screen, then the stop's figures are complete.
    this.pending = fresh && { ready: fresh, postedAt: Date.now() };
    this.post({ type: 'data', data: built, title: `${root}: ${built.count} ranges`, ...(fresh ? { timed: true } : {}) });
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
      case 'drawn':
        if (this.pending) {
          const figures: DrawnFigures = { ...stopFigures(this.pending.ready), postedAt: this.pending.postedAt, drawnAt: m.at };
          this.host.log?.(stopFiguresText(figures, m.at));
          this.post({ type: 'figures', figures });
        }
        this.pending = undefined;
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
    const u = (...p: string[]) => w.asWebviewUri(vscode.Uri.joinPath(this.ctx.extensionUri, ...p)).toString();
    return mapHtml({ cspSource: w.cspSource, nonce: randomBytes(16).toString('base64'), script: u('dist', 'map.js'), style: u('media', 'map.css'), defaultFilters: viewSettings().defaultFilters });
  }

  dispose(): void {
    this.panel?.dispose();
  }
}
