// The Page Tables TreeDataProvider: converts treeModel rows to TreeItems, refreshes on every
// stop, keeps expansion through stable ids, and reveals the entry that maps a VA. Other modules
// add top-level groups beside the roots (sections: "Changes since last stop", …) and decorate
// the page-table rows (decorators), without this file knowing them.
import * as vscode from 'vscode';
import { TargetController } from './controller';
import { VIEW_ID } from './ids';
import { viewSettings } from './settings';
import { PtNode, Row, children, row, rootItems, stepToward } from './treeModel';

/** A node a section owns; the section alone interprets it. */
export interface SectionNode {
  readonly kind: 'section';
  readonly id: string;
  readonly section: TreeSection;
  readonly parent?: SectionNode;
}

/** A top-level group of the view beside the page-table roots, shown after them. */
export interface TreeSection {
  /** Its top-level nodes now (none: the group is hidden). */
  roots(): SectionNode[];
  /** Shown also while there are no page tables to show (target running, no session yet…). */
  readonly whileRunning?: boolean;
  children(n: SectionNode): SectionNode[] | Promise<SectionNode[]>;
  item(n: SectionNode): vscode.TreeItem;
  resolve?(item: vscode.TreeItem, n: SectionNode): vscode.TreeItem;
}

/** Adds to a page-table row's item (resourceUri for decorations, …) and, on hover, to its tooltip. */
export interface TreeDecorator {
  item?(n: PtNode, item: vscode.TreeItem): void;
  /** Markdown appended to the row's tooltip. */
  tooltip?(n: PtNode): string | undefined;
}

export type ViewNode = PtNode | SectionNode;

/**
 * The item of a row, alike for every row of the view (page tables, sections). `expanded`: the
 * user opened it (an expandable row is drawn open). No tooltip: the caller adds it (the
 * page-table rows only when hovered).
 */
export function rowItem(id: string, r: Row, expanded: boolean): vscode.TreeItem {
  const state = !r.expandable ? vscode.TreeItemCollapsibleState.None
    : expanded ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed;
  const item = new vscode.TreeItem(r.label, state);
  item.id = id;
  item.description = r.description;
  item.contextValue = r.contextValue;
  if (r.icon) item.iconPath = new vscode.ThemeIcon(r.icon, r.iconColor === undefined ? undefined : new vscode.ThemeColor(r.iconColor));
  return item;
}

export class PageTablesView implements vscode.TreeDataProvider<ViewNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ViewNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<ViewNode>;
  readonly sections: TreeSection[] = [];
  readonly decorators: TreeDecorator[] = [];
  private generation = -1;
  private lastKind = '';
  private readonly subs: vscode.Disposable[] = [];
  /**
   * Ids of the nodes the user has expanded. VS Code keeps expansion across a refresh of the same
   * nodes, but not across a run (the tree is empty while the target runs): at the next stop
   * these nodes come back expanded.
   */
  readonly expanded = new Set<string>();

  constructor(private readonly controller: TargetController) {
    this.view = vscode.window.createTreeView(VIEW_ID, { treeDataProvider: this, showCollapseAll: true });
    this.subs.push(
      this.view,
      this.changed,
      this.view.onDidExpandElement((e) => this.expanded.add(e.element.id)),
      this.view.onDidCollapseElement((e) => this.expanded.delete(e.element.id)),
      controller.onDidChange((s) => {
        const gen = s.kind === 'ready' ? s.ready.generation : -1;
        // loading → ready is our own doing: the roots are already being fetched.
        if (s.kind === this.lastKind && gen === this.generation) return;
        const refresh = !(this.lastKind === 'loading' && s.kind === 'ready') && !(this.lastKind === 'stopped' && s.kind === 'loading');
        this.lastKind = s.kind;
        this.generation = gen;
        if (s.kind === 'none') this.expanded.clear();
        // The real cause, once, in the view (the welcome text below it says what to do).
        this.view.message = s.kind === 'error' || s.kind === 'no-memory' ? s.message : undefined;
        if (refresh) this.changed.fire(undefined);
      }),
    );
  }

  /** Redraws `n` and what is below it (all when undefined); `n` must be a node the view was given. */
  refresh(n?: ViewNode): void {
    this.changed.fire(n);
  }

  getTreeItem(n: ViewNode): vscode.TreeItem {
    if (n.kind === 'section') return n.section.item(n);
    const item = rowItem(n.id, row(n), this.expanded.has(n.id));
    for (const d of this.decorators) d.item?.(n, item);
    return item;
  }

  // Tooltips (the full bit explanation) only when hovered.
  resolveTreeItem(item: vscode.TreeItem, n: ViewNode): vscode.TreeItem {
    if (n.kind === 'section') return n.section.resolve?.(item, n) ?? item;
    const extra = this.decorators.map((d) => d.tooltip?.(n)).filter((x): x is string => !!x);
    const t = [row(n).tooltip, ...extra].filter(Boolean).join('\n\n---\n\n');
    if (t) item.tooltip = new vscode.MarkdownString(t);
    return item;
  }

  getParent(n: ViewNode): ViewNode | undefined {
    return n.kind === 'root' ? undefined : n.parent;
  }

  async getChildren(n?: ViewNode): Promise<ViewNode[]> {
    if (n?.kind === 'section') return n.section.children(n);
    const s = this.controller.state();
    // Groups that stay while there are no tables to show (Watched Translations).
    const extras = n ? [] : this.sections.filter((x) => x.whileRunning).flatMap((x) => x.roots());
    if (s.kind === 'none' || s.kind === 'waiting' || s.kind === 'running' || s.kind === 'no-memory' || s.kind === 'error') return extras;
    try {
      const ready = await this.controller.ready();
      const t0 = performance.now();
      if (!n) return [...rootItems(ready.space.roots, ready.target.strategy), ...this.sections.flatMap((x) => x.roots())];
      const opts = viewSettings();
      try {
        return await children(n, ready.session.store, { showInvalid: opts.showInvalid, chunkSize: opts.chunkSize });
      } finally {
        ready.timing.treeMs += performance.now() - t0;
      }
    } catch {
      return extras; // the controller's state now says why; the welcome view shows it
    }
  }

  /** Expands down to the entry that maps `va` (root, then each trace index) and selects it. */
  async reveal(va: bigint): Promise<boolean> {
    const ready = await this.controller.ready();
    const t = await ready.session.translate(va);
    let kids: PtNode[] = rootItems(ready.space.roots, ready.target.strategy);
    let node: PtNode | undefined = kids.find((k) => k.kind === "root" && k.root.name === t.root);
    const pt = async (n: PtNode) => (await this.getChildren(n)).filter((k): k is PtNode => k.kind !== 'section');
    for (const step of t.trace) {
      if (!node) break;
      kids = await pt(node);
      let next = stepToward(kids, step.index);
      if (next?.kind === 'chunk') next = stepToward(await pt(next), step.index);
      if (!next) break;
      node = next;
    }
    if (!node) return false;
    await vscode.commands.executeCommand(`${VIEW_ID}.focus`);
    await this.view.reveal(node, { select: true, focus: true, expand: false });
    return true;
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}
