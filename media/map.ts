// The address-space map webview: a virtualized table of every merged range (smooth at a million
// rows: only the visible rows exist in the DOM), a strip of the whole space colored by rights
// with zoom, filters, audit highlights, what changed since the last stop (filter and strip
// marks), click-to-trace and export. All data is inserted as text. Requests to the host are
// correlated by id (src/extension/rpc.ts); a failed one shows its error in the trace pane.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import { Virtualizer, elementScroll, observeElementOffset, observeElementRect } from '@tanstack/virtual-core';
import { rightsString } from '../src/core/ops/explain';
import { MapData, MapFilter, SEVERITY, filterRows, keyHex } from '../src/extension/mapData';
import type { FromWebview, MapChanges, MapRequest, MapViewState, ToWebview, TraceResult } from '../src/extension/protocol';
import { Requester, isResponse } from '../src/extension/rpc';

declare function acquireVsCodeApi(): { postMessage(m: FromWebview): void; getState(): MapViewState | undefined; setState(s: MapViewState): void };
const vscode = acquireVsCodeApi();
const host = new Requester<MapRequest>((m) => vscode.postMessage(m));

const ROW_H = 22;
const PERM_W = 2, PERM_X = 4 | 16, PERM_U = 8 | 16;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const scroller = $('scroller');
const spacer = $('spacer');
const strip = $<HTMLCanvasElement>('strip');
const stripLabels = $('strip-labels');
const trace = $('trace');
const summary = $('summary');

let data: MapData | undefined;
/** Marks of the changes since the last (or pinned) stop over data's rows; null: nothing to compare with. */
let changes: MapChanges | null = null;
let rows: Uint32Array = new Uint32Array(0);
let state: MapViewState = vscode.getState() ?? { filter: defaultFilter(), scrollTop: 0, zoom: [0, 1] };
let selected = -1;
// Strip axis: cumulative weight of each range (and of the gaps between them).
let axis = new Float64Array(0);

function defaultFilter(): MapFilter {
  const f: MapFilter = {};
  const words = (JSON.parse(document.body.dataset.defaultFilters ?? '""') as string).split(/[\s,]+/).filter(Boolean);
  for (const w of words.map((x) => x.toLowerCase())) {
    if (w === 'w') f.w = true;
    else if (w === 'x') f.x = true;
    else if (w === 'u') f.u = true;
    else if (w === 'w+x' || w === 'wx') f.wx = true;
    else if (w === 'findings') f.findings = true;
    else if (w === 'changed') f.changed = true;
  }
  return f;
}

function save(): void {
  vscode.setState(state);
}

// ---- table -----------------------------------------------------------------------------------

const virt = new Virtualizer<HTMLElement, HTMLElement>({
  count: 0,
  getScrollElement: () => scroller,
  estimateSize: () => ROW_H,
  overscan: 12,
  scrollToFn: elementScroll,
  observeElementRect,
  observeElementOffset,
  onChange: () => renderRows(),
});
virt._didMount();

const pool: HTMLDivElement[] = [];

function rowEl(i: number): HTMLDivElement {
  let el = pool[i];
  if (!el) {
    el = document.createElement('div');
    el.className = 'row';
    for (let c = 0; c < 9; c++) el.appendChild(document.createElement('span'));
    el.addEventListener('click', () => select(Number(el!.dataset.index), true));
    spacer.appendChild(el);
    pool[i] = el;
  }
  return el;
}

function sizeText(n: number): string {
  const u = ['', 'K', 'M', 'G', 'T', 'P', 'E'];
  let k = 0;
  while (n >= 1024 && n % 1024 === 0 && k < u.length - 1) {
    n /= 1024;
    k++;
  }
  return `${n}${u[k]}`;
}

function renderRows(): void {
  const d = data;
  spacer.style.height = `${virt.getTotalSize()}px`;
  const items = d ? virt.getVirtualItems() : [];
  items.forEach((it, k) => {
    const i = rows[it.index];
    const el = rowEl(k);
    el.hidden = false;
    el.dataset.index = String(i);
    // VS Code's webview context menu (package.json webview/context) passes this to its commands.
    el.dataset.vscodeContext = JSON.stringify({ webviewSection: 'range', va: keyHex(d!.va[i]), preventDefaultContextMenuItems: true });
    el.style.transform = `translateY(${it.start}px)`;
    const p = d!.perms[i];
    const cells = el.children;
    cells[0].textContent = keyHex(d!.va[i]);
    cells[1].textContent = keyHex(d!.end[i]);
    cells[2].textContent = '0x' + d!.pa[i].toString(16);
    // A folded range (the same page every `stride` bytes, e.g. Linux's ESPfix area): one row.
    cells[3].textContent = d!.repeat[i] > 1 ? `${sizeText(d!.size[i])} \u00d7${d!.repeat[i]}` : sizeText(d!.size[i]);
    (cells[3] as HTMLElement).title = d!.repeat[i] > 1 ? `${d!.repeat[i]} copies of ${sizeText(d!.size[i])}, one every ${sizeText(d!.stride[i])}, all mapping 0x${d!.pa[i].toString(16)}` : '';
    cells[4].textContent = `${sizeText(d!.pageSize[i])} ${d!.levels[d!.level[i]]}`;
    cells[5].textContent = rightsString(p);
    cells[6].textContent = d!.memTypes[d!.memType[i]];
    cells[7].textContent = d!.roots[d!.root[i]];
    const region = d!.region[i] >= 0 ? d!.regions[d!.region[i]] : '';
    const finding = d!.finding[i] >= 0 ? d!.findings[d!.finding[i]] : '';
    cells[8].textContent = finding ? `${region ? region + ' · ' : ''}${finding}` : region;
    // The column is narrow: the whole text on hover (and in the trace pane when selected).
    (cells[8] as HTMLElement).title = cells[8].textContent ?? '';
    const ch = changes ? changes.kind[i] : 0;
    if (ch) (cells[0] as HTMLElement).title = changes!.texts[changes!.text[i]] ?? '';
    else (cells[0] as HTMLElement).removeAttribute('title');
    el.className = `row ${classOf(p)}${d!.severity[i] ? ` finding-${SEVERITY[d!.severity[i]]}` : ''}${ch ? ` change-${ch === 1 ? 'added' : 'changed'}` : ''}${i === selected ? ' selected' : ''}`;
  });
  for (let k = items.length; k < pool.length; k++) pool[k].hidden = true;
}

function classOf(p: number): string {
  if (p & PERM_W && p & PERM_X) return 'wx';
  if (p & PERM_W) return 'w';
  if (p & PERM_X) return 'x';
  return 'ro';
}

function applyFilter(): void {
  if (!data) return;
  rows = filterRows(data, state.filter, changes?.kind);
  virt.setOptions({ ...virt.options, count: rows.length });
  virt._willUpdate();
  virt.measure();
  summary.textContent = `${rows.length} of ${data.count} ranges${data.layout ? ` · layout: ${data.layout}` : ''}${data.summary ? ` · ${data.summary}` : ''} · ${changesSummary()}`;
  summary.dataset.shown = String(rows.length);
  renderRows();
  drawStrip();
  save();
}

function changesSummary(): string {
  if (!changes) return 'no earlier stop to compare with';
  if (changes.total === 0) return `no changes since ${changes.since}`;
  let marked = 0;
  for (const k of changes.kind) if (k) marked++;
  return `${changes.total} change${changes.total === 1 ? '' : 's'} since ${changes.since}: ${marked} range${marked === 1 ? '' : 's'} marked${changes.removed ? `, ${changes.removed} removed (no longer mapped, not rows)` : ''}`;
}

let traceSeq = 0;

/** Asks the host for the trace of a VA; only the latest answer is shown, a failure as its error. */
function askTrace(i: number, va: string): void {
  const seq = ++traceSeq;
  host.request<TraceResult>({ type: 'trace', index: i, va }).then(
    (t) => {
      if (seq === traceSeq) showTrace(t);
    },
    (e: Error) => {
      if (seq === traceSeq) showError(`translating ${va}`, e);
    },
  );
}

function showTrace(t: TraceResult): void {
  const d = data;
  const fi = d && t.index >= 0 && t.index < d.count ? d.finding[t.index] : -1;
  const sev = fi >= 0 ? SEVERITY[d!.severity[t.index]] : '';
  const ci = changes && d && t.index >= 0 && t.index < d.count ? changes.text[t.index] : -1;
  let text = fi >= 0 ? `${t.text}\n\naudit (${sev}): ${d!.findings[fi]}` : t.text;
  if (ci >= 0) text += `\n\nchanged since ${changes!.since}: ${changes!.texts[ci]}`;
  trace.textContent = text;
  delete trace.dataset.error;
}

function showError(what: string, e: Error): void {
  trace.textContent = `error: ${what}: ${e.message}`;
  trace.dataset.error = 'true';
}

/** Selects row i; the trace is of `traceVa` (an address asked for elsewhere) or the row's start. */
function select(i: number, withTrace: boolean, traceVa?: string): void {
  if (!data || i < 0) return;
  selected = i;
  state.selected = data.va[i];
  renderRows();
  drawStrip();
  save();
  if (withTrace) askTrace(i, traceVa ?? keyHex(data.va[i]));
}

function scrollToRow(i: number): void {
  const k = rows.indexOf(i);
  if (k >= 0) virt.scrollToIndex(k, { align: 'center' });
}

// ---- strip -----------------------------------------------------------------------------------

function buildAxis(d: MapData): void {
  axis = new Float64Array(d.count + 1);
  for (let i = 0; i < d.count; i++) {
    const gap = i > 0 && (d.va[i] !== d.end[i - 1] || d.root[i] !== d.root[i - 1]) ? 2 : 0;
    axis[i + 1] = axis[i] + gap + Math.max(1, Math.log2(d.size[i]) - 11);
  }
}

const COLORS: Record<string, string> = { wx: '#e05252', w: '#4c8be0', x: '#d9a93a', ro: '#8a8a8a' };

function drawStrip(): void {
  const d = data;
  const dpr = window.devicePixelRatio || 1;
  const w = strip.clientWidth;
  strip.width = Math.max(1, Math.floor(w * dpr));
  strip.height = Math.floor(36 * dpr);
  const g = strip.getContext('2d');
  if (!g || !d || d.count === 0) return;
  g.scale(dpr, dpr);
  const total = axis[d.count];
  const [za, zb] = state.zoom;
  const a = za * total;
  const span = Math.max(1e-9, (zb - za) * total);
  const x = (v: number) => ((v - a) / span) * w;
  const shown = new Uint8Array(d.count);
  for (const i of rows) shown[i] = 1;
  stripLabels.replaceChildren();
  let lastRegion = -2;
  let lastLabelX = -1e9;
  for (let i = 0; i < d.count; i++) {
    const x0 = x(axis[i + 1] - Math.max(1, Math.log2(d.size[i]) - 11));
    const x1 = x(axis[i + 1]);
    if (x1 < 0 || x0 > w) continue;
    const p = d.perms[i];
    g.globalAlpha = shown[i] ? 1 : 0.2;
    g.fillStyle = COLORS[classOf(p)];
    g.fillRect(x0, 10, Math.max(1, x1 - x0), 18);
    if (p & PERM_U) {
      g.fillStyle = '#9c6ade';
      g.fillRect(x0, 29, Math.max(1, x1 - x0), 4);
    }
    const ch = changes ? changes.kind[i] : 0;
    if (ch) {
      // Changed since the last stop: a mark along the strip's bottom edge (green added, yellow changed).
      g.fillStyle = ch === 1 ? '#3fb950' : '#e2c541';
      g.fillRect(x0, 33, Math.max(3, x1 - x0), 3);
    }
    if (d.severity[i] >= 2) {
      g.fillStyle = d.severity[i] === 3 ? '#ff3030' : '#ffb000';
      g.fillRect(x0, 3, Math.max(2, x1 - x0), 5);
    }
    if (i === selected) {
      g.globalAlpha = 1;
      g.strokeStyle = '#ffffff';
      g.strokeRect(x0 - 1, 9, Math.max(2, x1 - x0) + 2, 20);
    }
    if (d.region[i] !== lastRegion) {
      lastRegion = d.region[i];
      if (lastRegion >= 0 && x0 - lastLabelX > 90) {
        const s = document.createElement('span');
        s.textContent = d.regions[lastRegion];
        s.style.left = `${Math.max(0, x0)}px`;
        stripLabels.appendChild(s);
        lastLabelX = x0;
      }
    }
  }
  g.globalAlpha = 1;
}

function rowAtX(px: number): number {
  if (!data) return -1;
  const total = axis[data.count];
  const [za, zb] = state.zoom;
  const v = za * total + (px / strip.clientWidth) * (zb - za) * total;
  let lo = 0;
  let hi = data.count - 1;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (axis[m + 1] <= v) lo = m + 1;
    else hi = m;
  }
  return lo;
}

strip.addEventListener('wheel', (e) => {
  e.preventDefault();
  const [za, zb] = state.zoom;
  const f = e.offsetX / strip.clientWidth;
  const c = za + f * (zb - za);
  const scale = e.deltaY < 0 ? 0.8 : 1.25;
  const half = Math.min(1, Math.max(1e-6, (zb - za) * scale));
  let a = c - f * half;
  let b = a + half;
  if (a < 0) [a, b] = [0, half];
  if (b > 1) [a, b] = [1 - half, 1];
  state.zoom = [Math.max(0, a), Math.min(1, b)];
  drawStrip();
  save();
}, { passive: false });

strip.addEventListener('click', (e) => {
  const i = rowAtX(e.offsetX);
  if (i < 0) return;
  if (rows.indexOf(i) < 0) {
    // Clicked a range the filters hide: clear them so it can be shown.
    state.filter = {};
    syncControls();
    applyFilter();
  }
  select(i, true);
  scrollToRow(i);
});

strip.addEventListener('dblclick', () => {
  state.zoom = [0, 1];
  drawStrip();
  save();
});

// ---- controls --------------------------------------------------------------------------------

type Checkbox = HTMLElement & { checked: boolean };
type Field = HTMLElement & { value: string };
const checks: [string, keyof MapFilter][] = [['f-w', 'w'], ['f-x', 'x'], ['f-u', 'u'], ['f-wx', 'wx'], ['f-findings', 'findings'], ['f-changed', 'changed']];
const texts: [string, 'va' | 'pa' | 'text'][] = [['f-va', 'va'], ['f-pa', 'pa'], ['f-text', 'text']];

function syncControls(): void {
  for (const [id, k] of checks) $<Checkbox>(id).checked = state.filter[k] === true;
  for (const [id, k] of texts) $<Field>(id).value = state.filter[k] ?? '';
  $<Field>('f-memtype').value = state.filter.memType ?? '';
  $<Field>('f-pagesize').value = state.filter.pageSize ? String(state.filter.pageSize) : '';
}

for (const [id, k] of checks) {
  $<Checkbox>(id).addEventListener('change', (e) => {
    (state.filter as Record<string, unknown>)[k] = (e.target as Checkbox).checked || undefined;
    applyFilter();
  });
}
let textTimer: ReturnType<typeof setTimeout> | undefined;
for (const [id, k] of texts) {
  $<Field>(id).addEventListener('input', (e) => {
    state.filter[k] = (e.target as Field).value || undefined;
    clearTimeout(textTimer);
    textTimer = setTimeout(applyFilter, 150);
  });
}
$<Field>('f-memtype').addEventListener('change', (e) => {
  state.filter.memType = (e.target as Field).value || undefined;
  applyFilter();
});
$<Field>('f-pagesize').addEventListener('change', (e) => {
  const v = Number((e.target as Field).value);
  state.filter.pageSize = v || undefined;
  applyFilter();
});
function exportRows(format: 'csv' | 'json'): void {
  host.request<string | null>({ type: 'export', format, rows: Array.from(rows) }).catch((e: Error) => showError(`exporting ${format.toUpperCase()}`, e));
}
$('export-csv').addEventListener('click', () => exportRows('csv'));
$('export-json').addEventListener('click', () => exportRows('json'));

/** The options each select was last filled with: a stop with the same ones leaves them be. */
const filled = new Map<string, string>();

/** Fills a select's options; false when they were already these (nothing was touched). */
function fillOptions(id: string, values: [string, string][]): boolean {
  const key = JSON.stringify(values);
  if (filled.get(id) === key) return false;
  filled.set(id, key);
  const sel = $<Field>(id);
  const keep = sel.firstElementChild;
  sel.replaceChildren(...(keep ? [keep] : []));
  for (const [value, label] of values) {
    const o = document.createElement('vscode-option') as HTMLElement & { value: string };
    o.setAttribute('value', value);
    o.textContent = label;
    sel.appendChild(o);
  }
  return true;
}

scroller.addEventListener('scroll', () => {
  state.scrollTop = scroller.scrollTop;
  save();
});
window.addEventListener('resize', () => drawStrip());

// ---- messages --------------------------------------------------------------------------------

window.addEventListener('message', (ev: MessageEvent<ToWebview>) => {
  const m = ev.data;
  if (isResponse(m)) {
    host.settle(m);
    return;
  }
  switch (m.type) {
    case 'data': {
      const received = Date.now();
      data = m.data;
      changes = null; // the marks of this data follow in a 'changes' message
      document.title = m.title;
      buildAxis(m.data);
      // Rebuilding a select's options resets its value: only then are the controls set again.
      const sizes = [...new Set(Array.from(m.data.pageSize))].sort((a, b) => a - b);
      const refilled = [fillOptions('f-memtype', m.data.memTypes.map((t) => [t, t])), fillOptions('f-pagesize', sizes.map((s) => [String(s), sizeText(s)]))];
      selected = state.selected ? m.data.va.indexOf(state.selected) : -1;
      if (refilled.includes(true)) syncControls();
      applyFilter();
      // Setting scrollTop forces a layout: only when it moves.
      if (scroller.scrollTop !== state.scrollTop) scroller.scrollTop = state.scrollTop;
      document.body.dataset.status = 'ready';
      delete document.body.dataset.timing;
      // On screen once the next frame is painted: animation frame callbacks run before that
      // frame's style, layout and paint, so the time is taken in a task queued from there.
      if (m.timed) {
        const handled = Date.now();
        requestAnimationFrame(() => setTimeout(() => vscode.postMessage({ type: 'drawn', at: Date.now(), received, handled })));
      }
      return;
    }
    case 'changes':
      changes = m.changes && data && m.changes.kind.length === data.count ? m.changes : null;
      document.body.dataset.changes = changes ? String(changes.total) : 'none';
      applyFilter();
      return;
    case 'status':
      data = undefined;
      changes = null;
      rows = new Uint32Array(0);
      summary.textContent = m.message;
      document.body.dataset.status = m.kind ?? 'empty';
      delete document.body.dataset.timing;
      renderRows();
      drawStrip();
      return;
    case 'figures':
      document.body.dataset.timing = JSON.stringify(m.figures);
      return;
    case 'select': {
      if (!data) return;
      const va = BigInt(m.va);
      const k = data.va.findIndex((v, i) => BigInt('0x' + v) <= va && va < BigInt('0x' + data!.end[i]));
      if (k >= 0) {
        if (rows.indexOf(k) < 0) {
          state.filter = {};
          syncControls();
          applyFilter();
        }
        // The trace is of the address asked for (a hover's), not of the range's start.
        select(k, true, '0x' + va.toString(16));
        scrollToRow(k);
      }
      return;
    }
  }
});

syncControls();
vscode.postMessage({ type: 'ready' });
