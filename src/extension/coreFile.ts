// The ptview-core debug type in VS Code: the adapter (src/debug/coreAdapter.ts) runs inline in
// the extension host, and "ptview: Open Core File…" starts a session on a picked file after
// asking for the registers the core does not carry (found by building the address space).
import * as vscode from 'vscode';
import { parseAddress } from '../core/addr';
import { spaceFromRegisters } from '../core/formats';
import { coreRegisters, openCore } from '../core/sources';
import { RegisterError } from '../core/space';
import { CORE_DEBUG_TYPE, PtviewCoreSession } from '../debug/coreAdapter';

export function registerCoreFile(ctx: vscode.ExtensionContext): void {
  ctx.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory(CORE_DEBUG_TYPE, {
      // DebugSession implements the inline adapter shape (handleMessage, onDidSendMessage).
      createDebugAdapterDescriptor: () => new vscode.DebugAdapterInlineImplementation(new PtviewCoreSession() as unknown as vscode.DebugAdapter),
    }),
    vscode.commands.registerCommand('ptview.openCoreFile', (uri?: vscode.Uri) => openCoreFile(uri)),
    // The frames' CPU pages (debug: documents the adapter serves) cannot be read once the session
    // has ended: close them with it rather than leave editors that fail to resolve.
    vscode.debug.onDidTerminateDebugSession((s) => {
      if (s.type !== CORE_DEBUG_TYPE) return;
      const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => {
        const uri = t.input instanceof vscode.TabInputText ? t.input.uri : undefined;
        return uri?.scheme === 'debug' && new URLSearchParams(uri.query).get('session') === s.id;
      });
      if (tabs.length) void vscode.window.tabGroups.close(tabs);
    }),
  );
}

/** Picks a core, asks for missing registers one at a time, starts the session; returns whether it started. */
export async function openCoreFile(uri?: vscode.Uri): Promise<boolean> {
  const file = uri ?? (await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Open Core', title: 'ptview: Open Core File' }))?.[0];
  if (!file) return false;
  const registers: Record<string, string> = {};
  const core = await openCore(file.fsPath).catch((e: Error) => e);
  if (core instanceof Error) {
    void vscode.window.showErrorMessage(`ptview: ${core.message}`);
    return false;
  }
  try {
    for (let i = 0; i < 8; i++) {
      const given = new Map(Object.entries(registers).map(([k, v]) => [k.toLowerCase(), parseAddress(v, k)]));
      try {
        spaceFromRegisters(core.arch, coreRegisters(core, 0, given).registers);
        break;
      } catch (e) {
        if (!(e instanceof RegisterError)) throw e;
        const m = /register (\w+) is required/.exec(e.message);
        const answer = await vscode.window.showInputBox({
          title: `ptview: ${core.arch} core`,
          // The reason without the CLI's "give it with --reg …" tail: here it is typed below.
          prompt: `${e.message.replace(/;\s*give it with --reg .*$/, '')}. Type NAME=VALUE (Escape: open the core without it).`,
          placeHolder: m ? `${m[1]}=0x…` : 'NAME=VALUE',
          validateInput: (v) => (/^[A-Za-z][A-Za-z0-9_]*=\s*(0x[0-9a-fA-F]+|\d+)$/.test(v.trim()) ? undefined : 'NAME=VALUE, e.g. EFER=0xd01'),
        });
        if (!answer) break; // the session still opens; the views say what is missing
        const [name, value] = answer.split('=');
        registers[name.trim().toUpperCase()] = value.trim();
      }
    }
  } finally {
    await core.close();
  }
  return vscode.debug.startDebugging(undefined, { type: CORE_DEBUG_TYPE, request: 'launch', name: `core: ${file.fsPath.split(/[\\/]/).pop()}`, core: file.fsPath, registers });
}
