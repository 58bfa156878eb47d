// Shared by the in-extension-host tests: waiting on a condition, seeing what a debug adapter
// sends and receives (a DebugAdapterTracker on every session of a type), and the mocha run an
// extensionTestsPath entry makes.
import path from 'node:path';
import * as vscode from 'vscode';

/** Polls `fn` until it gives a truthy value, which it returns; rejects, naming `what`, after `ms`. */
export async function until<T>(what: string, fn: () => T | undefined | false, ms = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Handlers of the DAP messages of one session (Debug Adapter Protocol: Event and Request). */
export interface AdapterWatch {
  /** Every event the adapter sends. */
  event?(session: vscode.DebugSession, event: string, body: any): void;
  /** Every request sent to the adapter (by VS Code or ptview), before the adapter sees it. */
  request?(session: vscode.DebugSession, command: string): void;
}

/** Registers a debug-adapter tracker on every session of `type` that hands its messages to `watch`. */
export function trackAdapter(type: string, watch: AdapterWatch): vscode.Disposable {
  return vscode.debug.registerDebugAdapterTrackerFactory(type, {
    createDebugAdapterTracker: (session) => ({
      onWillReceiveMessage: (m: any) => {
        if (m.type === 'request') watch.request?.(session, m.command);
      },
      onDidSendMessage: (m: any) => {
        if (m.type === 'event') watch.event?.(session, m.event, m.body);
      },
    }),
  });
}

/** Runs the compiled test file `file` of this folder with mocha, as an extensionTestsPath's run(). */
export async function runMochaFile(file: string): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { Mocha } = require('mocha');
  const mocha = new Mocha({ ui: 'bdd', timeout: 90_000, color: false, reporter: 'spec' });
  mocha.addFile(path.join(__dirname, file));
  await new Promise<void>((resolve, reject) => mocha.run((failures: number) => (failures ? reject(new Error(`${failures} in-extension-host test(s) failed`)) : resolve())));
}
