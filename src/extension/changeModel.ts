// What changed between two stops, as the views show it: rows of the "Changes since last stop"
// group, the mark (added / changed / removed / contains changes) of a Page Tables node or a map
// row, and the words for each change's before → after and the TLB maintenance it required. The
// diff itself is core's (src/core/ops/diff.ts), with the verdicts of the simulator's planner;
// this module only indexes and words it. Pure (no vscode): unit-tested.
//
// ptview cannot see the TLB: every verdict says what the architecture *required* for the change
// (Intel SDM vol. 3 §4.10.4, Arm ARM D8.13-D8.16, RISC-V privileged spec §4.2.1), never what the
// kernel did.
import { hex, sizeLabel } from '../core/addr';
import { TlbPlan } from '../core/edit/tlb';
import { DiffChange, EntryEvent, SideLeaves, TablesDiff } from '../core/ops/diff';
import { effectiveRights } from '../core/ops/explain';
import { Root } from '../core/space';
import { MapData, vaKey } from './mapData';
import { md, rightsLetters } from './text';

/** How a node or row relates to the changes: itself added / changed / removed, or changes below it. */
export type Mark = 'added' | 'changed' | 'removed' | 'contains';

export interface ChangeRow {
  readonly id: string;
  readonly kind: DiffChange['kind'];
  readonly label: string;
  readonly description: string;
  /** Markdown: before → after, the descriptors, the TLB maintenance required (built when read: shown on hover only). */
  readonly tooltip: string;
  readonly mark: Exclude<Mark, 'contains'>;
  /** Root name (for a root change, the root it names). */
  readonly root: string;
  /** First VA of the change, for Reveal in Page Tables (leaf and entry changes). */
  readonly va?: string;
  /** Only the accessed / dirty bits differ: the CPU's own bookkeeping, not a new translation. */
  readonly adOnly: boolean;
}

const LEAF_KINDS = new Set(['added', 'removed', 'changed']);
type LeafChange = Extract<DiffChange, { kind: 'added' | 'removed' | 'changed' }>;
type EntryChangeRow = Extract<DiffChange, { kind: 'entry' }>;

export function isAdOnly(c: DiffChange): boolean {
  return c.kind === 'changed' && c.fields.length > 0 && c.fields.every((f) => f === 'accessed' || f === 'dirty');
}

const vaOf = (r: Root, linear: number): bigint => BigInt(r.toVirt(linear));

function sideText(s: SideLeaves): string {
  const l = s.first;
  const f = l.root.format;
  const mt = f.memTypes[l.memType] ?? `#${l.memType}`;
  return `${rightsLetters(effectiveRights(l.perms))} ${mt} → ${hex(l.pa)}${s.count > 1 ? ` (${s.count} × ${sizeLabel(l.size)})` : ''}`;
}

function sideMarkdown(s: SideLeaves): string {
  const l = s.first;
  const f = l.root.format;
  const raw = (BigInt(l.hi >>> 0) << 32n) | BigInt(l.lo >>> 0);
  return `${md(sideText(s))} · ${md(sizeLabel(l.size))} ${md(f.levels[l.level].name)} leaf, entry \`${hex(raw, f.entryBytes * 2)}\` · ${md(f.flagString(l.lo, l.hi, l.level, l.perms))}`;
}

/** One line: the instructions required, or that none is. */
export function tlbShort(p: TlbPlan): string {
  if (p.ops.length === 0) return 'no TLB maintenance required';
  const first = p.ops[0].insn;
  return `required: ${first}${p.ops.length > 1 ? ` +${p.ops.length - 1} more` : ''}${p.fullFlush ? ' (full flush)' : ''}`;
}

const code = (s: string) => '`' + s.replace(/`/g, "'") + '`';

/** Markdown lines: every op with why, the notes, the hazards. */
export function tlbMarkdown(p: TlbPlan): string[] {
  const out: string[] = [];
  if (p.ops.length === 0) out.push('**No TLB maintenance required** for this change.  ');
  else {
    out.push(`**TLB maintenance required** (${p.translations} translation${p.translations === 1 ? '' : 's'}${p.fullFlush ? ', a full flush' : ''}), on every CPU that may cache this address space, before the kernel may rely on the change:`, '');
    for (const o of p.ops.slice(0, 20)) out.push(`- ${code(o.insn)} — ${md(o.why)}`);
    if (p.ops.length > 20) out.push(`- … ${p.ops.length - 20} more`);
    out.push('');
  }
  for (const n of p.notes) out.push(`note: ${md(n)}  `);
  for (const h of p.hazards) out.push(`**${md(h.kind)}**: ${md(h.message)}  `);
  return out;
}

function entryLine(e: EntryEvent): string {
  const r = e.root;
  const w = r.format.entryBytes * 2;
  const tables = e.beforeTable !== undefined || e.afterTable !== undefined
    ? ` (table ${e.beforeTable !== undefined ? hex(e.beforeTable) : '–'} → ${e.afterTable !== undefined ? hex(e.afterTable) : '–'})` : '';
  return `${md(e.levelName)}[${e.index}] @ ${md(hex(e.entryPa))}: ${code(hex(e.before, w))} → ${code(hex(e.after, w))} ${md(e.what)}${md(tables)}`;
}

const NOT_SEEN = '_ptview cannot see the TLB: this is what the architecture required for the change, not what the kernel did._';

function leafRow(c: LeafChange, baseline: string): ChangeRow {
  const va = vaOf(c.root, c.start);
  const size = c.end - c.start;
  const sign = c.kind === 'added' ? '+' : c.kind === 'removed' ? '−' : '~';
  const what = c.kind === 'changed' ? ` ${c.fields.join(', ')}` : '';
  const state = c.kind === 'added' ? sideText(c.after!) : c.kind === 'removed' ? `was ${sideText(c.before!)}` : `${sideText(c.before!)} ⇒ ${sideText(c.after!)}`;
  const adOnly = isAdOnly(c);
  const tooltip = () => {
    const tip = [
      `**${c.kind}** ${md(hex(va))}–${md(hex(va + BigInt(size) - 1n))} (${md(sizeLabel(size))}) in ${md(c.root.name.toUpperCase())} since ${md(baseline)}${c.fields.length ? ` · fields: ${md(c.fields.join(', '))}` : ''}  `,
      '',
      `before: ${c.before ? sideMarkdown(c.before) : 'not mapped'}  `,
      `after: ${c.after ? sideMarkdown(c.after) : 'not mapped'}  `,
    ];
    if (c.entries.length) tip.push('', '**Descriptors**', '', ...c.entries.map((e) => `- ${entryLine(e)}`));
    tip.push('', ...tlbMarkdown(c.plan), '', NOT_SEEN);
    return tip.join('\n');
  };
  return {
    id: `leaf:${c.root.name}:${c.start}:${c.kind}`, kind: c.kind, label: `${sign} ${hex(va)} ${sizeLabel(size)}${what}`,
    description: `${state} · ${tlbShort(c.plan)}`, get tooltip() {
      return tooltip();
    },
    mark: c.kind, root: c.root.name, va: hex(va), adOnly,
  };
}

function entryRow(c: EntryChangeRow, baseline: string): ChangeRow {
  const e = c.event;
  const va = vaOf(c.root, e.start);
  const size = e.end - e.start;
  const next = e.afterTable !== undefined ? `→ table @ ${hex(e.afterTable)}` : e.beforeTable !== undefined ? `was table @ ${hex(e.beforeTable)}` : '';
  const tooltip = () => [
    `**${md(e.what)}** of the ${md(e.levelName)} entry covering ${md(hex(va))}–${md(hex(va + BigInt(size) - 1n))} (${md(sizeLabel(size))}) in ${md(c.root.name.toUpperCase())} since ${md(baseline)}  `,
    '',
    `- ${entryLine(e)}`,
    '',
    ...tlbMarkdown(c.plan), '', NOT_SEEN,
  ].join('\n');
  return {
    id: `entry:${c.root.name}:${e.level}:${e.start}`, kind: 'entry', label: `${e.what} ${e.levelName}[${e.index}] ${hex(va)} ${sizeLabel(size)}`,
    description: `${next ? next + ' · ' : ''}${tlbShort(c.plan)}`, get tooltip() {
      return tooltip();
    },
    mark: 'changed', root: c.root.name, va: hex(va), adOnly: false,
  };
}

function rootRow(c: Extract<DiffChange, { kind: 'root' }>, baseline: string): ChangeRow {
  const st = (s: typeof c.before) => (s ? hex(s.tablePa) : 'none');
  const info = (s: typeof c.before, k: string) => s?.info.find(([x]) => x === k)?.[1] ?? '–';
  const fields = c.fields.filter((f) => f !== 'tablePa').map((k) => `${k} ${info(c.before, k)} → ${info(c.after, k)}`);
  const tip = [
    `**root ${md(c.root.toUpperCase())}** switched since ${md(baseline)}: ${md(st(c.before))} → ${md(st(c.after))}  `,
    ...fields.map((f) => `${md(f)}  `),
    '',
    ...c.notes.map((n) => `note: ${md(n)}  `),
    '', NOT_SEEN,
  ];
  return {
    id: `root:${c.root}`, kind: 'root', label: `${c.root.toUpperCase()} ${st(c.before)} → ${st(c.after)}`,
    description: fields.join(' · ') || c.fields.join(', '), tooltip: tip.join('\n'), mark: !c.before ? 'added' : !c.after ? 'removed' : 'changed', root: c.root, adOnly: false,
  };
}

function tableRow(c: Extract<DiffChange, { kind: 'table' }>): ChangeRow {
  const freed = c.what === 'freed';
  const text = freed ? 'no root or entry points at it now' : 'newly pointed at';
  return {
    id: `table:${c.what}:${c.pa}`, kind: 'table', label: `table ${hex(c.pa)} ${c.levelName} ${c.what}`, description: text,
    tooltip: `**${md(c.levelName)} table at ${md(hex(c.pa))} ${md(c.what)}**: ${md(text)}.${freed ? '  \nA freed table may be reused only after the maintenance of the change that unlinked it (see that change).' : ''}`,
    mark: freed ? 'removed' : 'added', root: c.root.name, adOnly: false,
  };
}

/** Rows in the diff's order (root switch first within its root, as the CLI prints them). */
export function changeRows(diff: TablesDiff, baseline = 'the last stop'): ChangeRow[] {
  return diff.changes.map((c) => {
    switch (c.kind) {
      case 'root': return rootRow(c, baseline);
      case 'entry': return entryRow(c, baseline);
      case 'table': return tableRow(c);
      default: return leafRow(c, baseline);
    }
  });
}

interface Span {
  readonly start: number;
  readonly end: number;
  readonly mark: 'added' | 'changed' | 'removed';
  readonly row: ChangeRow;
  /** VA of start. */
  readonly va: bigint;
}

/** Node kinds of the Page Tables view, as far as marks go. */
export type NodeKind = 'leaf' | 'table' | 'invalid';

/**
 * The changes of one diff, indexed by root and linear address for the views' per-row questions
 * (a visible row asks once per render, so lookups are binary searches over the changes).
 * Accessed/dirty-only changes are listed (in their own group) but mark nothing: the CPU sets
 * those bits as it uses a page, they change no translation.
 */
export class ChangeIndex {
  readonly rows: ChangeRow[];
  private readonly spans = new Map<string, Span[]>();
  private readonly entries = new Map<string, ChangeRow>();
  private readonly roots = new Map<string, ChangeRow>();
  private readonly rootsWithChanges = new Set<string>();

  constructor(readonly diff: TablesDiff, readonly baseline = 'the last stop') {
    this.rows = changeRows(diff, baseline);
    diff.changes.forEach((c, i) => {
      const row = this.rows[i];
      if (c.kind === 'root') {
        this.roots.set(c.root, row);
        this.rootsWithChanges.add(c.root);
      } else if (c.kind === 'entry') {
        this.entries.set(`${c.root.name}:${c.event.level}:${c.event.start}`, row);
        this.rootsWithChanges.add(c.root.name);
      } else if (LEAF_KINDS.has(c.kind) && !row.adOnly) {
        const lc = c as LeafChange;
        let list = this.spans.get(lc.root.name);
        if (!list) this.spans.set(lc.root.name, (list = []));
        list.push({ start: lc.start, end: lc.end, mark: lc.kind, row, va: vaOf(lc.root, lc.start) });
        this.rootsWithChanges.add(lc.root.name);
      }
    });
    for (const l of this.spans.values()) l.sort((a, b) => a.start - b.start);
  }

  /** Rows that change translations (everything but the accessed/dirty-only ones). */
  get main(): ChangeRow[] {
    return this.rows.filter((r) => !r.adOnly);
  }

  get adOnly(): ChangeRow[] {
    return this.rows.filter((r) => r.adOnly);
  }

  /** Leaf changes of a root overlapping [start, end). Changes of one root never overlap. */
  overlapping(root: string, start: number, end: number): Span[] {
    const list = this.spans.get(root);
    if (!list) return [];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      if (list[m].end <= start) lo = m + 1;
      else hi = m;
    }
    const out: Span[] = [];
    for (let i = lo; i < list.length && list[i].start < end; i++) out.push(list[i]);
    return out;
  }

  rootMark(root: string): { mark: Mark; rows: ChangeRow[] } | undefined {
    const r = this.roots.get(root);
    if (r) return { mark: r.mark, rows: [r] };
    return this.rootsWithChanges.has(root) ? { mark: 'contains', rows: [] } : undefined;
  }

  /**
   * The mark of the Page Tables node for the entry at `level` covering [linear, linear + size):
   * a leaf (or an invalid entry, where a leaf went) takes the kind of the changes over it; a
   * table entry is `changed` when it is itself a changed descriptor (split, retarget, …), else
   * `contains` when a change lies below it.
   */
  entryMark(root: string, level: number, linear: number, size: number, kind: NodeKind): { mark: Mark; rows: ChangeRow[] } | undefined {
    const own = this.entries.get(`${root}:${level}:${linear}`);
    const spans = this.overlapping(root, linear, linear + size);
    if (kind === 'table') {
      if (own) return { mark: 'changed', rows: [own, ...spans.map((s) => s.row)] };
      return spans.length ? { mark: 'contains', rows: spans.map((s) => s.row) } : undefined;
    }
    const marks = new Set(spans.map((s) => s.mark));
    if (kind === 'invalid') marks.delete('added');
    else marks.delete('removed');
    if (own) marks.add('changed');
    if (marks.size === 0) return undefined;
    const mark = marks.size === 1 ? [...marks][0] : 'changed';
    return { mark, rows: [...(own ? [own] : []), ...spans.filter((s) => marks.has(s.mark) || mark === 'changed').map((s) => s.row)] };
  }

  /**
   * Per map row: 0 unchanged, 1 added, 2 changed (a merged range partly changed counts as
   * changed), and the index of the row's first change in `texts`.
   */
  mapMarks(d: MapData): MapMarks {
    const kind = new Uint8Array(d.count);
    const text = new Int32Array(d.count).fill(-1);
    const texts: string[] = [];
    // Ranges are in root, then VA order.
    const byRoot = new Map<string, [number, number]>();
    for (let i = 0; i < d.count; i++) {
      const name = d.roots[d.root[i]];
      const r = byRoot.get(name);
      if (r) r[1] = i + 1;
      else byRoot.set(name, [i, i + 1]);
    }
    let removed = 0;
    for (const [root, list] of this.spans) {
      const span = byRoot.get(root);
      for (const s of list) {
        if (s.mark === 'removed') {
          removed++;
          continue;
        }
        if (!span) continue;
        const a = vaKey(s.va);
        const z = vaKey(s.va + BigInt(s.end - s.start));
        let lo = span[0];
        let hi = span[1];
        while (lo < hi) {
          const m = (lo + hi) >>> 1;
          if (d.end[m] <= a) lo = m + 1;
          else hi = m;
        }
        const t = texts.length;
        texts.push(`${s.row.label} — ${s.row.description}`);
        for (let i = lo; i < span[1] && d.va[i] < z; i++) {
          const whole = d.va[i] >= a && d.end[i] <= z;
          const k = s.mark === 'added' && whole ? 1 : 2;
          if (k > kind[i]) kind[i] = k;
          if (text[i] < 0) text[i] = t;
        }
      }
    }
    return { kind, text, texts, removed };
  }
}

export interface MapMarks {
  readonly kind: Uint8Array;
  readonly text: Int32Array;
  readonly texts: string[];
  /** Removed ranges: not rows of the map (nothing maps them now). */
  readonly removed: number;
}

/** The Changes group's own row. */
export function groupDescription(index: ChangeIndex | undefined): string {
  if (!index) return '';
  const main = index.main;
  if (main.length === 0 && index.adOnly.length === 0) return 'no changes';
  const n = (k: string) => main.filter((r) => r.kind === k).length;
  const parts = [
    n('root') && `${n('root')} root`, n('added') && `${n('added')} added`, n('removed') && `${n('removed')} removed`,
    n('changed') && `${n('changed')} changed`, n('entry') && `${n('entry')} entries`, n('table') && `${n('table')} tables`,
    index.adOnly.length && `${index.adOnly.length} A/D only`,
  ].filter(Boolean);
  return parts.join(' · ');
}

/** Where a Page Tables row is, as its decoration URI carries it: a root, or an entry of a root. */
export interface NodeRef {
  readonly root: string;
  readonly entry?: { readonly level: number; readonly linear: number; readonly size: number; readonly kind: NodeKind };
}

/**
 * The path of a row's decoration URI. It names the row's place, not its mark, so it stays the same
 * from stop to stop: a new diff only re-asks the decorations, the tree is not rebuilt.
 */
export function nodePath(r: NodeRef): string {
  const root = `/${encodeURIComponent(r.root)}`;
  const e = r.entry;
  return e ? `${root}/${e.level}/${e.linear.toString(16)}/${e.size.toString(16)}/${e.kind}` : root;
}

export function parseNodePath(p: string): NodeRef | undefined {
  const parts = p.split('/').slice(1);
  if (parts.length === 1 && parts[0]) return { root: decodeURIComponent(parts[0]) };
  if (parts.length !== 5) return undefined;
  const [root, level, linear, size, kind] = parts;
  if (!/^\d+$/.test(level) || !/^[0-9a-f]+$/.test(linear) || !/^[0-9a-f]+$/.test(size) || !['leaf', 'table', 'invalid'].includes(kind)) return undefined;
  return { root: decodeURIComponent(root), entry: { level: Number(level), linear: parseInt(linear, 16), size: parseInt(size, 16), kind: kind as NodeKind } };
}

/** The mark of the row a NodeRef names. */
export function markOf(index: ChangeIndex, r: NodeRef): { mark: Mark; rows: ChangeRow[] } | undefined {
  const e = r.entry;
  return e ? index.entryMark(r.root, e.level, e.linear, e.size, e.kind) : index.rootMark(r.root);
}
