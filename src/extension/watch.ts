// Break When Translation Changes… (issue 13 item 4): the command, the "Watched Translations"
// group of the Page Tables view and the check at every stop. Planning and arming live in
// src/debug/watchpoints.ts; this module keeps the list per session, shows it, and at each stop
// reads the watched entries again (physical reads of the stop's target) to say which changed,
// before → after, whatever stop reason the adapter gave (cdt-gdb-adapter reports a watchpoint
// trigger as a "generic" stop).
import * as vscode from 'vscode';
import { hex } from '../core/addr';
import { LiveAccessError } from '../debug/api';
import { evaluateAddress } from '../debug/expression';
import { sessionConsole } from '../debug';
import {
  Armed, DapWatchBackend, EntryChange, WatchBackend, WatchPlan, changeText, changedEntries, describeEntry, planWatch,
  sessionWatchBackend, watchSpecs,
} from '../debug/watchpoints';
import { Ready, TargetController } from './controller';
import { liveOptions } from './settings';
import { literalAddress, md } from './text';
import type { PtNode, Row } from './treeModel';
import { type PageTablesView, type SectionNode, type TreeSection, rowItem } from './treeView';

/** A row of the Watched Translations group. */
interface WatchNode extends SectionNode {
  readonly row: Row;
  readonly kids?: () => WatchNode[];
  /** The watch a row stands for (what the remove command acts on). */
  readonly data?: Watch;
}

export const WATCH_CMD = {
  add: 'ptview.watchTranslation',
  remove: 'ptview.unwatchTranslation',
} as const;

export interface Watch {
  readonly id: string;
  readonly sessionId: string;
  plan: WatchPlan;
  armed: Armed[];
  readonly backend: WatchBackend;
  /** Changes seen at the last stop where any entry differed, and that stop's PC. */
  last?: { changes: { text: string; change: EntryChange }[]; pc?: bigint };
  hits: number;
  /** Something the user should know (re-armed after the adapter dropped the watchpoints, …). */
  note?: string;
}

interface SessionWatches {
  backend?: Promise<WatchBackend>;
  /** A kernel-half direct map seen at an earlier stop (for stops that do not map it: KPTI). */
  offset?: bigint;
  /** The data breakpoints VS Code last sent (DAP backend: sent along with ptview's). */
  userDataBreakpoints: unknown[];
  resendAfterResponse?: boolean;
  watches: Watch[];
}

export class TranslationWatches implements vscode.Disposable {
  private readonly sessions = new Map<string, SessionWatches>();
  private seq = 0;
  private lastGeneration = -1;
  private readonly subs: vscode.Disposable[] = [];
  private checking: Promise<void> = Promise.resolve();
  /** Resolves when the check of the latest stop is done (tests wait on it). */
  get settled(): Promise<void> {
    return this.checking;
  }

  constructor(
    private readonly controller: TargetController,
    private readonly tree: PageTablesView,
    private readonly output: vscode.OutputChannel,
  ) {
    tree.sections.push(this);
    this.subs.push(
      controller.onDidChange((s) => {
        if (s.kind !== 'ready' || s.ready.generation === this.lastGeneration) return;
        this.lastGeneration = s.ready.generation;
        const id = controller.activeSession?.id;
        if (id && this.sessions.get(id)?.watches.length) this.checking = this.checking.then(() => this.check(id, s.ready)).catch((e) => this.log(e));
      }),
    );
  }

  /** All watches (tests). */
  list(): readonly Watch[] {
    return [...this.sessions.values()].flatMap((s) => s.watches);
  }

  /** Watches `arg` (a tree entry, a VA or expression text, or asks) in the active session. */
  async add(arg?: unknown): Promise<Watch | undefined> {
    const text = textOf(arg) ?? (await vscode.window.showInputBox({
      title: 'Break When Translation Changes',
      prompt: 'the virtual address whose translation to watch: hex, decimal, or an expression the debugger can evaluate',
      ignoreFocusOut: true,
      validateInput: (t) => (t.trim() ? undefined : 'enter an address or an expression'),
    }));
    if (!text) return undefined;
    try {
      const active = this.controller.activeSession;
      if (!active) throw new LiveAccessError('session-ended', 'no debug session: start debugging a QEMU guest first');
      const where = liveOptions();
      const va = literalAddress(text) ?? (await evaluateAddress(active.channel, text, { threadId: where.threadId, frameId: where.frameId }));
      const ready = await this.controller.ready();
      const s = this.session(active.id);
      const plan = await planWatch(ready.session, va, { directMapOffset: liveOptions().directMapOffset ?? s.offset });
      if (plan.directMapOffset !== undefined) s.offset = plan.directMapOffset;
      s.backend ??= sessionWatchBackend(
        await sessionConsole(active.channel, active.observer, liveOptions()),
        active.channel,
        active.observer.capabilities?.supportsDataBreakpoints === true,
        ready.target.arch,
        () => s.userDataBreakpoints,
      ).catch((e) => {
        s.backend = undefined; // a session that cannot is asked again next time
        throw e;
      });
      const backend = await s.backend;
      const armed = await backend.arm(watchSpecs(plan));
      const w: Watch = { id: `w${++this.seq}`, sessionId: active.id, plan, armed, backend, hits: 0 };
      s.watches.push(w);
      this.output.appendLine(`watching the translation of ${hex(va)}: ${plan.entries.map((e) => `${e.levelName}[${e.index}]`).join(' → ')}, ${armed.length} watchpoint(s) through ${backend.mechanism} (${plan.how})`);
      this.tree.refresh();
      await this.show(w, false);
      return w;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.output.appendLine(`error: Break When Translation Changes ${text}: ${msg}`);
      void vscode.window.showErrorMessage(`ptview: cannot break when the translation of ${text} changes: ${msg}`);
      return undefined;
    }
  }

  /** Removes a watch (a tree row of it, or its id). */
  async remove(arg?: unknown): Promise<boolean> {
    const id = typeof arg === 'string' ? arg : (arg as WatchNode | undefined)?.data?.id;
    // GDB changes a remote target's watchpoints only while it is stopped (cdt-gdb-adapter pauses
    // and resumes the guest for its own); ptview never pauses it.
    const running = this.controller.state().kind;
    if (running === 'running' || running === 'waiting') {
      void vscode.window.showWarningMessage('ptview: pause the target to remove a watched translation (the debugger changes watchpoints only while it is stopped)');
      return false;
    }
    for (const s of this.sessions.values()) {
      const i = s.watches.findIndex((w) => w.id === id);
      if (i < 0) continue;
      const [w] = s.watches.splice(i, 1);
      this.tree.refresh();
      await w.backend.disarm(w.armed.map((a) => a.id)).catch((e) => this.log(e));
      return true;
    }
    return false;
  }

  /** The session ended: its debugger (and with it every watchpoint) is gone. */
  sessionEnded(id: string): void {
    if (this.sessions.delete(id)) this.tree.refresh();
  }

  /** What VS Code sends the adapter: its data-breakpoint set, to send along with ptview's. */
  clientMessage(sessionId: string, m: { type?: string; command?: string; arguments?: { breakpoints?: { dataId?: string }[] } }): void {
    if (m?.type !== 'request' || m.command !== 'setDataBreakpoints') return;
    const s = this.sessions.get(sessionId);
    if (!s) return;
    const bps = m.arguments?.breakpoints ?? [];
    const dap = s.watches.map((w) => w.backend).find((b): b is DapWatchBackend => b instanceof DapWatchBackend);
    if (dap?.isOwn(bps)) return;
    s.userDataBreakpoints = bps;
    // VS Code's set just replaced ptview's in the adapter: send both once it has answered.
    s.resendAfterResponse = dap !== undefined;
  }

  adapterMessage(sessionId: string, m: { type?: string; command?: string }): void {
    if (m?.type !== 'response' || m.command !== 'setDataBreakpoints') return;
    const s = this.sessions.get(sessionId);
    if (!s?.resendAfterResponse) return;
    s.resendAfterResponse = false;
    const dap = s.watches.map((w) => w.backend).find((b): b is DapWatchBackend => b instanceof DapWatchBackend);
    void dap?.send().catch((e: unknown) => this.log(e));
  }

  private session(id: string): SessionWatches {
    let s = this.sessions.get(id);
    if (!s) {
      s = { userDataBreakpoints: [], watches: [] };
      this.sessions.set(id, s);
    }
    return s;
  }

  /** At a stop: which watched entries changed; watchpoints the adapter dropped are set again. */
  private async check(sessionId: string, ready: Ready): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    const hits: Watch[] = [];
    for (const w of s.watches) {
      const changes = await changedEntries(ready.target.memory, w.plan.entries);
      if (changes.length) {
        w.hits++;
        w.last = { changes: changes.map((c) => ({ text: changeText(w.plan.format, c), change: c })), pc: ready.target.registers.get('pc') };
        for (const c of changes) c.entry.raw = c.after;
        hits.push(w);
        await this.replan(w, ready, s);
      }
      await this.rearmDropped(w);
    }
    this.tree.refresh();
    if (hits.length) await this.show(hits[0], true);
    for (const w of hits) {
      const pc = w.last?.pc === undefined ? '' : ` at ${hex(w.last.pc)}`;
      const text = `the translation of ${hex(w.plan.va)} changed${pc}: ${w.last!.changes.map((c) => c.text).join('; ')}`;
      this.output.appendLine(text);
      void vscode.window.showInformationMessage(`ptview: ${text}`);
    }
  }

  /**
   * Scrolls the view to a watch's row (after a hit: to its first change, its row expanded), so
   * that it is seen even when the tree is scrolled deep into a table; the focus stays where it is.
   */
  private async show(w: Watch, hit: boolean): Promise<void> {
    const row = this.rootRows()[0]?.kids?.().find((k) => k.data === w);
    const target = hit ? (row?.kids?.()[0] ?? row) : row;
    if (!target) return;
    try {
      await this.tree.view.reveal(target, { select: true, focus: false, expand: false });
    } catch (e) {
      this.log(e); // the row went meanwhile (the session ended): nothing to show
    }
  }

  /** A table entry that now points elsewhere moves the walk: watch the new entries instead. */
  private async replan(w: Watch, ready: Ready, s: SessionWatches): Promise<void> {
    let plan: WatchPlan;
    try {
      plan = await planWatch(ready.session, w.plan.va, { directMapOffset: liveOptions().directMapOffset ?? s.offset });
    } catch (e) {
      w.note = `the walk could not be followed again: ${(e as Error).message}`;
      return;
    }
    const key = (p: WatchPlan) => watchSpecs(p).map((x) => x.va).join(',');
    if (key(plan) === key(w.plan)) return;
    await w.backend.disarm(w.armed.map((a) => a.id)).catch((e) => this.log(e));
    try {
      w.armed = await w.backend.arm(watchSpecs(plan));
      w.plan = plan;
      w.note = 'the walk now goes through other tables: their entries are watched now';
    } catch (e) {
      w.armed = [];
      w.note = `the walk now goes through other tables, which could not be watched: ${(e as Error).message}`;
    }
  }

  /**
   * cdt-gdb-adapter's setDataBreakpoints (VS Code sends it whenever the user's data breakpoints
   * change) deletes every GDB watchpoint not in VS Code's list, ptview's included.
   */
  private async rearmDropped(w: Watch): Promise<void> {
    const have = await w.backend.alive?.(w.armed.map((a) => a.id)).catch(() => undefined);
    if (!have) return;
    const gone = w.armed.filter((a) => !have.has(a.id));
    if (!gone.length) return;
    try {
      const again = await w.backend.arm(gone.map((a) => a.spec));
      w.armed = [...w.armed.filter((a) => have.has(a.id)), ...again];
      w.note = `${gone.length} watchpoint(s) had been deleted by the adapter (cdt-gdb-adapter replaces GDB's watchpoints with VS Code's data breakpoints) and were set again at this stop`;
    } catch (e) {
      w.note = `${gone.length} watchpoint(s) were deleted by the adapter and could not be set again: ${(e as Error).message}`;
    }
  }

  dispose(): void {
    for (const d of this.subs) d.dispose();
  }

  private log(e: unknown): void {
    this.output.appendLine(`error: watched translations: ${e instanceof Error ? e.message : String(e)}`);
  }

  // ---- rows -------------------------------------------------------------------------------

  // ---- TreeSection: the group stays while the target runs (the watchpoints are armed then) ----

  readonly whileRunning = true;

  roots(): SectionNode[] {
    return this.rootRows();
  }

  children(n: SectionNode): SectionNode[] {
    return (n as WatchNode).kids?.() ?? [];
  }

  item(n: SectionNode): vscode.TreeItem {
    const r = (n as WatchNode).row;
    const item = rowItem(n.id, r, this.tree.expanded.has(n.id));
    if (r.tooltip) item.tooltip = new vscode.MarkdownString(r.tooltip);
    return item;
  }

  private rootRows(): WatchNode[] {
    const id = this.controller.activeSession?.id;
    const s = id === undefined ? undefined : this.sessions.get(id);
    if (!s?.watches.length) return [];
    const group: WatchNode = {
      kind: 'section',
      section: this,
      id: 'watched-translations',
      row: {
        label: 'Watched Translations',
        description: `${s.watches.length} · ${s.watches[0].backend.mechanism}`,
        tooltip: 'The debugger stops when any entry of these walks is written (a write watchpoint on each entry, at every VA the kernel can write it through).',
        expandable: true,
        contextValue: 'watchGroup',
        icon: 'eye',
      },
      kids: () => s.watches.map((w) => watchRow(this, w, group)),
    };
    return [group];
  }
}

function textOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg.trim() || undefined;
  if (typeof arg === 'bigint') return hex(arg);
  const n = arg as PtNode | undefined;
  if (n?.kind === 'entry') return hex(n.entry.va);
  // A map row's context menu: the range's first VA (media/map.ts data-vscode-context).
  const va = (arg as { va?: unknown } | undefined)?.va;
  return typeof va === 'string' ? va : undefined;
}

function watchRow(section: TreeSection, w: Watch, parent: WatchNode): WatchNode {
  const e = w.plan.entries;
  const hit = w.last;
  const pc = hit?.pc === undefined ? '' : ` at ${hex(hit.pc)}`;
  const self: WatchNode = {
    kind: 'section',
    section,
    id: `watched-translations/${w.id}`,
    parent,
    data: w,
    row: {
      label: hex(w.plan.va),
      description: hit ? `changed${pc} · ${hit.changes.map((c) => `${c.change.entry.levelName}[${c.change.entry.index}]`).join(', ')}` : `${e.map((x) => x.levelName).join(' → ')} · ${w.armed.length} watchpoints`,
      tooltip: [
        `**${md(hex(w.plan.va))}** (${md(w.plan.root)}): a write watchpoint on each entry of its walk, through ${md(w.backend.mechanism)}  `,
        `watched at: ${md(w.plan.how)}  `,
        ...(w.note ? [`**${md(w.note)}**  `] : []),
        '',
        ...e.map((x) => `- ${md(`${x.levelName}[${x.index}]`)} at PA ${md(hex(x.entryPa))}: ${x.vas.map((v) => md(hex(v))).join(', ')}`),
      ].join('\n'),
      expandable: true,
      contextValue: 'watch',
      icon: hit ? 'bell-dot' : 'eye',
    },
    kids: () => [
      ...(hit?.changes ?? []).map((c, i): WatchNode => ({
        kind: 'section',
        section,
        id: `${self.id}/change${i}`,
        parent: self,
        row: {
          label: `${c.change.entry.levelName}[${c.change.entry.index}] changed`,
          description: `${hex(c.change.before)} → ${hex(c.change.after)}`,
          tooltip: `**${md(c.text.split(':')[0])}** changed${md(pc)}  \nbefore: \`${hex(c.change.before, c.change.entry.bytes * 2)}\` ${md(describeEntry(w.plan.format, c.change.entry.level, c.change.before))}  \nafter: \`${hex(c.change.after, c.change.entry.bytes * 2)}\` ${md(describeEntry(w.plan.format, c.change.entry.level, c.change.after))}`,
          expandable: false,
          contextValue: 'watchChange',
          icon: 'diff-modified',
        },
      })),
      ...e.map((x, i): WatchNode => ({
        kind: 'section',
        section,
        id: `${self.id}/entry${i}`,
        parent: self,
        row: {
          label: `${x.levelName}[${x.index}] @ ${hex(x.entryPa)}`,
          // What it means first: at the sidebar's default width the raw value would hide it.
          description: `${describeEntry(w.plan.format, x.level, x.raw)} · ${hex(x.raw, x.bytes * 2)}`,
          tooltip: `watched at ${x.vas.map((v) => md(hex(v))).join(', ')}`,
          expandable: false,
          contextValue: 'watchEntry',
          icon: 'symbol-field',
        },
      })),
    ],
  };
  return self;
}

export function registerWatches(ctx: vscode.ExtensionContext, watches: TranslationWatches): void {
  ctx.subscriptions.push(
    watches,
    vscode.commands.registerCommand(WATCH_CMD.add, (a?: unknown) => watches.add(a)),
    vscode.commands.registerCommand(WATCH_CMD.remove, (a?: unknown) => watches.remove(a)),
  );
}

