// Edit scripts: the text form of simulated edits (as `ptview simulate --edit` and the extension's
// Simulate Edits command take them) and their reports as text.
import { hex, parseNumber, sizeLabel } from '../addr';
import { parseSize } from '../ops/filter';
import { RangeRecord } from '../ops/records';
import { EditError, EditRights } from './codecs';
import { EditResult, EditSimulator, RangeDiff } from './simulator';

export const EDIT_HELP = `edits, in order (quote each):
  map VA PA SIZE RIGHTS [global|nonglobal] [memtype=NAME] [max=SIZE]
  unmap VA SIZE
  protect VA SIZE CHANGES
RIGHTS: letters of w x u (read is implied), e.g. rw, rx, rwu, r
CHANGES: +w -w +x -x +u -u, combined, e.g. -w+x`;

function size(text: string): number {
  try {
    return parseSize(text);
  } catch (e) {
    throw new EditError((e as Error).message);
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

/** Parses one edit ('map VA PA SIZE RIGHTS …', 'unmap VA SIZE', 'protect VA SIZE -w+x') and applies it. */
export async function applyEdit(sim: EditSimulator, spec: string): Promise<EditResult> {
  const [verb, ...args] = spec.trim().split(/\s+/);
  // Exactly the arguments the verb takes: a stray token is a typo, not something to ignore.
  const need = (n: number, usage: string, optional = false) => {
    if (args.length < n || (!optional && args.length > n)) throw new EditError(`'${spec}': expected ${usage}\n${EDIT_HELP}`);
  };
  switch (verb?.toLowerCase()) {
    case 'map': {
      need(4, 'map VA PA SIZE RIGHTS', true);
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
      const paBig = parseNumber(args[1], 'physical address');
      if (paBig > BigInt(Number.MAX_SAFE_INTEGER)) throw new EditError(`physical address ${args[1]} is above 2^53 (no supported format has such addresses)`);
      const pa = Number(paBig);
      return sim.map(parseNumber(args[0], 'virtual address'), pa, size(args[2]), { rights: mapRights(args[3]), global, memType, maxPageSize });
    }
    case 'unmap':
      need(2, 'unmap VA SIZE');
      return sim.unmap(parseNumber(args[0], 'virtual address'), size(args[1]));
    case 'protect':
      need(3, 'protect VA SIZE CHANGES');
      return sim.protect(parseNumber(args[0], 'virtual address'), size(args[1]), changes(args[2]));
    default:
      throw new EditError(`unknown edit '${verb ?? ''}'\n${EDIT_HELP}`);
  }
}

const raw = (v: bigint, width: number) => hex(v, width);

/**
 * An edit's report as text lines; consumes its flush report (the text is where it goes). The
 * title is the edit as the user wrote it (`-w`, `+x`), when given.
 */
export function editReportLines(r: EditResult, n: number, width: number, spec?: string): string[] {
  const lines: string[] = [];
  const out = (s: string) => lines.push(s);
  out(`edit ${n}: ${spec?.trim().replace(/\s+/g, ' ') ?? r.edit} (${r.root})`);
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
  return lines;
}

/** "1 range", "2 ranges". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

const isWx = (r: RangeRecord) => r.write && (r.exec || r.userExec);

/** Ranges the edits made writable and executable (W+X that was not W+X before at those VAs). */
export function createdWx(diff: RangeDiff): RangeRecord[] {
  const before = diff.removed.filter(isWx).map((r) => [BigInt(r.va), BigInt(r.end), r.root] as const);
  return diff.added.filter((r) => {
    if (!isWx(r)) return false;
    const a = BigInt(r.va);
    const z = BigInt(r.end);
    return !before.some(([s, e, root]) => root === r.root && s <= a && z <= e);
  });
}

export function rangeLine(r: RangeRecord): string {
  const b = (v: boolean, c: string) => (v ? c : '-');
  const rights = `${b(r.read, 'r')}${b(r.write, 'w')}${b(r.exec, 'x')} ${b(r.userRead, 'r')}${b(r.userWrite, 'w')}${b(r.userExec, 'x')}`;
  return `${r.va.padEnd(18)}-${r.end.padEnd(18)} ${sizeLabel(Number(BigInt(r.end) - BigInt(r.va))).padStart(6)} ${rights} ${r.memType.padEnd(4)} ${r.level.padEnd(4)} -> ${r.pa}${r.repeat ? ` \u00d7${r.repeat} every ${sizeLabel(r.stride!)}` : ''}`;
}

