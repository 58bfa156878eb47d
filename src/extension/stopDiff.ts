// Stop-to-stop changes: at each stop of a debug session the tables reachable from its roots are
// read whole and kept (one snapshot per session and CPU), and compared with the previous stop of
// the same session and CPU, or with a stop the user pinned (Pin This Stop as Baseline). The diff
// and its TLB verdicts are core's (src/core/ops/diff.ts, the simulator's planner); changeModel.ts
// words them. The Page Tables view shows them twice: a "Changes since last stop" group after the
// roots, and marks on the changed rows through a FileDecorationProvider on the rows' resource URIs
// (the way Source Control and Problems colour and badge explorer rows: a TreeItem with a
// resourceUri gets the decoration's colour on its label and its badge at the right edge, which a
// ThemeIcon colour alone cannot give). The group's own rows use coloured ThemeIcons. The map gets
// per-row marks (mapPanel.ts). Nothing is written to the guest and nothing is asked of the
// debugger beyond the reads of the tables, once per stop.
import * as vscode from 'vscode';
import { EntryKind } from '../core/format';
import { diffSessions } from '../core/ops/diff';
import { PageTableSession } from '../core/ops/session';
import { loadTables } from '../core/walker';
import { ChangeIndex, ChangeRow, Mark, NodeKind, NodeRef, groupDescription, markOf, nodePath, parseNodePath } from './changeModel';
import { State, TargetController } from './controller';
import { CMD } from './ids';
import type { MapPanels } from './mapPanel';
import { MapChanges } from './protocol';
import { CpuHistory, Stamped, StopHistory } from './stopHistory';
import { config, liveOptions } from './settings';
import type { PtNode } from './treeModel';
import { type PageTablesView, type SectionNode, type TreeSection, rowItem } from './treeView';

export const DECORATION_SCHEME = 'ptview-pt';
export const CHANGES_CTX = 'ptview.baselinePinned';

export interface Snap {
  readonly generation: number;
  readonly session: PageTableSession;
}

type Stop = Stamped<Snap>;
type PerCpu = CpuHistory<Snap, Comparison>;

/** What the active session's group shows. */
export type Comparison =
  | { readonly kind: 'none' }
  | { readonly kind: 'computing'; readonly baseline: Stop; readonly pinned: boolean }
  | { readonly kind: 'same'; readonly baseline: Stop }
  | { readonly kind: 'ready'; readonly baseline: Stop; readonly current: Stop; readonly pinned: boolean; readonly index: ChangeIndex }
  | { readonly kind: 'error'; readonly baseline: Stop; readonly pinned: boolean; readonly message: string };

interface ChangeNode extends SectionNode {
  readonly role: 'group' | 'ad' | 'change';
  readonly row?: ChangeRow;
}

const COLOR: Record<Mark, string> = {
  added: 'ptview.changes.addedForeground',
  changed: 'ptview.changes.changedForeground',
  removed: 'ptview.changes.removedForeground',
  contains: 'ptview.changes.changedForeground',
};
const BADGE: Record<Mark, string> = { added: 'A', changed: 'M', removed: 'D', contains: '•' };
const ICON: Record<Exclude<Mark, 'contains'>, string> = { added: 'diff-added', changed: 'diff-modified', removed: 'diff-removed' };

export class StopChanges implements vscode.Disposable, vscode.FileDecorationProvider, TreeSection {
  private readonly history = new StopHistory<Snap, Comparison>(() => ({ kind: 'none' }));
  private readonly decorationsChanged = new vscode.EventEmitter<undefined>();
  readonly onDidChangeFileDecorations = this.decorationsChanged.event;
  private readonly changedEmitter = new vscode.EventEmitter<Comparison>();
  /** Fires when the active session's comparison changes (tests wait on it). */
  readonly onDidChange = this.changedEmitter.event;
  private readonly subs: vscode.Disposable[] = [];
  private lastGen = -1;
  private lastFired: Comparison | undefined;
  /** The index whose marks the decorations show (undefined: none). */
  private decorated: ChangeIndex | undefined;
  private groupShown = false;
  /** The group's node: one object, so the view can redraw just it. */
  private readonly group: ChangeNode = { kind: 'section', section: this, id: 'changes/changes', role: 'group' };

  constructor(
    private readonly controller: TargetController,
    private readonly tree: PageTablesView,
    private readonly maps: MapPanels,
    private readonly output: vscode.OutputChannel,
  ) {
    tree.sections.push(this);
    tree.decorators.push({ item: (n, item) => this.decorateItem(n, item), tooltip: (n) => this.tooltipOf(n) });
    maps.changeSource = (d) => this.mapChanges(d);
    this.subs.push(
      this.decorationsChanged,
      this.changedEmitter,
      vscode.window.registerFileDecorationProvider(this),
      controller.onDidChange((s) => this.onState(s)),
      vscode.debug.onDidTerminateDebugSession((s) => {
        this.history.forget(s.id);
        this.fire(false);
      }),
    );
  }

  // ---- snapshots -------------------------------------------------------------------------------

  private enabled(): boolean {
    return config().get<boolean>('changes.enabled', true);
  }

  private onState(st: State): void {
    const id = this.controller.activeSession?.id;
    if (!id) return;
    if (st.kind === 'running') this.history.ran(id);
    if (st.kind === 'ready' && st.ready.generation !== this.lastGen) {
      const generation = (this.lastGen = st.ready.generation);
      const thread = liveOptions().threadId;
      // A strategy change or a thread switch back at the same stop re-reads nothing here: the
      // stop's tables were read whole when it began (and reads in the background would open
      // PhyMemMode windows beside the ones the user's own requests open). A refresh (the user's,
      // memory written, the adapter's invalidated event) reads them again: the memory may have
      // changed during the stop, and the group must show what the tree shows.
      const again = !st.ready.reread && !this.history.isNewStop(id) && this.history.cpu(id, thread)?.current !== undefined;
      if (this.enabled() && !again) {
        // Known before any table is read: the group is among the roots the view is about to ask
        // for, so reading and comparing only redraw the group.
        const next = this.history.upcoming(id, thread);
        const cpu = next && this.history.cpu(id, thread);
        if (next && cpu) cpu.result = { kind: 'computing', baseline: next.base, pinned: next.pinned };
        void this.capture(id, generation);
      }
    }
    // Another session became active, or this one ran: the group and marks follow.
    this.fire(false);
  }

  /** Reads every table of this stop (once: the views share the store), keeps it, and diffs (after the map). */
  private async capture(id: string, generation: number): Promise<void> {
    let ready;
    try {
      ready = await this.controller.ready();
      // The map of this stop first (it loads the tables into the stop's store, which this then
      // finds loaded): the diff's decode would otherwise compete with the map's fold.
      await this.maps.settled();
      if (ready.generation !== generation) return;
      await loadTables(ready.space.roots, ready.session.store);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.output.appendLine(`changes: the tables of this stop were not read: ${message}`);
      // The group said "comparing…": say why it will not, unless the stop is already gone.
      const cpu = this.history.cpu(id, liveOptions().threadId);
      const st = this.controller.state();
      if (cpu?.result.kind === 'computing' && st.kind === 'ready' && st.ready.generation === generation) {
        cpu.result = { kind: 'error', baseline: cpu.result.baseline, pinned: cpu.result.pinned, message: `the tables of this stop could not be read: ${message}` };
        this.fire();
      }
      return;
    }
    // Ran (or was refreshed) while being read: that read is not a stop to keep.
    const now = this.controller.state();
    if (this.controller.activeSession?.id !== id || now.kind !== 'ready' || now.ready.generation !== generation) return;
    await this.compare(this.history.record(id, liveOptions().threadId, { generation, session: ready.session }));
  }

  private async compare(cpu: PerCpu): Promise<void> {
    const current = cpu.current;
    const b = StopHistory.baseline(cpu);
    const baseline = b?.base;
    const pinned = b?.pinned === true;
    if (!current || !baseline) {
      cpu.result = { kind: 'none' };
      return this.fire();
    }
    if (baseline.stop === current.stop) {
      cpu.result = { kind: 'same', baseline };
      return this.fire();
    }
    cpu.result = { kind: 'computing', baseline, pinned };
    this.fire();
    let result: Comparison;
    try {
      const diff = await diffSessions(baseline.snap.session, current.snap.session);
      result = { kind: 'ready', baseline, current, pinned, index: new ChangeIndex(diff, sinceText(baseline, pinned)) };
    } catch (e) {
      result = { kind: 'error', baseline, pinned, message: e instanceof Error ? e.message : String(e) };
    }
    if (cpu.current !== current || (cpu.pinned ?? cpu.previous) !== baseline) return; // superseded
    cpu.result = result;
    this.fire();
  }

  private fire(force = true): void {
    const c = this.active();
    const same = c === this.lastFired || (c.kind === 'none' && this.lastFired?.kind === 'none');
    if (!force && same) return;
    this.lastFired = c;
    void vscode.commands.executeCommand('setContext', CHANGES_CTX, this.activeCpu()?.pinned !== undefined);
    // The marks are the index's: VS Code asks again for every row's decoration when told they
    // changed, so only when the index did (not at "comparing…", which marks nothing either).
    const index = this.index();
    if (index !== this.decorated) this.decorationsChanged.fire(undefined);
    this.decorated = index;
    // The group appearing or going is a change of the roots; otherwise only the group is redrawn
    // (the page-table rows keep their items: their marks come through the decorations above).
    const shown = c.kind !== 'none';
    if (shown !== this.groupShown) this.tree.refresh();
    else if (shown) this.tree.refresh(this.group);
    this.groupShown = shown;
    this.maps.postChanges();
    this.changedEmitter.fire(c);
  }

  private activeCpu(): PerCpu | undefined {
    const id = this.controller.activeSession?.id;
    return id === undefined ? undefined : this.history.cpu(id, liveOptions().threadId);
  }

  /** The active session's comparison (the view, the map and tests read it). */
  active(): Comparison {
    const id = this.controller.activeSession?.id;
    if (!id || this.controller.state().kind !== 'ready' || !this.enabled()) return { kind: 'none' };
    return this.activeCpu()?.result ?? { kind: 'none' };
  }

  private index(): ChangeIndex | undefined {
    const c = this.active();
    return c.kind === 'ready' ? c.index : undefined;
  }

  // ---- pin -----------------------------------------------------------------------------------

  /** Pins the active session's current stop as the baseline; returns its stop number. */
  async pin(): Promise<number | undefined> {
    const id = this.controller.activeSession?.id;
    const cpu = this.activeCpu();
    if (!id || !cpu?.current) {
      void vscode.window.showWarningMessage('ptview: no stop to pin yet: pause the target (its tables are read at each stop).');
      return undefined;
    }
    cpu.pinned = cpu.current;
    await this.compare(cpu);
    return cpu.pinned!.stop;
  }

  async unpin(): Promise<boolean> {
    const id = this.controller.activeSession?.id;
    const cpu = this.activeCpu();
    if (!id || !cpu?.pinned) return false;
    cpu.pinned = undefined;
    await this.compare(cpu);
    return true;
  }

  // ---- tree: the group -------------------------------------------------------------------------

  roots(): SectionNode[] {
    const c = this.active();
    if (c.kind === 'none') return [];
    return [this.group];
  }

  private node(role: ChangeNode['role'], id: string, row?: ChangeRow, parent?: ChangeNode): ChangeNode {
    return { kind: 'section', section: this, id: `changes/${id}`, role, row, parent };
  }

  children(n: SectionNode): SectionNode[] {
    const c = this.active();
    const node = n as ChangeNode;
    if (c.kind !== 'ready') return [];
    if (node.role === 'group') {
      const main = c.index.main.map((r) => this.node('change', r.id, r, node));
      const ad = c.index.adOnly;
      return ad.length ? [...main, this.node('ad', 'ad', undefined, node)] : main;
    }
    if (node.role === 'ad') return c.index.adOnly.map((r) => this.node('change', `ad/${r.id}`, r, node));
    return [];
  }

  item(n: SectionNode): vscode.TreeItem {
    const node = n as ChangeNode;
    const c = this.active();
    if (node.role === 'group') {
      const pinned = c.kind === 'same' || ('pinned' in c && c.pinned);
      const base = c.kind === 'none' ? undefined : c.baseline;
      const since = base ? sinceText(base, pinned) : '';
      // Opened by the user: it opens again at every stop (the view's expanded set, as for the
      // page-table rows), until the user folds it or no session is left.
      const item = rowItem(node.id, {
        label: pinned && base ? `Changes since pinned stop #${base.stop}` : 'Changes since last stop',
        expandable: true,
        contextValue: pinned ? 'changes-pinned' : 'changes',
        icon: 'diff',
        description: c.kind === 'ready' ? groupDescription(c.index)
          : c.kind === 'computing' ? `comparing with ${since}…`
          : c.kind === 'same' ? 'this is the pinned stop: continue to see what changes'
          : c.kind === 'error' ? `cannot compare: ${c.message}` : '',
      }, this.tree.expanded.has(node.id));
      item.tooltip = new vscode.MarkdownString(c.kind === 'error' ? `Cannot compare with ${since}: ${c.message}`
        : `Page-table changes between ${since} and this stop, with the TLB maintenance each one required (ptview cannot see the TLB: "required", not "done"). Accessed/dirty-only changes, the CPU's own bookkeeping, are grouped apart and mark no row.`);
      return item;
    }
    if (node.role === 'ad') {
      const n = c.kind === 'ready' ? c.index.adOnly.length : 0;
      return rowItem(node.id, {
        label: `accessed/dirty only (${n})`,
        expandable: true,
        contextValue: 'changes-ad',
        icon: 'circle-small',
        description: 'set by the CPU as it used the pages: no translation changed',
      }, false);
    }
    const r = node.row!;
    const item = rowItem(node.id, {
      label: r.label,
      description: r.description,
      expandable: false,
      contextValue: `change-${r.kind}`,
      icon: r.adOnly ? 'circle-small' : ICON[r.mark],
      iconColor: COLOR[r.mark],
    }, false);
    if (r.va && r.kind !== 'removed') item.command = { command: CMD.revealVa, title: 'Reveal in Page Tables', arguments: [r.va] };
    return item;
  }

  resolve(item: vscode.TreeItem, n: SectionNode): vscode.TreeItem {
    const r = (n as ChangeNode).row;
    if (r) item.tooltip = new vscode.MarkdownString(r.tooltip);
    return item;
  }

  // ---- tree: marks on the page-table rows --------------------------------------------------------

  private refOf(n: PtNode): NodeRef | undefined {
    if (n.kind === 'root') return { root: n.root.name };
    if (n.kind !== 'entry') return undefined;
    const e = n.entry;
    const kind: NodeKind = e.kind === EntryKind.Leaf ? 'leaf' : e.kind === EntryKind.Table ? 'table' : 'invalid';
    return { root: e.table.root.name, entry: { level: e.table.level, linear: e.linear, size: e.size, kind } };
  }

  private markOfNode(n: PtNode): { mark: Mark; rows: ChangeRow[] } | undefined {
    const index = this.index();
    const ref = this.refOf(n);
    return index && ref && markOf(index, ref);
  }

  private decorateItem(n: PtNode, item: vscode.TreeItem): void {
    if (!this.enabled()) return;
    const ref = this.refOf(n);
    if (!ref) return;
    // Every root and entry row carries a URI naming its place; the provider below gives the mark
    // of the stop shown (colour + badge), so a new diff re-asks decorations without a tree refresh.
    item.resourceUri = vscode.Uri.from({ scheme: DECORATION_SCHEME, path: nodePath(ref) });
    // With a resourceUri, VS Code draws the `file` and `folder` ThemeIcons from the file icon theme
    // (a blank for our URIs): the same glyphs under their other codicon names keep the rows alike.
    const icon = item.iconPath instanceof vscode.ThemeIcon ? item.iconPath.id : undefined;
    if (icon === 'file') item.iconPath = new vscode.ThemeIcon('file-text');
    else if (icon === 'folder') item.iconPath = new vscode.ThemeIcon('symbol-folder');
  }

  private tooltipOf(n: PtNode): string | undefined {
    const m = this.markOfNode(n);
    if (!m) return undefined;
    const c = this.active();
    const since = c.kind === 'ready' ? sinceText(c.baseline, c.pinned) : 'the last stop';
    const head = m.mark === 'contains' ? `**Changes below this entry since ${since}**` : `**${m.mark[0].toUpperCase()}${m.mark.slice(1)} since ${since}**`;
    const rows = m.rows.slice(0, 6).map((r) => `- ${r.label.replace(/[\\`*_[\]#|<>]/g, (ch) => '\\' + ch)} — ${r.description.replace(/[\\`*_[\]#|<>]/g, (ch) => '\\' + ch)}`);
    const more = m.rows.length > 6 ? [`- … ${m.rows.length - 6} more (see Changes since ${c.kind === 'ready' && c.pinned ? 'pinned stop' : 'last stop'})`] : [];
    return [head, '', ...rows, ...more].join('\n');
  }

  provideFileDecoration(uri: vscode.Uri): vscode.FileDecoration | undefined {
    if (uri.scheme !== DECORATION_SCHEME) return undefined;
    const index = this.index();
    const ref = parseNodePath(uri.path);
    const mark = index && ref && markOf(index, ref)?.mark;
    if (!mark) return undefined;
    const words = mark === 'contains' ? 'changes below since the last stop' : `${mark} since the last stop`;
    return new vscode.FileDecoration(BADGE[mark], words, new vscode.ThemeColor(COLOR[mark]));
  }

  // ---- map ------------------------------------------------------------------------------------

  private mapChanges(d: Parameters<ChangeIndex['mapMarks']>[0]): MapChanges | undefined {
    const c = this.active();
    if (c.kind !== 'ready') return undefined;
    const m = c.index.mapMarks(d);
    return { since: sinceText(c.baseline, c.pinned), kind: m.kind, text: m.text, texts: m.texts, removed: m.removed, total: c.index.main.length };
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}

function sinceText(s: Stop, pinned: boolean): string {
  return pinned ? `the pinned stop #${s.stop}` : `the last stop (#${s.stop})`;
}
