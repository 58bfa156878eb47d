// Simulate Page-Table Edits…: map/unmap/protect on a shadow of the stopped target's tables,
// shown as a diff of the merged ranges with each edit's descriptors and TLB maintenance on top.
// Nothing is written to the guest; the paging logic is src/core/edit.
import * as vscode from 'vscode';
import { EditResult, EditSimulator, RangeDiff } from '../core/edit/simulator';
import { EDIT_HELP, applyEdit, createdWx, editReportLines, plural, rangeLine } from '../core/edit/script';
import { rangeRecord } from '../core/ops/records';
import type { Deps } from './run';
import { withTarget } from './run';

export interface SimulationShown {
  results: EditResult[];
  diff: RangeDiff;
  before: string;
  after: string;
}

let runs = 0;

export async function simulateCommand(deps: Deps, given?: string): Promise<SimulationShown | undefined> {
  const text =
    given ??
    (await vscode.window.showInputBox({
      title: 'ptview: simulate page-table edits (never written to the guest)',
      prompt: 'map VA PA SIZE RIGHTS · unmap VA SIZE · protect VA SIZE -w+x — several separated by ;',
      placeHolder: 'protect 0xffffffff81000000 2M -w; unmap 0x1000 4K',
      validateInput: (v) => (v.trim() ? undefined : EDIT_HELP),
    }));
  if (!text?.trim()) return undefined;
  const specs = text.split(';').map((s) => s.trim()).filter(Boolean);
  return withTarget(deps, 'ptview: simulating edits', async (ready, signal) => {
    const sim = new EditSimulator(ready.space, ready.session.memory);
    const width = ready.space.roots[0]?.format.entryBytes === 4 ? 8 : 16;
    const results: EditResult[] = [];
    const report: string[] = ['# simulated edits — the guest is not written', ''];
    for (const spec of specs) {
      signal.throwIfAborted();
      const r = await applyEdit(sim, spec);
      results.push(r);
      report.push(...editReportLines(r, results.length, width, spec), '');
    }
    const diff = await sim.diff();
    const wx = createdWx(diff);
    if (wx.length) report.push(`# WARNING: the edits create W+X memory (writable and executable): ${wx.map((r) => `${r.va}-${r.end} (${r.root})`).join(', ')}`, '');
    const lines = async (s: typeof ready.session) => (await s.ranges({ signal })).map((r) => rangeLine(rangeRecord(r)));
    report.push('# merged ranges (left: the target now, right: after the edits)', '');
    const before = [...report, ...(await lines(ready.session))].join('\n') + '\n';
    const after = [...report, ...(await lines(sim.session()))].join('\n') + '\n';
    const n = ++runs;
    const left = deps.docs.put(`simulation-${n}-before.txt`, before);
    const right = deps.docs.put(`simulation-${n}-after.txt`, after);
    await vscode.commands.executeCommand('vscode.diff', left, right, `ptview: ${plural(specs.length, 'simulated edit')} (${plural(diff.removed.length, 'range')} removed, ${diff.added.length} added${wx.length ? '; creates W+X' : ''})`);
    return { results, diff, before, after };
  });
}
