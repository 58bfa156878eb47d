// `ptview simulate`: map/unmap/protect edits on a shadow copy of the tables, printed as the
// descriptors each edit writes, the TLB maintenance it needs, its hazards, and the range diff.
import { AddressSyntaxError, hex } from '../core/addr';
import { EditError } from '../core/edit/codecs';
import { EDIT_HELP, applyEdit, createdWx, editReportLines, rangeLine } from '../core/edit/script';
import { EditResult, EditSimulator, OLD_LEAF_CAP } from '../core/edit/simulator';
import { FoldLimitError } from '../core/graph';
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
  let ceiling: number | undefined;
  if (o.flushCeiling !== undefined) {
    const v = /^\s*(0x[0-9a-f]+|[0-9]+)\s*$/i.exec(o.flushCeiling) ? BigInt(o.flushCeiling.trim()) : -1n;
    if (v < 0n || v > BigInt(OLD_LEAF_CAP)) throw new EditError(`--flush-ceiling '${o.flushCeiling}' must be a whole number of translations from 0 to ${OLD_LEAF_CAP} (0x-hex or decimal)`);
    ceiling = Number(v);
  }
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
  sim.finish();
  // The diff can be astronomically long (an edit in a table shared 512^3 times): the edits and
  // their TLB maintenance are still shown, and the diff says why it is missing.
  let diff: Awaited<ReturnType<EditSimulator['diff']>> | undefined;
  let diffSkipped: string | undefined;
  try {
    diff = await sim.diff();
  } catch (e) {
    if (!(e instanceof FoldLimitError)) throw e;
    diffSkipped = `range diff not computed: ${e.message}`;
  }
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
      diff: diff ?? null,
      ...(diffSkipped ? { diffSkipped } : {}),
      createsWx: diff ? createdWx(diff) : [],
    }, null, 2));
    return;
  }
  out('');
  if (!diff) {
    out(`note: ${diffSkipped}`);
    return;
  }
  const wx = createdWx(diff);
  if (wx.length) out(`warning: the edits create W+X memory (writable and executable): ${wx.map((r) => `${r.va}-${r.end}`).join(', ')}`);
  out(`ranges after the edits (guest memory unchanged): ${diff.removed.length} removed, ${diff.added.length} added`);
  for (const r of diff.removed) out(`- ${rangeLine(r)}`);
  for (const r of diff.added) out(`+ ${rangeLine(r)}`);
}
