// `ptview diff`: the changes between two walks of one guest as text (like `simulate`'s report) or
// JSON Lines (one object per change, leaf objects as `dump --leaves --json` prints them). The TLB
// maintenance is what the architecture required for the change, never what the kernel did:
// ptview cannot see the TLB.
import { hex, sizeLabel } from '../core/addr';
import { Hazard, TlbOp, TlbPlan } from '../core/edit/tlb';
import { DiffChange, EntryEvent, LeafField, SideLeaves, diffSessions } from '../core/ops/diff';
import { rightsString } from '../core/ops/explain';
import { LeafRecord, leafRecord } from '../core/ops/records';
import { PageTableSession } from '../core/ops/session';
import { AddressSpace, Root } from '../core/space';

export interface DiffSide {
  space: AddressSpace;
  session: PageTableSession;
  source: string;
}

export interface DiffCliOptions {
  json?: boolean;
  flushCeiling?: number;
  stats?: boolean;
}

/** `diff --json`: one object per line (docs/cli.md, "Changes between two walks"). */
export type DiffRecord =
  | ({
    kind: 'added' | 'removed' | 'changed'; root: string; va: string; end: string; size: number;
    before: LeafRecord | null; after: LeafRecord | null; beforeLeaves: number; afterLeaves: number;
    fields: LeafField[]; entries: EntryRecord[];
  } & TlbRecord)
  | ({ kind: 'root'; root: string; before: RootRecord | null; after: RootRecord | null; fields: string[] } & TlbRecord)
  | ({ kind: 'entry'; root: string; va: string; end: string } & EntryRecord & TlbRecord)
  | { kind: 'table'; root: string; what: 'freed' | 'allocated'; pa: string; level: string };

export interface EntryRecord {
  what: EntryEvent['what']; level: string; index: number; entryPa: string; beforeEntryPa?: string;
  before: string; after: string; beforeTable?: string; afterTable?: string;
}
export interface TlbRecord { tlb: TlbOp[]; tlbNotes: string[]; translations: number; fullFlush: boolean; hazards: Hazard[] }
export interface RootRecord { tablePa: string; info: Record<string, string> }

const raw = (r: Root, v: bigint) => hex(v, r.format.entryBytes * 2);
const vaOf = (r: Root, linear: number) => BigInt(r.toVirt(linear));

function entryJson(e: EntryEvent): EntryRecord {
  const r = e.root;
  return {
    what: e.what, level: e.levelName, index: e.index, entryPa: hex(e.entryPa),
    ...(e.beforeEntryPa !== e.entryPa ? { beforeEntryPa: hex(e.beforeEntryPa) } : {}),
    before: raw(r, e.before), after: raw(r, e.after),
    ...(e.beforeTable !== undefined ? { beforeTable: hex(e.beforeTable) } : {}),
    ...(e.afterTable !== undefined ? { afterTable: hex(e.afterTable) } : {}),
  };
}

function tlbJson(p: TlbPlan): TlbRecord {
  return { tlb: p.ops, tlbNotes: p.notes, translations: p.translations, fullFlush: p.fullFlush, hazards: p.hazards };
}

/** One JSON object per change (the shape docs/cli.md documents). */
export function changeJson(c: DiffChange): DiffRecord {
  switch (c.kind) {
    case 'root': {
      const st = (s: typeof c.before): RootRecord | null => (s ? { tablePa: hex(s.tablePa), info: Object.fromEntries(s.info) } : null);
      return { kind: 'root', root: c.root, before: st(c.before), after: st(c.after), fields: c.fields, tlb: [], tlbNotes: c.notes, translations: 0, fullFlush: false, hazards: [] };
    }
    case 'entry': {
      const e = c.event;
      return {
        kind: 'entry', root: c.root.name, va: hex(vaOf(c.root, e.start)), end: hex(vaOf(c.root, e.start) + BigInt(e.end - e.start)),
        ...entryJson(e), ...tlbJson(c.plan),
      };
    }
    case 'table':
      return { kind: 'table', root: c.root.name, what: c.what, pa: hex(c.pa), level: c.levelName };
    default: {
      const va = vaOf(c.root, c.start);
      return {
        kind: c.kind, root: c.root.name, va: hex(va), end: hex(va + BigInt(c.end - c.start)), size: c.end - c.start,
        before: c.before ? leafRecord(c.before.first) : null, after: c.after ? leafRecord(c.after.first) : null,
        beforeLeaves: c.before?.count ?? 0, afterLeaves: c.after?.count ?? 0,
        fields: c.fields, entries: c.entries.map(entryJson), ...tlbJson(c.plan),
      };
    }
  }
}

function leafText(s: SideLeaves, withSize = true): string {
  const l = s.first;
  const f = l.root.format;
  return `${withSize ? sizeLabel(l.size).padStart(4) + ' ' : ''}${rightsString(l.perms)} ${(f.memTypes[l.memType] ?? `#${l.memType}`).padEnd(4)} ${f.levels[l.level].name.padEnd(4)} -> ${hex(l.pa)}` +
    `${s.count > 1 ? ` (${s.count} leaves)` : ''}  ${f.flagString(l.lo, l.hi, l.level, l.perms)}`;
}

function tlbText(p: TlbPlan, out: (s: string) => void, indent: string): void {
  if (p.ops.length === 0) out(`${indent}no TLB maintenance required`);
  else {
    out(`${indent}TLB maintenance required (${p.translations} translation${p.translations === 1 ? '' : 's'}${p.fullFlush ? ', full flush' : ''}):`);
    for (const o of p.ops.slice(0, 40)) out(`${indent}  ${o.insn.padEnd(36)} ; ${o.why}`);
    if (p.ops.length > 40) out(`${indent}  … ${p.ops.length - 40} more`);
  }
  for (const n of p.notes) out(`${indent}note: ${n}`);
  for (const h of p.hazards) out(`${indent}HAZARD ${h.kind}: ${h.message}`);
}

function entryText(e: EntryEvent): string {
  const r = e.root;
  const where = `${e.levelName}[${e.index}] @ ${hex(e.entryPa)}${e.beforeEntryPa !== e.entryPa ? ` (was @ ${hex(e.beforeEntryPa)})` : ''}`;
  const tables = e.beforeTable !== undefined || e.afterTable !== undefined
    ? ` (table ${e.beforeTable !== undefined ? hex(e.beforeTable) : '-'} -> ${e.afterTable !== undefined ? hex(e.afterTable) : '-'})` : '';
  return `${where}: ${raw(r, e.before)} -> ${raw(r, e.after)}  ${e.what}${tables}`;
}

export function changeLines(c: DiffChange, out: (s: string) => void): void {
  switch (c.kind) {
    case 'root': {
      const st = (s: typeof c.before) => (s ? `${hex(s.tablePa)}${s.info.length ? ` (${s.info.map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}` : 'none');
      out(`root ${c.root}: ${st(c.before)} -> ${st(c.after)}  [${c.fields.join(', ')}]`);
      for (const n of c.notes) out(`    note: ${n}`);
      return;
    }
    case 'entry': {
      const e = c.event;
      const va = vaOf(c.root, e.start);
      out(`* ${hex(va, 16)}-${hex(va + BigInt(e.end - e.start), 16)} ${sizeLabel(e.end - e.start).padStart(5)} ${entryText(e)}`);
      tlbText(c.plan, out, '    ');
      return;
    }
    case 'table':
      out(`  table ${hex(c.pa)} (${c.levelName}) ${c.what === 'freed' ? 'freed: no root or entry points at it now' : 'allocated: newly pointed at'}`);
      return;
    default: {
      const va = vaOf(c.root, c.start);
      const head = `${hex(va, 16)}-${hex(va + BigInt(c.end - c.start), 16)} ${sizeLabel(c.end - c.start).padStart(5)}`;
      if (c.kind === 'added') out(`+ ${head}  ${leafText(c.after!, false)}`);
      else if (c.kind === 'removed') out(`- ${head}  ${leafText(c.before!, false)}`);
      else {
        out(`~ ${head}  ${c.fields.join(', ')}`);
        out(`    before: ${leafText(c.before!)}`);
        out(`    after:  ${leafText(c.after!)}`);
      }
      for (const e of c.entries) out(`    ${entryText(e)}`);
      tlbText(c.plan, out, '    ');
    }
  }
}

/** Runs the diff and prints it; the exit code is 0 with or without changes. */
export async function runDiff(old: DiffSide, now: DiffSide, o: DiffCliOptions, out: (s: string) => void): Promise<number> {
  const d = await diffSessions(old.session, now.session, { flushCeiling: o.flushCeiling });
  if (o.stats) process.stderr.write(`stats: ${d.stats.tablesCompared} tables compared entry by entry, ${d.stats.tablesIdentical} skipped as byte-identical, ${d.stats.spansWalked} spans of leaves compared\n`);
  if (o.json) {
    for (const c of d.changes) out(JSON.stringify(changeJson(c)));
    return 0;
  }
  out(`old: ${old.source}`);
  out(`new: ${now.source}`);
  let root = '';
  for (const c of d.changes) {
    const name = typeof c.root === 'string' ? c.root : c.root.name;
    if (name !== root && c.kind !== 'table') out(`---[ ${(root = name)} ]---`);
    changeLines(c, out);
  }
  const n = (k: DiffChange['kind']) => d.changes.filter((c) => c.kind === k).length;
  out(d.changes.length === 0
    ? 'no changes'
    : `${n('added')} added, ${n('removed')} removed, ${n('changed')} changed, ${n('entry')} table entries, ${n('table')} tables freed or allocated, ${n('root')} root changes`);
  return 0;
}
