// In-extension-host tests of `ptview-core` sessions: QEMU's own dumps (ELF and kdump-zlib) of the
// x86-64-4level guest, opened from a launch configuration as a user's launch.json would.
// Expected values come from QEMU at the moment of the dump (info registers, info cpus, info tlb,
// gva2gpa, xp; written by specs/5-core.spec.ts) and from `ptview dump --core --json` for the
// map's merged ranges (the CLI on the same file, not the extension's code path).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import type { CoreOracle } from './oracle';
import { trackAdapter, until } from './support';

const oracle: CoreOracle = JSON.parse(fs.readFileSync(path.join(path.dirname(process.env.PTVIEW_E2E_ORACLE!), 'core-oracle.json'), 'utf8'));
const events: { session: string; event: string; body?: any }[] = [];
let api: any;

const hexs = (v: bigint) => '0x' + v.toString(16);

before(() => {
  trackAdapter('ptview-core', { event: (s, event, body) => events.push({ session: s.id, event, body }) });
});

for (const format of ['elf', 'kdump-zlib'] as const) {
  describe(`a ptview-core session on QEMU's ${format} dump of x86-64-4level`, function () {
    let session: vscode.DebugSession;
    const file = oracle.files[format];

    before(async () => {
      const ext = vscode.extensions.getExtension('ptview.ptview');
      assert.ok(ext, 'the ptview extension is installed');
      const folder = vscode.workspace.workspaceFolders![0];
      const ok = await vscode.debug.startDebugging(folder, {
        name: `core ${format}`, type: 'ptview-core', request: 'launch', core: file, registers: { EFER: oracle.efer },
      });
      assert.ok(ok, 'debugging started');
      session = await until('the core session', () => vscode.debug.activeDebugSession?.name === `core ${format}` && vscode.debug.activeDebugSession);
      api = await ext!.activate();
      await until('the stopped event', () => events.some((e) => e.session === session.id && e.event === 'stopped'));
    });

    after(async () => {
      if (session) await vscode.debug.stopDebugging(session);
      await until('the session ended', () => !vscode.debug.activeDebugSession, 10_000).catch(() => undefined);
    });

    it('has one stopped thread per CPU of info cpus, each with a frame at the PC info registers gives', async () => {
      const { threads } = await session.customRequest('threads');
      assert.equal(threads.length, oracle.cpus);
      const st = await session.customRequest('stackTrace', { threadId: threads[0].id, startFrame: 0, levels: 20 });
      assert.equal(st.stackFrames.length, 1);
      assert.equal(BigInt(st.stackFrames[0].instructionPointerReference), BigInt(oracle.rip));
      // The frame's source: the adapter's page about the CPU (VS Code focuses a frame only with one).
      const src = st.stackFrames[0].source;
      assert.ok(src?.sourceReference > 0, 'the frame has a source reference');
      const page = await session.customRequest('source', { source: src, sourceReference: src.sourceReference });
      assert.match(page.content, new RegExp(`cr3\\s+${oracle.cr3}\\b`));
      const stop = events.find((e) => e.session === session.id && e.event === 'stopped')!;
      assert.equal(stop.body.allThreadsStopped, true);
    });

    it('has a Registers scope with CR3 and RIP as info registers', async () => {
      const st = await session.customRequest('stackTrace', { threadId: 1, startFrame: 0, levels: 1 });
      const { scopes } = await session.customRequest('scopes', { frameId: st.stackFrames[0].id });
      assert.deepEqual(scopes.map((s: any) => s.name), ['Registers']);
      const { variables } = await session.customRequest('variables', { variablesReference: scopes[0].variablesReference });
      const reg = (n: string) => variables.find((v: any) => v.name === n)?.value;
      assert.equal(BigInt(reg('cr3')), BigInt(oracle.cr3));
      assert.equal(BigInt(reg('rip')), BigInt(oracle.rip));
      assert.equal(BigInt(reg('efer')), BigInt(oracle.efer), 'the register given in the launch configuration');
    });

    it('ptview reads it as a ready target: CR3 as info registers, 4-level, the core-file strategy', async () => {
      const ready = await until('ready', () => api.controller.state().kind === 'ready' || api.controller.state().kind === 'stopped')
        .then(() => api.controller.ready());
      assert.equal(hexs(ready.target.registers.get('cr3')), oracle.cr3);
      assert.equal(ready.target.strategy, 'core-file');
      assert.equal(ready.space.roots[0].format.mode, '4-level');
    });

    it('Translate gives the PA of QEMU gva2gpa for every probed VA', async () => {
      const probes = Object.entries(oracle.gpa);
      assert.ok(probes.length > 10);
      for (const [va, pa] of probes) {
        const t: any = await vscode.commands.executeCommand('ptview.translate', va);
        assert.ok(t, `translation of ${va}`);
        if (pa === null) assert.notEqual(t.kind, 'mapped', `${va} is unmapped per QEMU`);
        else assert.equal(hexs(BigInt(t.pa)), pa, va);
      }
    });

    it('the tree has the CR3 root of info registers', async () => {
      const roots = await api.tree.getChildren();
      assert.equal(roots.length, 1);
      assert.equal(hexs(roots[0].root.tablePa), hexs(BigInt(oracle.cr3) & ~0xfffn));
    });

    it('the map has the merged ranges of ptview dump --core --json, row for row', async () => {
      api.maps.lastPosted = undefined;
      await vscode.commands.executeCommand('ptview.showMap');
      const data = await until('map data', () => api.maps.lastPosted?.type === 'data' && api.maps.lastPosted.data, 60_000);
      const ranges = oracle.ranges[format];
      assert.equal(data.count, ranges.length);
      for (let i = 0; i < ranges.length; i++) {
        assert.equal(hexs(BigInt('0x' + data.va[i])), ranges[i].va, `row ${i} va`);
        assert.equal(hexs(BigInt('0x' + data.end[i])), ranges[i].end, `row ${i} end`);
        assert.equal(hexs(BigInt(data.pa[i])), ranges[i].pa, `row ${i} pa`);
      }
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    });

    it('readMemory returns the bytes QEMU xp gave at the dump, physical and virtual, and says where the core has none', async () => {
      const [va, pa] = [oracle.xp.va, oracle.xp.pa];
      const want = Buffer.from(oracle.xp.bytes, 'hex');
      const phys = await session.customRequest('readMemory', { memoryReference: pa, count: want.length });
      assert.equal(Buffer.from(phys.data, 'base64').toString('hex'), want.toString('hex'), `physical ${pa}`);
      const st = await session.customRequest('stackTrace', { threadId: 1, startFrame: 0, levels: 1 });
      // The debug console's "virt ADDR" gives a memoryReference through CPU 0's tables (as the Memory Inspector would use).
      const ev = await session.customRequest('evaluate', { expression: `virt ${va}`, frameId: st.stackFrames[0].id, context: 'repl' });
      assert.ok(ev.memoryReference, 'the evaluate result has a memory reference');
      const virt = await session.customRequest('readMemory', { memoryReference: ev.memoryReference, count: want.length });
      assert.equal(Buffer.from(virt.data, 'base64').toString('hex'), want.toString('hex'), `virtual ${va}`);
      // Past the end of RAM: nothing read, all unreadable (not zeros).
      const past = await session.customRequest('readMemory', { memoryReference: oracle.pastRam, count: 16 });
      assert.equal(Buffer.from(past.data ?? '', 'base64').length, 0);
      assert.equal(past.unreadableBytes, 16);
    });

    it('refuses continue and step with a reason, and stays stopped and readable', async () => {
      for (const [cmd, args] of [['continue', { threadId: 1 }], ['next', { threadId: 1 }], ['stepIn', { threadId: 1 }]] as const) {
        await assert.rejects(Promise.resolve(session.customRequest(cmd, args)), /core file cannot run/, cmd);
      }
      assert.ok(!events.some((e) => e.session === session.id && e.event === 'continued'), 'no continued event');
      assert.equal(vscode.debug.activeDebugSession?.id, session.id, 'the session is still there');
      const t: any = await vscode.commands.executeCommand('ptview.translate', '0x12c000');
      assert.equal(hexs(BigInt(t.pa)), oracle.gpa['0x12c000']);
      const ready = await api.controller.ready();
      assert.equal(hexs(ready.target.registers.get('cr3')), oracle.cr3);
    });

    it('never writes the core file', () => {
      const st = fs.statSync(file);
      assert.equal(st.mtimeMs, oracle.mtimes[format]);
      assert.equal(st.size, oracle.sizes[format]);
    });
  });
}

describe('a ptview-core session on a two-CPU dump', function () {
  let session: vscode.DebugSession;
  before(async () => {
    const folder = vscode.workspace.workspaceFolders![0];
    assert.ok(await vscode.debug.startDebugging(folder, { name: 'core smp', type: 'ptview-core', request: 'launch', core: oracle.smp!.file, registers: { EFER: oracle.efer } }));
    session = await until('the core session', () => vscode.debug.activeDebugSession?.name === 'core smp' && vscode.debug.activeDebugSession);
    await until('the stopped event', () => events.some((e) => e.session === session.id && e.event === 'stopped'));
  });
  after(async () => {
    if (session) await vscode.debug.stopDebugging(session);
  });

  it('has a thread per CPU, each with its own PC and CR3 as info registers -a', async () => {
    const { threads } = await session.customRequest('threads');
    assert.equal(threads.length, oracle.smp!.cpus.length);
    for (const [i, t] of threads.entries()) {
      const st = await session.customRequest('stackTrace', { threadId: t.id, startFrame: 0, levels: 1 });
      assert.equal(hexs(BigInt(st.stackFrames[0].instructionPointerReference)), oracle.smp!.cpus[i].pc, `CPU ${i} PC`);
      const { scopes } = await session.customRequest('scopes', { frameId: st.stackFrames[0].id });
      const { variables } = await session.customRequest('variables', { variablesReference: scopes[0].variablesReference });
      assert.equal(hexs(BigInt(variables.find((v: any) => v.name === 'cr3').value)), oracle.smp!.cpus[i].cr3, `CPU ${i} CR3`);
    }
  });
});
