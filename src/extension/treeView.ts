// The Page Tables TreeDataProvider: converts treeModel rows to TreeItems, refreshes on every
// stop, keeps expansion through stable ids, and reveals the entry that maps a VA.
import * as vscode from 'vscode';
import { TargetController } from './controller';
import { VIEW_ID } from './ids';
import { viewSettings } from './settings';
import { PtNode, children, row, rootItems, stepToward } from './treeModel';

export class PageTablesView implements vscode.TreeDataProvider<PtNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<PtNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<PtNode>;
  private generation = -1;
  private lastKind = '';
  private readonly subs: vscode.Disposable[] = [];
  /**
   * Ids of the nodes the user has expanded. VS Code keeps expansion across a refresh of the same
   * nodes, but not across a run (the tree is empty while the target runs): at the next stop
   * these nodes come back expanded.
   */
  readonly expanded = new Set<string>();
  /** Top-level rows of other modules (Watched Translations), after the roots; shown while running too. */
  private readonly extraRoots = new Set<() => PtNode[]>();

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

  refresh(): void {
    this.changed.fire(undefined);
  }

  addRoots(rows: () => PtNode[]): vscode.Disposable {
    this.extraRoots.add(rows);
    return new vscode.Disposable(() => this.extraRoots.delete(rows));
  }

  getTreeItem(n: PtNode): vscode.TreeItem {
    const r = row(n);
    const state = !r.expandable ? vscode.TreeItemCollapsibleState.None
      : this.expanded.has(n.id) ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed;
    const item = new vscode.TreeItem(r.label, state);
    item.id = n.id;
    item.description = r.description;
    item.contextValue = r.contextValue;
    if (r.icon) item.iconPath = new vscode.ThemeIcon(r.icon);
    return item;
  }

  // Tooltips (the full bit explanation) only when hovered.
  resolveTreeItem(item: vscode.TreeItem, n: PtNode): vscode.TreeItem {
    const t = row(n).tooltip;
    if (t) item.tooltip = new vscode.MarkdownString(t);
    return item;
  }

  getParent(n: PtNode): PtNode | undefined {
    return n.kind === 'root' ? undefined : n.parent;
  }

  async getChildren(n?: PtNode): Promise<PtNode[]> {
    const s = this.controller.state();
    const extras = n ? [] : [...this.extraRoots].flatMap((f) => f());
    if (n?.kind === 'extra') return n.children?.() ?? [];
    if (s.kind === 'none' || s.kind === 'waiting' || s.kind === 'running' || s.kind === 'no-memory' || s.kind === 'error') return extras;
    try {
      const ready = await this.controller.ready();
      const t0 = performance.now();
      if (!n) return [...rootItems(ready.space.roots, ready.target.strategy), ...extras];
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
    for (const step of t.trace) {
      if (!node) break;
      kids = await this.getChildren(node);
      let next = stepToward(kids, step.index);
      if (next?.kind === 'chunk') next = stepToward(await this.getChildren(next), step.index);
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
