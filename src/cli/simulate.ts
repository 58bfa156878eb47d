// `ptview simulate`: map/unmap/protect edits on a shadow copy of the tables, printed as the
// descriptors each edit writes, the TLB maintenance it needs, its hazards, and the range diff.
import { AddressSyntaxError, hex } from '../core/addr';
import { EditError } from '../core/edit/codecs';
import { EDIT_HELP, applyEdit, createdWx, editReportLines, rangeLine } from '../core/edit/script';
import { EditResult, EditSimulator } from '../core/edit/simulator';
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

export async function runSimulate(t: SimulateTarget, o: SimulateOptions, out: (s: string) => void): Promise<void> {
  if (!o.edit.length) throw new EditError(`give at least one --edit\n${EDIT_HELP}`);
  const ceiling = o.flushCeiling === undefined ? undefined : Number(o.flushCeiling);
  if (ceiling !== undefined && !(Number.isInteger(ceiling) && ceiling >= 0)) throw new EditError(`--flush-ceiling ${o.flushCeiling} must be a whole number`);
  const sim = new EditSimulator(t.space, t.session.memory, { flushCeiling: ceiling });
  const width = t.space.roots[0]?.format.entryBytes === 4 ? 8 : 16;
  const results: EditResult[] = [];
  try {
    for (const spec of o.edit) {
      const r = await applyEdit(sim, spec);
      results.push(r);
      if (!o.json) for (const line of editReportLines(r, results.length, width, spec)) out(line);
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
      createsWx: createdWx(diff),
    }, null, 2));
    return;
  }
  out('');
  const wx = createdWx(diff);
  if (wx.length) out(`warning: the edits create W+X memory (writable and executable): ${wx.map((r) => `${r.va}-${r.end}`).join(', ')}`);
  out(`ranges after the edits (guest memory unchanged): ${diff.removed.length} removed, ${diff.added.length} added`);
  for (const r of diff.removed) out(`- ${rangeLine(r)}`);
  for (const r of diff.added) out(`+ ${rangeLine(r)}`);
}
