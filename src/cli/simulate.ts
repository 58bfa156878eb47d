// `ptview simulate`: map/unmap/protect edits on a shadow copy of the tables, printed as the
// descriptors each edit writes, the TLB maintenance it needs, its hazards, and the range diff.
import { AddressSyntaxError, hex, parseAddress, sizeLabel } from '../core/addr';
import { EditError, EditRights } from '../core/edit/codecs';
import { EditResult, EditSimulator } from '../core/edit/simulator';
import { parseSize } from '../core/ops/filter';
import { RangeRecord } from '../core/ops/records';
import { PageTableSession } from '../core/ops/session';
import { AddressSpace } from '../core/space';

export interface SimulateTarget {
  space: AddressSpace;
  session: PageTableSession;
}

export interface SimulateOptions {
  edit: string[];
  json?: boolean;
  flushCeiling?: string;
}

const HELP = `edits, in order (quote each):
  map VA PA SIZE RIGHTS [global|nonglobal] [memtype=NAME] [max=SIZE]
  unmap VA SIZE
  protect VA SIZE CHANGES
RIGHTS: letters of w x u (read is implied), e.g. rw, rx, rwu, r
CHANGES: +w -w +x -x +u -u, combined, e.g. -w+x`;

function size(text: string): number {
  try {
    return parseSize(text);
  } catch {
    const n = Number(parseAddress(text, 'size'));
    if (!Number.isSafeInteger(n)) throw new EditError(`size ${text} is too large`);
    return n;
  }
}

function mapRights(text: string): EditRights {
  if (!/^[rwxu-]+$/i.test(text)) throw new EditError(`rights '${text}': use letters of w x u (read is implied), e.g. rw or rxu`);
  const t = text.toLowerCase();
  return { write: t.includes('w'), exec: t.includes('x'), user: t.includes('u') };
}

function changes(text: string): Partial<EditRights> {
  const out: Partial<EditRights> = {};
  const re = /([+-])([wxu])/gy;
  let m: RegExpExecArray | null;
  let seen = 0;
  while ((m = re.exec(text))) {
    out[({ w: 'write', x: 'exec', u: 'user' } as const)[m[2] as 'w' | 'x' | 'u']] = m[1] === '+';
    seen = re.lastIndex;
  }
  if (seen !== text.length || seen === 0) throw new EditError(`changes '${text}': use +w -w +x -x +u -u, e.g. -w+x`);
  return out;
}

async function apply(sim: EditSimulator, spec: string): Promise<EditResult> {
  const [verb, ...args] = spec.trim().split(/\s+/);
  const need = (n: number, usage: string) => {
    if (args.length < n) throw new EditError(`'${spec}': expected ${usage}\n${HELP}`);
  };
  switch (verb?.toLowerCase()) {
    case 'map': {
      need(4, 'map VA PA SIZE RIGHTS');
      const extra = args.slice(4);
      let global: boolean | undefined;
      let memType: string | undefined;
      let maxPageSize: number | undefined;
      for (const e of extra) {
        if (e === 'global') global = true;
        else if (e === 'nonglobal') global = false;
        else if (e.startsWith('memtype=')) memType = e.slice(8);
        else if (e.startsWith('max=')) maxPageSize = size(e.slice(4));
        else throw new EditError(`'${spec}': unknown map option '${e}' (global, nonglobal, memtype=NAME, max=SIZE)`);
      }
      const pa = Number(parseAddress(args[1], 'physical address'));
      return sim.map(parseAddress(args[0], 'virtual address'), pa, size(args[2]), { rights: mapRights(args[3]), global, memType, maxPageSize });
    }
    case 'unmap':
      need(2, 'unmap VA SIZE');
      return sim.unmap(parseAddress(args[0], 'virtual address'), size(args[1]));
    case 'protect':
      need(3, 'protect VA SIZE CHANGES');
      return sim.protect(parseAddress(args[0], 'virtual address'), size(args[1]), changes(args[2]));
    default:
      throw new EditError(`unknown edit '${verb ?? ''}'\n${HELP}`);
  }
}

const raw = (v: bigint, width: number) => hex(v, width);

function printResult(r: EditResult, n: number, width: number, out: (s: string) => void): void {
  out(`edit ${n}: ${r.edit} (${r.root})`);
  for (const c of r.changes) {
    out(`  ${`${c.levelName}[${c.index}]`.padEnd(9)} @ ${hex(c.entryPa)}: ${raw(c.before, width)} -> ${raw(c.after, width)}  ${c.why}: ${c.beforeKind} -> ${c.afterKind}, ${hex(c.va)} ${sizeLabel(Number(c.end - c.va))}${c.fresh ? ' (new table)' : ''}`);
  }
  if (!r.changes.length) out('  no entry changes (already as asked, or nothing mapped there)');
  if (r.newTables.length) out(`  new tables (simulated frames): ${r.newTables.map((t) => hex(t)).join(', ')}`);
  const ops = r.flush.consume();
  if (ops.length === 0) out('  TLB: no invalidation required');
  else {
    out(`  TLB: ${r.flush.translations} translations${r.flush.fullFlush ? ', full flush' : ''}:`);
    for (const o of ops.slice(0, 40)) out(`    ${o.insn.padEnd(36)} ; ${o.why}`);
    if (ops.length > 40) out(`    … ${ops.length - 40} more`);
  }
  for (const note of r.flush.notes) out(`  note: ${note}`);
  for (const h of r.hazards) out(`  HAZARD ${h.kind}: ${h.message}`);
}

function rangeLine(r: RangeRecord): string {
  const rights = `${r.read ? 'r' : '-'}${r.write ? 'w' : '-'}${r.exec ? 'x' : '-'} ${r.user ? 'u' : '-'}${r.userExec ? 'X' : '-'}`;
  return `${r.va.padEnd(18)}-${r.end.padEnd(18)} ${sizeLabel(Number(BigInt(r.end) - BigInt(r.va))).padStart(6)} ${rights} ${r.memType.padEnd(4)} ${r.level.padEnd(4)} -> ${r.pa}`;
}

export async function runSimulate(t: SimulateTarget, o: SimulateOptions, out: (s: string) => void): Promise<void> {
  if (!o.edit.length) throw new EditError(`give at least one --edit\n${HELP}`);
  const ceiling = o.flushCeiling === undefined ? undefined : Number(o.flushCeiling);
  if (ceiling !== undefined && !(Number.isInteger(ceiling) && ceiling >= 0)) throw new EditError(`--flush-ceiling ${o.flushCeiling} must be a whole number`);
  const sim = new EditSimulator(t.space, t.session.memory, { flushCeiling: ceiling });
  const width = t.space.roots[0]?.format.entryBytes === 4 ? 8 : 16;
  const results: EditResult[] = [];
  try {
    for (const spec of o.edit) {
      const r = await apply(sim, spec);
      results.push(r);
      if (!o.json) printResult(r, results.length, width, out);
      else r.flush.consume();
    }
  } catch (e) {
    if (e instanceof AddressSyntaxError) throw new EditError(`edit ${results.length + 1}: ${e.message}`);
    if (e instanceof EditError && results.length) throw new EditError(`edit ${results.length + 1} ('${o.edit[results.length]}'): ${e.message}`);
    throw e;
  }
  const diff = await sim.diff();
  if (o.json) {
    const big = (v: bigint) => hex(v, width);
    out(JSON.stringify({
      edits: results.map((r) => ({
        edit: r.edit, root: r.root,
        changes: r.changes.map((c) => ({ ...c, va: hex(c.va), end: hex(c.end), entryPa: hex(c.entryPa), before: big(c.before), after: big(c.after), oldLeaves: c.oldLeaves.map((l) => ({ ...l, va: hex(l.va) })) })),
        newTables: r.newTables.map((x) => hex(x)),
        tlb: { ops: r.flush.ops, translations: r.flush.translations, fullFlush: r.flush.fullFlush, notes: r.flush.notes },
        hazards: r.hazards,
      })),
      diff,
    }, null, 2));
    return;
  }
  out('');
  out(`ranges after the edits (guest memory unchanged): ${diff.removed.length} removed, ${diff.added.length} added`);
  for (const r of diff.removed) out(`- ${rangeLine(r)}`);
  for (const r of diff.added) out(`+ ${rangeLine(r)}`);
}
