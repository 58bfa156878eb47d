// The address-space map's data: every merged range in columns (typed arrays and strings, so a
// million rows cross postMessage cheaply), audit findings and region labels attached, and the
// filters and exports. Pure: the host builds it, the webview (media/map.ts) filters it.
import { ANY_EXEC, ANY_WRITE, Flag, USER_ANY } from '../core/format';
import { effectiveRights } from '../core/ops/explain';
import type { AuditReport } from '../core/ops/audit';
import type { MergedRange } from '../core/ops/merge';
import type { RegionLabeler } from '../core/ops/regions';
import { repeatCount, spanEnd } from '../core/ops/repeats';

export const SEVERITY = ['', 'info', 'warning', 'error'] as const;

export interface MapData {
  readonly count: number;
  /** VA start / exclusive end as 17-digit zero-padded hex (string order = numeric order). */
  readonly va: string[];
  readonly end: string[];
  readonly pa: Float64Array;
  readonly size: Float64Array;
  readonly pageSize: Float64Array;
  readonly pages: Float64Array;
  /** Folded repeats (core ops/repeats.ts): copies (1: a plain range) and bytes between them. va..end spans every copy; pa, size and pages are one copy's. */
  readonly repeat: Float64Array;
  readonly stride: Float64Array;
  /** core Perm bits. */
  readonly perms: Uint8Array;
  /** core Flag bits. */
  readonly flags: Uint8Array;
  readonly memType: Uint16Array;
  readonly root: Uint8Array;
  readonly level: Uint8Array;
  /** Index into regions, or -1. */
  readonly region: Int32Array;
  /** Highest finding severity on the range (index into SEVERITY). */
  readonly severity: Uint8Array;
  /** Index into findings of the first finding on the range, or -1. */
  readonly finding: Int32Array;
  readonly memTypes: string[];
  readonly roots: string[];
  readonly levels: string[];
  readonly regions: string[];
  readonly findings: string[];
  readonly layout?: string;
  readonly summary?: string;
}

export function vaKey(v: bigint): string {
  return v.toString(16).padStart(17, '0');
}

/** "0x" form of a key, without the padding. */
export function keyHex(k: string): string {
  return '0x' + (k.replace(/^0+/, '') || '0');
}

function intern(list: string[], map: Map<string, number>, s: string): number {
  let i = map.get(s);
  if (i === undefined) {
    i = list.length;
    list.push(s);
    map.set(s, i);
  }
  return i;
}

export function buildMapData(ranges: readonly MergedRange[], report?: AuditReport, labeler?: RegionLabeler): MapData {
  const n = ranges.length;
  const d = {
    count: n, va: new Array<string>(n), end: new Array<string>(n), pa: new Float64Array(n), size: new Float64Array(n),
    pageSize: new Float64Array(n), pages: new Float64Array(n), repeat: new Float64Array(n), stride: new Float64Array(n), perms: new Uint8Array(n), flags: new Uint8Array(n),
    memType: new Uint16Array(n), root: new Uint8Array(n), level: new Uint8Array(n), region: new Int32Array(n).fill(-1),
    severity: new Uint8Array(n), finding: new Int32Array(n).fill(-1),
    memTypes: [] as string[], roots: [] as string[], levels: [] as string[], regions: [] as string[], findings: [] as string[],
    layout: labeler?.layout, summary: report?.summary,
  };
  const mt = new Map<string, number>();
  const rt = new Map<string, number>();
  const lv = new Map<string, number>();
  const rg = new Map<string, number>();
  const starts: bigint[] = new Array(n);
  const spans: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const r = ranges[i];
    const f = r.root.format;
    const va = BigInt(r.root.toVirt(r.start));
    starts[i] = va;
    spans[i] = spanEnd(r) - r.start;
    d.va[i] = vaKey(va);
    d.end[i] = vaKey(va + BigInt(spans[i]));
    d.repeat[i] = repeatCount(r);
    d.stride[i] = r.stride ?? 0;
    d.pa[i] = r.pa;
    d.size[i] = r.size;
    d.pageSize[i] = r.leafSize;
    d.pages[i] = r.pages;
    d.perms[i] = r.perms;
    d.flags[i] = r.flags;
    d.memType[i] = intern(d.memTypes, mt, f.memTypes[r.memType] ?? `#${r.memType}`);
    d.root[i] = intern(d.roots, rt, r.root.name);
    d.level[i] = intern(d.levels, lv, f.levels[r.level].name);
    const label = labeler?.(r.start, r.root);
    if (label) d.region[i] = intern(d.regions, rg, label);
  }
  for (const f of report?.findings ?? []) {
    if (!f.va || !f.end) continue;
    const sev = SEVERITY.indexOf(f.severity);
    const a = BigInt(f.va);
    const z = BigInt(f.end);
    const fi = d.findings.length;
    d.findings.push(f.message);
    // Ranges are in root then VA order: binary search the first range of this root ending after a.
    const ri = d.roots.indexOf(f.root);
    if (ri < 0) continue;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      if (d.root[m] < ri || (d.root[m] === ri && starts[m] + BigInt(spans[m]) <= a)) lo = m + 1;
      else hi = m;
    }
    for (let i = lo; i < n && d.root[i] === ri && starts[i] < z; i++) {
      if (sev > d.severity[i]) d.severity[i] = sev;
      if (d.finding[i] < 0) d.finding[i] = fi;
    }
  }
  return d;
}

export interface MapFilter {
  w?: boolean;
  x?: boolean;
  u?: boolean;
  wx?: boolean;
  /** Audit findings only. */
  findings?: boolean;
  /** Ranges changed since the last (or pinned) stop only (the marks come with the changes). */
  changed?: boolean;
  /** Memory-type name, exact (case-insensitive). */
  memType?: string;
  /** Page size in bytes. */
  pageSize?: number;
  /** "0xffff800000000000-0xffffffffffffffff" or "start+length" (like the CLI's va=). */
  va?: string;
  pa?: string;
  text?: string;
}

const EXEC = ANY_EXEC;
const USER = USER_ANY;

/** "a-b" (exclusive b), "a+len" or "a" → [start, end) as bigints; undefined if malformed. */
export function parseSpan(text: string | undefined): [bigint, bigint] | undefined {
  const t = (text ?? '').trim().replace(/[_']/g, '');
  if (!t) return undefined;
  const num = (s: string): bigint | undefined => (/^(0x[0-9a-f]+|\d+)$/i.test(s.trim()) ? BigInt(s.trim()) : undefined);
  const m = /^([^-+]+)([-+])(.+)$/.exec(t);
  if (!m) {
    const a = num(t);
    return a === undefined ? undefined : [a, a + 1n];
  }
  const a = num(m[1]);
  const b = num(m[3]);
  if (a === undefined || b === undefined) return undefined;
  const end = m[2] === '+' ? a + b : b;
  return end > a ? [a, end] : undefined;
}

/** Row text searched by the free-text filter. */
export function rowText(d: MapData, i: number): string {
  const region = d.region[i] >= 0 ? d.regions[d.region[i]] : '';
  const finding = d.finding[i] >= 0 ? d.findings[d.finding[i]] : '';
  return `${keyHex(d.va[i])} ${keyHex(d.end[i])} 0x${d.pa[i].toString(16)} ${d.memTypes[d.memType[i]]} ${d.roots[d.root[i]]} ${d.levels[d.level[i]]} ${region} ${finding}`.toLowerCase();
}

/** Indices of the rows that pass every filter given, in order. `changed`: per-row change marks (0 none). */
export function filterRows(d: MapData, f: MapFilter, changed?: Uint8Array): Uint32Array {
  const out = new Uint32Array(d.count);
  let k = 0;
  const va = parseSpan(f.va);
  const pa = parseSpan(f.pa);
  const vaA = va && vaKey(va[0]);
  const vaZ = va && vaKey(va[1]);
  const paA = pa && Number(pa[0]);
  const paZ = pa && Number(pa[1]);
  const mt = f.memType ? d.memTypes.findIndex((m) => m.toLowerCase() === f.memType!.toLowerCase()) : -2;
  const text = f.text?.trim().toLowerCase();
  for (let i = 0; i < d.count; i++) {
    const p = d.perms[i];
    if (f.w && !(p & ANY_WRITE)) continue;
    if (f.x && !(p & EXEC)) continue;
    if (f.u && !(p & USER)) continue;
    if (f.wx && !(p & ANY_WRITE && p & EXEC)) continue;
    if (f.findings && d.severity[i] === 0) continue;
    if (f.changed && !(changed && changed[i])) continue;
    if (mt !== -2 && d.memType[i] !== mt) continue;
    if (f.pageSize && d.pageSize[i] !== f.pageSize) continue;
    if (vaA !== undefined && !(d.va[i] < vaZ! && d.end[i] > vaA)) continue;
    if (paA !== undefined && !(d.pa[i] < paZ! && d.pa[i] + d.size[i] > paA)) continue;
    if (text && !rowText(d, i).includes(text)) continue;
    out[k++] = i;
  }
  return out.slice(0, k);
}

/** One row as a plain record (export, the trace request). Same field names as the CLI's JSON. */
export function rowRecord(d: MapData, i: number) {
  const p = d.perms[i];
  return {
    root: d.roots[d.root[i]], va: keyHex(d.va[i]), end: keyHex(d.end[i]), pa: '0x' + d.pa[i].toString(16),
    size: d.size[i], pageSize: d.pageSize[i], pages: d.pages[i], ...(d.repeat[i] > 1 ? { repeat: d.repeat[i], stride: d.stride[i] } : {}), level: d.levels[d.level[i]],
    ...effectiveRights(p), global: (d.flags[i] & Flag.Global) !== 0, memType: d.memTypes[d.memType[i]],
    region: d.region[i] >= 0 ? d.regions[d.region[i]] : '', finding: d.finding[i] >= 0 ? d.findings[d.finding[i]] : '',
    severity: SEVERITY[d.severity[i]],
  };
}

const CSV_COLUMNS = ['root', 'va', 'end', 'pa', 'size', 'pageSize', 'pages', 'level', 'read', 'write', 'exec', 'userRead', 'userWrite', 'userExec', 'user', 'global', 'memType', 'region', 'severity', 'finding', 'repeat', 'stride'] as const;

function csvCell(v: string | number | boolean | undefined): string {
  const s = v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function exportCsv(d: MapData, rows: Iterable<number>): string {
  const out = [CSV_COLUMNS.join(',')];
  for (const i of rows) {
    const r = rowRecord(d, i);
    out.push(CSV_COLUMNS.map((c) => csvCell(r[c])).join(','));
  }
  return out.join('\n') + '\n';
}

export function exportJson(d: MapData, rows: Iterable<number>): string {
  const out: string[] = [];
  for (const i of rows) out.push(JSON.stringify(rowRecord(d, i)));
  return `[\n${out.join(',\n')}\n]\n`;
}
