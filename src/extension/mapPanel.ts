// The address-space map webview host: builds MapData for the current stop (ranges, audit,
// region labels), sends the marks of what changed since the last stop, answers the webview's
// requests (trace, export, reveal; each exactly once, by id, with an error when it failed), and
// restores the panel after a reload.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { regionLabeler } from '../core/ops/regions';
import { UnchangedTables, registersKey } from '../core/ops/unchanged';
import { loadTables } from '../core/walker';
import type { RunOptions, TargetRun } from './run';
import { MapTiming, Ready, TargetController, stopFigures, stopFiguresText } from './controller';
import { MAP_VIEW_TYPE } from './ids';
import { MapData, buildMapData, exportCsv, exportJson } from './mapData';
import { DrawnFigures, FromWebview, MapChanges, MapRequest, ToWebview, TraceResult } from './protocol';
import { answer, isRequest } from './rpc';
import { mapHtml } from './mapHtml';
import { viewSettings } from './settings';
import { translationText } from './text';

export interface MapHost {
  withTarget<T>(title: string, fn: (r: Ready, signal: AbortSignal) => Promise<T>): Promise<T | undefined>;
  runTarget<T>(title: string, fn: (r: Ready, signal: AbortSignal) => Promise<T>, opts?: RunOptions): Promise<TargetRun<T>>;
  reveal(va: string): Promise<unknown>;
  /** A line in ptview's output channel (the per-stop figures). */
  log?(line: string): void;
  /** The webview drew a stop's rebuilt map (the end of the stop's figures). */
  drawn?(): void;
}

/** The longest the stop's diff waits for the webview to draw the map (settled). */
const ON_SCREEN_MAX_MS = 1000;

/** The marks of the changes since the last stop over a map's rows (stopDiff.ts provides it). */
export type MapChangeSource = (data: MapData) => MapChanges | undefined;

export class MapPanels implements vscode.Disposable, vscode.WebviewPanelSerializer {
  private panel: vscode.WebviewPanel | undefined;
  private data: { generation: number; data: MapData } | undefined;
  private pendingSelect: string | undefined;
  private webviewReady = false;
  /** Figures of the last build sent, until the webview says it drew it. */
  private pending: { ready: Ready; postedAt: number } | undefined;
  /** Resolves when the webview drew the last timed build (or it was superseded, or too late). */
  private onScreen: Promise<void> = Promise.resolve();
  private markOnScreen: () => void = () => undefined;
  /** The last stop's map, reused while its registers and tables are unchanged. */
  private readonly lastStop = new UnchangedTables<MapData>();
  /**
   * Last data or status message posted: what the map shows (tests read it through the API). Not
   * the selects and figures that follow a build: a test waiting for the data could miss it.
   */
  lastPosted: Extract<ToWebview, { type: 'data' | 'status' }> | undefined;
  /** Last changes message posted, and the last response (tests). */
  lastChanges: MapChanges | null | undefined;
  lastResponse: ToWebview | undefined;
  /** Where the marks of the changes since the last stop come from (none: no marks). */
  changeSource: MapChangeSource | undefined;

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
      this.markOnScreen();
    });
    panel.webview.onDidReceiveMessage((m: FromWebview) => this.receive(m));
  }

  private post(m: ToWebview): void {
    // Anything else shown in its place (a status, a newer build) ends the wait for a drawn map.
    if (m.type === 'status' || m.type === 'data') this.markOnScreen();
    if (m.type === 'changes') this.lastChanges = m.changes;
    else if (m.type === 'response') this.lastResponse = m;
    else if (m.type === 'data' || m.type === 'status') this.lastPosted = m;
    void this.panel?.webview.postMessage(m);
  }

  /** Sends the marks of the changes over the data shown (after a stop's diff is ready). */
  postChanges(): void {
    const d = this.data?.data;
    if (!this.panel || !d || !this.webviewReady) return;
    // Marks only over the rows of this very stop (a rebuild of the map posts them again).
    const s = this.controller.state();
    if (s.kind !== 'ready' || s.ready.generation !== this.data?.generation) return;
    this.post({ type: 'changes', changes: this.changeSource?.(d) ?? null });
  }

  /** The builds under way (a stop's map first, then its diff: see settled). */
  private readonly building = new Set<Promise<void>>();

  /**
   * Resolves once no map build is under way. The stop-to-stop diff waits for it: at a stop the
   * map's fold and the diff's decode would otherwise share the extension host's CPU, and the map
   * is what the user waits for.
   */
  async settled(): Promise<void> {
    while (this.building.size > 0) await Promise.allSettled([...this.building]);
    // And until the webview drew it: the map's message crosses VS Code's connection to the
    // workbench in steps that need the extension host's event loop (the message writer's timer,
    // the connection's compression), which the diff's decode would otherwise hold up.
    await this.onScreen;
  }

  /** Rebuilds (when the stop changed) and sends the data; or says why there is none. */
  refresh(opts: { ifVisible?: boolean } & RunOptions = {}): Promise<void> {
    const p = this.build(opts);
    this.building.add(p);
    const done = () => void this.building.delete(p);
    p.then(done, done);
    return p;
  }

  private async build(opts: { ifVisible?: boolean } & RunOptions): Promise<void> {
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
      const times: MapTiming = { ranges: 0, audit: 0, rows: 0 };
      const { value: data, reused } = await this.lastStop.get(r.session, `${registersKey(r.target.registers)};${max}`, async (session) => {
        // One fold over the tables for both (each shared subtree decoded once): audit 0 apart.
        // The tables loaded first (no read when they were compared already): the fold timed alone.
        await loadTables(session.space.roots, session.store, { signal });
        const f0 = performance.now();
        const c0 = process.cpuUsage();
        const { ranges, report } = await session.rangesAndAudit({ signal });
        const t1 = performance.now();
        const c1 = process.cpuUsage(c0);
        times.fold = t1 - f0;
        times.foldCpu = (c1.user + c1.system) / 1000;
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
    if (fresh && this.panel.visible) this.waitOnScreen();
    this.postChanges();
    if (this.pendingSelect) {
      this.post({ type: 'select', va: this.pendingSelect });
      this.pendingSelect = undefined;
    }
  }

  /** Until the webview answers 'drawn'; at most ON_SCREEN_MAX_MS (a hidden or reloading webview may never). */
  private waitOnScreen(): void {
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.onScreen = new Promise<void>((resolve) => {
      this.markOnScreen = () => {
        clearTimeout(timer);
        this.markOnScreen = () => undefined;
        resolve();
      };
      timer = setTimeout(this.markOnScreen, ON_SCREEN_MAX_MS);
    });
  }

  private async receive(m: FromWebview): Promise<void> {
    if (m.type === 'ready') {
      this.webviewReady = true;
      await this.refresh();
      return;
    }
    if (m.type === 'drawn') {
      this.markOnScreen();
      if (this.pending) {
        const figures: DrawnFigures = { ...stopFigures(this.pending.ready), postedAt: this.pending.postedAt, receivedAt: m.received, handledAt: m.handled, drawnAt: m.at };
        this.host.log?.(stopFiguresText(figures, m.at));
        this.host.drawn?.();
        this.post({ type: 'figures', figures });
      }
      this.pending = undefined;
      return;
    }
    if (isRequest<MapRequest>(m)) this.post(await answer(m, (r) => this.handle(r)));
  }

  /** One request's result; a throw becomes the error response the map shows. Public for tests. */
  async handle(r: MapRequest): Promise<TraceResult | string | boolean | null> {
    switch (r.type) {
      case 'trace': {
        // Failures answer the map (quiet: no toast beside the map's own message).
        const run = await this.host.runTarget(`Translating ${r.va}`, (t, signal) => t.session.translate(BigInt(r.va), { signal }), { quiet: true });
        if (run.cancelled) throw new Error('cancelled');
        if (!run.value) throw run.error instanceof Error ? run.error : new Error(String(run.error ?? 'the translation failed'));
        return { index: r.index, va: r.va, text: translationText(run.value) };
      }
      case 'reveal':
        return (await this.host.reveal(r.va)) === true;
      case 'export': {
        const d = this.data?.data;
        if (!d) throw new Error('no map data to export: the map was not built for this stop');
        const text = r.format === 'csv' ? exportCsv(d, r.rows) : exportJson(d, r.rows);
        const uri = await vscode.window.showSaveDialog({
          title: `Export ${r.rows.length} ranges`,
          filters: r.format === 'csv' ? { CSV: ['csv'] } : { JSON: ['json'] },
          defaultUri: vscode.workspace.workspaceFolders?.[0] && vscode.Uri.joinPath(vscode.workspace.workspaceFolders[0].uri, `address-space.${r.format}`),
        });
        if (!uri) return null;
        await vscode.workspace.fs.writeFile(uri, Buffer.from(text, 'utf8'));
        return uri.toString();
      }
    }
  }

  private html(w: vscode.Webview): string {
    const u = (...p: string[]) => w.asWebviewUri(vscode.Uri.joinPath(this.ctx.extensionUri, ...p)).toString();
    return mapHtml({ cspSource: w.cspSource, nonce: randomBytes(16).toString('base64'), script: u('dist', 'map.js'), style: u('media', 'map.css'), defaultFilters: viewSettings().defaultFilters });
  }

  dispose(): void {
    this.markOnScreen();
    this.panel?.dispose();
  }
}
