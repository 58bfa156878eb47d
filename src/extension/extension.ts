// Activation glue: the DAP tracker feeds the controller; views, commands, hover and status bar
// read from it. No paging logic here (src/core) and no DAP of our own (src/debug).
import * as vscode from 'vscode';
import { forgetSession, openLiveTarget } from '../debug';
import * as commands from './commands';
import { registerCoreFile } from './coreFile';
import { TargetController, stateKey } from './controller';
import { CTX, OUTPUT_NAME, TRACE_SCHEME, MAP_VIEW_TYPE } from './ids';
import { MapPanels } from './mapPanel';
import { liveOptions } from './settings';
import { StatusBar } from './statusBar';
import { fromAdapter, fromClient } from './tracking';
import { PageTablesView } from './treeView';
import { TranslateHover } from './hover';
import { TranslationWatches, registerWatches } from './watch';
import { StopChanges } from './stopDiff';
import { CMD } from './ids';
import { StopProfiler } from './stopProfile';

/** What tests reach through `vscode.extensions.getExtension(...).exports`. */
export interface PtviewApi {
  controller: TargetController;
  tree: PageTablesView;
  maps: MapPanels;
  watches: TranslationWatches;
  changes: StopChanges;
}

export function activate(ctx: vscode.ExtensionContext): PtviewApi {
  const output = vscode.window.createOutputChannel(OUTPUT_NAME);
  const controller = new TargetController(openLiveTarget, liveOptions);
  const tree = new PageTablesView(controller);
  const docs = new commands.TraceDocuments();
  const profiler = new StopProfiler();
  const deps: commands.Deps = { controller, tree, docs, output, maps: undefined as unknown as MapPanels };
  const maps = new MapPanels(ctx, controller, {
    withTarget: (title, fn) => commands.withTarget(deps, title, fn),
    runTarget: (title, fn, opts) => commands.runTarget(deps, title, fn, opts),
    reveal: (va) => commands.revealCommand(deps, va),
    log: (line) => output.appendLine(line),
    drawn: () => profiler.stop(),
  });
  deps.maps = maps;
  const status = new StatusBar();
  // Groups after the roots, in this order: what the user watches (a few rows), then what changed
  // since the last stop (can be long; its rows would push the watches out of sight).
  const watches = new TranslationWatches(controller, tree, output);
  const changes = new StopChanges(controller, tree, maps, output);
  let lastKind = 'none';

  ctx.subscriptions.push(
    output, tree, maps, status, changes, profiler,
    vscode.commands.registerCommand(CMD.pinBaseline, () => changes.pin()),
    vscode.commands.registerCommand(CMD.unpinBaseline, () => changes.unpin()),
    vscode.workspace.registerTextDocumentContentProvider(TRACE_SCHEME, docs),
    vscode.window.registerWebviewPanelSerializer(MAP_VIEW_TYPE, maps),
    vscode.languages.registerHoverProvider({ scheme: '*' }, new TranslateHover(controller)),
    vscode.debug.registerDebugAdapterTrackerFactory('*', {
      createDebugAdapterTracker(session) {
        const channel = { type: session.type, request: (c: string, a?: unknown) => Promise.resolve(session.customRequest(c, a)) };
        controller.add(session.id, session.name, channel);
        const end = () => {
          watches.sessionEnded(session.id);
          void controller.remove(session.id);
          forgetSession(channel);
        };
        return {
          onWillReceiveMessage: (m) => {
            watches.clientMessage(session.id, m);
            const ev = fromClient(m);
            if (ev) controller.handle(session.id, ev);
          },
          onDidSendMessage: (m) => {
            if (m?.type === 'event') controller.adapterEvent(session.id, m);
            watches.adapterMessage(session.id, m);
            const ev = fromAdapter(m);
            if (ev?.kind === 'stopped') profiler.start();
            if (ev) controller.handle(session.id, ev);
          },
          onExit: end,
          onWillStopSession: end,
        };
      },
    }),
    vscode.debug.onDidChangeActiveDebugSession((s) => controller.setActive(s?.id)),
    vscode.debug.onDidChangeActiveStackItem((item) => item && controller.selectThread(item.session.id, item.threadId)),
    vscode.debug.onDidTerminateDebugSession((s) => {
      watches.sessionEnded(s.id);
      void controller.remove(s.id);
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('ptview.memoryStrategy') || e.affectsConfiguration('ptview.directMapOffset') || e.affectsConfiguration('ptview.adapterDialect')) {
        void controller.reopen();
      } else if (e.affectsConfiguration('ptview.tree')) {
        tree.refresh();
      }
    }),
    controller.onDidChange((s) => {
      void vscode.commands.executeCommand('setContext', CTX.state, stateKey(s));
      status.update(s);
      // The status bar shows the stop's root whether or not the view is open: open the target at
      // once (a failure is kept as the state and shown in the view, never as a toast).
      if (s.kind === 'stopped') void controller.ready().catch(() => undefined);
      // The map follows the stop it shows, when visible (once per change of state kind).
      if (s.kind !== lastKind && (s.kind === 'running' || s.kind === 'waiting' || s.kind === 'none' || s.kind === 'stopped')) void maps.refresh({ ifVisible: true });
      lastKind = s.kind;
    }),
  );
  commands.register(ctx, deps);
  registerWatches(ctx, watches);
  registerCoreFile(ctx);
  void vscode.commands.executeCommand('setContext', CTX.active, true);
  void vscode.commands.executeCommand('setContext', CTX.state, 'none');
  return { controller, tree, maps, watches, changes };
}

export function deactivate(): void {}
