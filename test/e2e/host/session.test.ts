// In-extension-host tests against a REAL debug session: cdt-gdb-adapter + GDB attached to the
// QEMU x86-64-4level guest the Playwright fixture booted. Expected values come from QEMU
// (info registers / info mem / info tlb / gva2gpa, in $PTVIEW_E2E_ORACLE), never from ptview.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import * as vscode from 'vscode';
import type { Oracle } from './oracle';
import { trackAdapter, until } from './support';


const oracle: Oracle = JSON.parse(fs.readFileSync(process.env.PTVIEW_E2E_ORACLE!, 'utf8'));
let api: any;
let session: vscode.DebugSession;
const events: string[] = [];
/** Debug Console text (output events), for raw GDB commands' replies. */
const outputs: string[] = [];
/** Called with every request VS Code (or ptview) sends to the adapter, before the adapter sees it. */
let onRequest: ((command: string) => void) | undefined;

/** QEMU's PhyMemMode as GDB reads it (`maintenance packet qqemu.PhyMemMode`, reply in the console). */
async function phyMemMode(): Promise<string> {
  const mark = outputs.length;
  await session.customRequest('evaluate', { expression: '>maintenance packet qqemu.PhyMemMode', context: 'repl' });
  const text = await until('the packet reply', () => /received: "([^"]*)"/.exec(outputs.slice(mark).join('')) ?? undefined);
  return text[1];
}

/** Waits for event `name` after position `start` of the event log (take it before the request). */
function waitEvent(name: string, start = events.length, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (events.slice(start).includes(name)) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error(`no '${name}' event within ${ms} ms (saw ${events.slice(start).join(', ')})`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

describe('ptview in a real VS Code with cdt-gdb-adapter + GDB + QEMU', function () {
  before(async () => {
    const ext = vscode.extensions.getExtension('ptview.ptview');
    assert.ok(ext, 'the ptview extension is installed');
    trackAdapter('gdbtarget', {
      request: (_s, command) => onRequest?.(command),
      event: (_s, event, body) => {
        events.push(event);
        if (event === 'output') outputs.push(String(body?.output ?? ''));
      },
    });
    const folder = vscode.workspace.workspaceFolders![0];
    const ok = await vscode.debug.startDebugging(folder, {
      name: 'host test', type: 'gdbtarget', request: 'attach', gdb: 'gdb',
      target: { type: 'remote', parameters: [`127.0.0.1:${oracle.port}`] },
    });
    assert.ok(ok, 'debugging started');
    session = await until('the debug session', () => vscode.debug.activeDebugSession);
    api = await ext!.activate();
    // cdt-gdb-adapter resumes the guest at configurationDone.
    await waitEvent('continued', 0);
  });

  after(async () => {
    if (session) {
      await vscode.debug.stopDebugging(session);
      await new Promise((r) => setTimeout(r, 500));
      if (vscode.debug.activeDebugSession) await vscode.debug.stopDebugging(vscode.debug.activeDebugSession);
    }
  });

  it('says "pause" while the guest runs, without pausing it', async () => {
    await until('running state', () => api.controller.state().kind === 'running');
    await assert.rejects(api.controller.ready(), /running|pause/i);
    const t = await vscode.commands.executeCommand('ptview.translate', '0x12c000');
    assert.equal(t, undefined);
    assert.equal(api.controller.state().kind, 'running', 'still running: ptview did not stop it');
  });

  it('reads CR3 equal to QEMU info registers after a pause', async () => {
    const mark = events.length;
    await session.customRequest('pause', { threadId: 1 });
    await waitEvent('stopped', mark);
    await until('stopped state', () => ['stopped', 'ready'].includes(api.controller.state().kind));
    const ready = await api.controller.ready();
    assert.equal('0x' + ready.target.registers.get('cr3').toString(16), oracle.cr3);
    assert.equal(ready.space.roots[0].format.mode, '4-level');
    // The frame's PC comes with the paging registers (the status bar's choice of active root).
    const st = await session.customRequest('stackTrace', { threadId: 1, startFrame: 0, levels: 1 });
    assert.equal(ready.target.registers.get('pc'), BigInt(st.stackFrames[0].instructionPointerReference));
  });

  it('Translate Virtual Address gives the PA QEMU gva2gpa gives, for every probed VA', async () => {
    const probes = Object.entries(oracle.gpa);
    assert.ok(probes.length > 10);
    for (const [va, pa] of probes) {
      const t: any = await vscode.commands.executeCommand('ptview.translate', va);
      assert.ok(t, `translation of ${va}`);
      if (pa === null) assert.notEqual(t.kind, 'mapped', `${va} is unmapped per QEMU`);
      else assert.equal('0x' + t.pa.toString(16), pa, `${va}`);
    }
  });

  it('the map has every info mem range with the same effective write and user rights', async () => {
    await vscode.commands.executeCommand('ptview.showMap');
    const data = await until('map data', () => api.maps.lastPosted?.type === 'data' && api.maps.lastPosted.data);
    const key = (v: bigint) => v.toString(16).padStart(17, '0');
    // The guest's recursive PML4 slot: QEMU walks through it, ptview reports it (an audit finding
    // of kind 'recursive') and does not descend it. Those windows are QEMU's alone.
    const ready = await api.controller.ready();
    const root = ready.space.roots[0];
    const windows: [bigint, bigint][] = (await ready.session.audit()).findings
      .filter((f: any) => f.kind === 'recursive')
      .map((f: any) => [BigInt(f.va), BigInt(f.va) + (1n << BigInt(root.format.levels.find((l: any) => l.name === f.level).shift))]);
    const inWindow = (va: bigint) => windows.some(([a, z]) => va >= a && va < z);
    assert.ok(windows.length === 0 || oracle.mem.some((m) => inWindow(BigInt(m.start))), 'QEMU maps something through the recursive slot');
    for (const m of oracle.mem.filter((x) => !inWindow(BigInt(x.start)))) {
      // Each info mem range is covered by map rows; check its first and last page.
      for (const va of [BigInt(m.start), BigInt(m.end) - 0x1000n]) {
        const k = key(va);
        const i = data.va.findIndex((s: string, j: number) => s <= k && k < data.end[j]);
        assert.ok(i >= 0, `info mem range ${m.start}-${m.end}: ${'0x' + va.toString(16)} is in the map`);
        assert.equal((data.perms[i] & 2) !== 0, m.write, `write of ${'0x' + va.toString(16)}`);
        assert.equal((data.perms[i] & (8 | 16)) !== 0, m.user, `user of ${'0x' + va.toString(16)}`);
      }
    }
  });

  it('Find Physical Address lists every VA QEMU maps to that frame', async () => {
    const byFrame = new Map<string, string[]>();
    for (const t of oracle.tlb) if (!t.pse) byFrame.set(t.frame, [...(byFrame.get(t.frame) ?? []), t.va]);
    const [frame, vas] = [...byFrame.entries()].sort((a, b) => b[1].length - a[1].length)[0];
    const aliases: any[] = (await vscode.commands.executeCommand('ptview.findPhysical', frame)) as any[];
    const got = new Set(aliases.map((a) => a.va));
    for (const va of vas) assert.ok(got.has(va), `${va} maps ${frame} per info tlb`);
  });

  it('the hover provider translates an address literal in an editor', async () => {
    const doc = await vscode.workspace.openTextDocument({ content: 'x = 0x12c000;\n', language: 'plaintext' });
    await vscode.window.showTextDocument(doc);
    const hovers = (await vscode.commands.executeCommand('vscode.executeHoverProvider', doc.uri, new vscode.Position(0, 7))) as vscode.Hover[];
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : (c as vscode.MarkdownString).value))).join('\n');
    assert.ok(text.includes(`→ ${oracle.gpa['0x12c000']}`), text);
  });

  it('Audit returns the W+X summary line and a finding per W+X range', async () => {
    const report: any = await vscode.commands.executeCommand('ptview.audit', { quiet: true });
    assert.match(report.summary, /W\+X/);
    // QEMU info tlb: a 4 KiB leaf writable and executable by its own bits, effective write from info mem.
    const memWritable = (va: bigint) => oracle.mem.some((m) => BigInt(m.start) <= va && va < BigInt(m.end) && m.write);
    const wx = oracle.tlb.filter((t) => !t.nx && t.write && memWritable(BigInt(t.va)));
    assert.equal(report.wxPages > 0, wx.length > 0);
  });

  it('Simulate Page-Table Edits shows a diff and the INVLPG an unmap needs, and leaves the guest as QEMU sees it', async () => {
    const pa = oracle.gpa['0x12c000']!;
    const r: any = await vscode.commands.executeCommand('ptview.simulate', 'unmap 0x12c000 4K');
    assert.ok(r, 'the simulation ran');
    assert.deepEqual(r.results[0].flush.ops.map((o: { insn: string }) => o.insn), ['invlpg [0x12c000]']);
    assert.ok(r.diff.removed.some((x: { va: string; end: string }) => BigInt(x.va) <= 0x12c000n && 0x12c000n < BigInt(x.end)));
    assert.match(r.after, /invlpg \[0x12c000\]/);
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    assert.ok(tab?.input instanceof vscode.TabInputTextDiff, 'a diff editor is open');
    const t: any = await vscode.commands.executeCommand('ptview.translate', '0x12c000');
    assert.equal(t.pa, Number(BigInt(pa)), 'the real tables still map it (QEMU gva2gpa)');
  });

  it('translates debugger expressions (palette input and the Variables context menu)', async () => {
    const base = BigInt(oracle.gpa['0x12c000']!);
    const t: any = await vscode.commands.executeCommand('ptview.translate', '0x12c000 + 0x10');
    assert.equal(t.pa, Number(base + 0x10n), 'GDB evaluated the expression, ptview translated its value');
    const v: any = await vscode.commands.executeCommand('ptview.translateVariable', { variable: { name: 'p', value: '(char *) 0x12c000 <x>' } });
    assert.equal(t && v.pa, Number(base));
    const e: any = await vscode.commands.executeCommand('ptview.translateVariable', { variable: { name: 'q', value: '{...}', evaluateName: '(unsigned long)0x12c000 + 8' } });
    assert.equal(e.pa, Number(base + 8n));
  });

  it('the tree has the CR3 root, reveals the entry of a VA, and its context actions act on it', async () => {
    const roots = await api.tree.getChildren();
    assert.equal(roots.length, 1);
    assert.equal('0x' + roots[0].root.tablePa.toString(16), '0x' + (BigInt(oracle.cr3) & ~0xfffn).toString(16));
    assert.equal(await vscode.commands.executeCommand('ptview.revealVa', '0x12c000'), true);
    const t: any = await vscode.commands.executeCommand('ptview.translate', '0x12c000');
    let node: any = roots[0];
    for (const step of t.trace) {
      let kids = await api.tree.getChildren(node);
      let next = kids.find((k: any) => (k.kind === 'entry' && k.entry.index === step.index) || (k.kind === 'chunk' && k.entries.some((x: any) => x.index === step.index)));
      if (next?.kind === 'chunk') {
        kids = await api.tree.getChildren(next);
        next = kids.find((k: any) => k.entry.index === step.index);
      }
      node = next;
    }
    assert.equal(node.kind, 'entry');
    const here: any = await vscode.commands.executeCommand('ptview.translateHere', node);
    assert.equal('0x' + here.pa.toString(16), oracle.gpa['0x12c000']);
    const aliases: any[] = (await vscode.commands.executeCommand('ptview.findAliases', node)) as any[];
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen'); // the pick it offers the user
    const frame = oracle.gpa['0x12c000'];
    const want = oracle.tlb.filter((x) => x.frame === frame && !x.pse).map((x) => x.va);
    for (const va of want) assert.ok(aliases.some((a) => a.va === va), `${va} also maps ${frame} per info tlb`);
  });

  it('Choose Memory Strategy switches to monitor xp and the results stay QEMU\'s', async () => {
    try {
      assert.equal(await vscode.commands.executeCommand('ptview.chooseStrategy', 'monitor-xp'), 'monitor-xp');
      const mark = outputs.length;
      const ready = await api.controller.ready();
      assert.equal(ready.target.strategy, 'monitor-xp');
      const t: any = await vscode.commands.executeCommand('ptview.translate', '0x12c000');
      assert.equal('0x' + t.pa.toString(16), oracle.gpa['0x12c000']);
      // The tables came through `monitor xp`, yet nothing of it reached the user's Debug Console
      // (GDB's Python writes ptview's command text to a file instead).
      assert.ok(ready.target.stats.reads > 0 || t.trace.length > 0);
      const printed = outputs.slice(mark).join('');
      assert.doesNotMatch(printed, /xp \/|[0-9a-f]{16}: 0x[0-9a-f]{16}/, printed.slice(0, 400));
    } finally {
      await vscode.commands.executeCommand('ptview.chooseStrategy', 'auto');
    }
    const again = await api.controller.ready();
    assert.notEqual(again.target.strategy, 'monitor-xp');
  });

  it('cancelling the map\'s walk mid-way (phymem-mode) ends cleanly: a cancelled state, not an error; PhyMemMode back at 0; Refresh then builds it', async () => {
    // Test hook: ptview.refresh takes { signal }, aborted here as the progress notification's
    // Cancel button aborts it, at the walk's first readMemory (PhyMemMode is 1 while it is in flight).
    try {
      // Only the map reads during this test: the Page Tables view (which re-reads what it shows at a
      // Refresh, at its own pace, and would open PhyMemMode windows of its own) is hidden.
      await vscode.commands.executeCommand('workbench.view.explorer');
      assert.equal(await vscode.commands.executeCommand('ptview.chooseStrategy', 'phymem-mode'), 'phymem-mode');
      assert.equal((await api.controller.ready()).target.strategy, 'phymem-mode');
      api.maps.lastPosted = undefined;
      await vscode.commands.executeCommand('ptview.showMap');
      let full = await until('map data', () => api.maps.lastPosted?.type === 'data' && api.maps.lastPosted.data);
      // The new webview's 'ready' message rebuilds the map too: let it land before the cancel, or
      // its (uncancelled) rebuild would post data after the cancelled one.
      await until('the map webview ready', () => api.maps.webviewReady === true);
      api.maps.lastPosted = undefined;
      await vscode.commands.executeCommand('ptview.showMap');
      full = await until('map data', () => api.maps.lastPosted?.type === 'data' && api.maps.lastPosted.data);
      assert.ok(full.count > 10);

      const ac = new AbortController();
      let reads = 0;
      onRequest = (c) => {
        if (c === 'readMemory' && ++reads === 1) ac.abort();
      };
      try {
        await vscode.commands.executeCommand('ptview.refresh', { signal: ac.signal });
      } finally {
        onRequest = undefined;
      }
      assert.ok(ac.signal.aborted, 'the rebuilt map read guest memory (and the hook cancelled it)');
      const st = api.maps.lastPosted;
      assert.equal(st?.type, 'status', 'the map shows a status, not (partial) data');
      assert.equal(st.kind, 'cancelled');
      assert.match(st.message, /^Cancelled: .*Refresh/);
      assert.equal(api.controller.state().kind, 'ready', 'a cancelled walk is not a failure of the target');
      // Every batch switches the mode off before it resolves or rejects: 0 at once.
      assert.equal(await phyMemMode(), '0', 'PhyMemMode back at 0 after the cancelled walk');

      // The same stop still reads (no cancelled read was cached), and Refresh builds the whole map.
      const t: any = await vscode.commands.executeCommand('ptview.translate', '0x12c000');
      assert.equal('0x' + t.pa.toString(16), oracle.gpa['0x12c000']);
      api.maps.lastPosted = undefined;
      await vscode.commands.executeCommand('ptview.refresh');
      const again = api.maps.lastPosted;
      assert.equal(again?.type, 'data');
      assert.equal(again.data.count, full.count);
      assert.deepEqual([again.data.va[0], again.data.end[again.data.count - 1]], [full.va[0], full.end[full.count - 1]]);
      // Each batch closes its own window, but the tree may still be loading the entries VS Code
      // asks for after the refresh (each in a one-batch window of its own): once idle, it is 0.
      let mode = await phyMemMode();
      for (const t0 = Date.now(); mode !== '0' && Date.now() - t0 < 2000; mode = await phyMemMode()) await new Promise((r) => setTimeout(r, 100));
      assert.equal(mode, '0', 'PhyMemMode back at 0 once ptview is idle after the rebuilt map');
    } finally {
      await vscode.commands.executeCommand('ptview.chooseStrategy', 'auto');
    }
  });

  it('drops the stop at continue and shows the running state again', async () => {
    await session.customRequest('continue', { threadId: 1 });
    await until('running state', () => api.controller.state().kind === 'running');
    const mark = events.length;
    await session.customRequest('pause', { threadId: 1 });
    await waitEvent('stopped', mark);
    const ready = await api.controller.ready();
    assert.equal('0x' + ready.target.registers.get('cr3').toString(16), oracle.cr3);
  });

  it('a session that ends mid-walk leaves nothing behind; the next session is asked nothing before its first stop, then read', async () => {
    await vscode.commands.executeCommand('workbench.view.explorer');
    assert.equal(await vscode.commands.executeCommand('ptview.chooseStrategy', 'phymem-mode'), 'phymem-mode');
    try {
      assert.equal((await api.controller.ready()).target.strategy, 'phymem-mode');
      let reads = 0;
      let stopping: Thenable<void> | undefined;
      onRequest = (c) => {
        if (c === 'readMemory' && ++reads === 1) stopping = vscode.debug.stopDebugging(session);
      };
      api.maps.lastPosted = undefined;
      try {
        await vscode.commands.executeCommand('ptview.refresh');
      } finally {
        onRequest = undefined;
      }
      assert.ok(stopping, 'the map walk read guest memory (and the hook ended the session)');
      await stopping;
      await until('no session', () => api.controller.state().kind === 'none');
      assert.notEqual(api.maps.lastPosted?.type, 'data', 'no partial map from a session that ended mid-walk');

      // A new session: between its start and its first stop ptview sends it nothing of its own.
      const mark = events.length;
      const ours: string[] = [];
      // Counted until the adapter's first `stopped` event after the pause, as the tracker sees it
      // (synchronously: the stop's own reads follow at once and must not race a flag set later).
      let pauseMark = Infinity;
      onRequest = (c) => {
        if (events.indexOf('stopped', pauseMark) === -1 && (c === 'readMemory' || c === 'evaluate')) ours.push(c);
      };
      const folder = vscode.workspace.workspaceFolders![0];
      assert.ok(await vscode.debug.startDebugging(folder, {
        name: 'host test 2', type: 'gdbtarget', request: 'attach', gdb: 'gdb',
        target: { type: 'remote', parameters: [`127.0.0.1:${oracle.port}`] },
      }));
      session = await until('the second session', () => vscode.debug.activeDebugSession?.name === 'host test 2' && vscode.debug.activeDebugSession);
      await waitEvent('continued', mark);
      assert.ok(['waiting', 'running'].includes(api.controller.state().kind), api.controller.state().kind);
      await vscode.commands.executeCommand('ptview.refresh');
      const before = events.length;
      pauseMark = before;
      await session.customRequest('pause', { threadId: 1 });
      await waitEvent('stopped', before);
      onRequest = undefined;
      assert.deepEqual(ours, [], 'no readMemory/evaluate before the first stop');
      const ready = await api.controller.ready();
      assert.equal('0x' + ready.target.registers.get('cr3').toString(16), oracle.cr3);
      const t: any = await vscode.commands.executeCommand('ptview.translate', '0x12c000');
      assert.equal('0x' + t.pa.toString(16), oracle.gpa['0x12c000']);
      // A window the ended session could not close is cleared at the new session's first stop.
      let mode = await phyMemMode();
      for (const t0 = Date.now(); mode !== '0' && Date.now() - t0 < 2000; mode = await phyMemMode()) await new Promise((r) => setTimeout(r, 100));
      assert.equal(mode, '0');
    } finally {
      onRequest = undefined;
      await vscode.commands.executeCommand('ptview.chooseStrategy', 'auto');
    }
  });
});
