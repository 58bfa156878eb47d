// Dialect selection and command building for the adapters we cannot run here, against their
// documented request/response shapes (fakeAdapters.ts), plus openLiveTarget end to end on those
// fakes: registers, strategy choice, physical bytes, PhyMemMode restored, never pause/resume.
import assert from 'node:assert/strict';
import { PhysAddr } from '../../../src/core/addr';
import { MemoryReadError } from '../../../src/core/memory';
import { Dialect, LiveAccessError, openLiveTarget } from '../../../src/debug';
import { DIALECTS, packetReply } from '../../../src/debug/dialects';
import { evaluateAddress } from '../../../src/debug/expression';
import { AdapterKind, FakeAdapter } from './fakeAdapters';

const pa = (n: number) => n as PhysAddr;

async function until(cond: () => boolean, ms = 1000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('condition not reached in time');
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('debug dialects: command building', () => {
  it('cdt-gdb: >CMD in repl with output as events; silent form through Python; no double quotes', () => {
    const d = DIALECTS['cdt-gdb'];
    assert.deepEqual(d.raw(d.packet('qqemu.PhyMemMode')), {
      command: 'evaluate',
      args: { expression: '>maintenance packet qqemu.PhyMemMode', context: 'repl' },
      output: 'events',
    });
    assert.deepEqual(d.raw('maintenance packet Qqemu.PhyMemMode:1', { silent: true, python: true })!.args, {
      expression: ">python gdb.execute('maintenance packet Qqemu.PhyMemMode:1', to_string=True)",
      context: 'repl',
    });
    assert.equal(
      d.rawBatch!(['maintenance packet Qqemu.PhyMemMode:0', 'maintenance flush dcache'], { python: true })!.args.expression,
      ">python gdb.execute('maintenance packet Qqemu.PhyMemMode:0', to_string=True); gdb.execute('maintenance flush dcache', to_string=True)",
    );
    assert.equal(d.rawBatch!(['x'], { python: false }), undefined);
    assert.throws(() => d.raw('echo "x"'), /must not contain/);
    assert.equal(d.evaluateNeedsFrame, true);
    assert.deepEqual(d.evaluate(d.registerExpression('cr3'), 7).args, { expression: '$_isvoid($cr3) ? $cr3 : sizeof($cr3) == 4 ? (unsigned long long)(unsigned int)$cr3 : (unsigned long long)$cr3', frameId: 7, context: 'watch' });
  });

  it('cppdbg: -exec CMD in repl, text in result', () => {
    const r = DIALECTS.cppdbg.raw('monitor info mtree -f', { frameId: 3 })!;
    assert.deepEqual(r, { command: 'evaluate', args: { expression: '-exec monitor info mtree -f', frameId: 3, context: 'repl' }, output: 'result' });
  });

  it('cortex-debug: plain CLI text in repl, output as events', () => {
    assert.deepEqual(DIALECTS['cortex-debug'].raw('monitor xp /2gx 0x1000'), { command: 'evaluate', args: { expression: 'monitor xp /2gx 0x1000', context: 'repl' }, output: 'events' });
  });

  it('gdb-dap: plain CLI text in repl, text in result', () => {
    assert.deepEqual(DIALECTS['gdb-dap'].raw('maintenance packet qqemu.PhyMemMode'), { command: 'evaluate', args: { expression: 'maintenance packet qqemu.PhyMemMode', context: 'repl' }, output: 'result' });
  });

  it('codelldb: LLDB syntax through the _command context; no GDB dcache', () => {
    const d = DIALECTS.codelldb;
    assert.equal(d.packet('Qqemu.PhyMemMode:1'), 'process plugin packet send Qqemu.PhyMemMode:1');
    assert.equal(d.monitor('xp /512gx 0x1000'), 'process plugin packet monitor xp /512gx 0x1000');
    assert.deepEqual(d.raw(d.packet('qqemu.PhyMemMode'))!.args, { expression: 'process plugin packet send qqemu.PhyMemMode', context: '_command' });
    assert.equal(d.flushCache(), undefined);
    assert.equal(d.registerExpression('cr3'), '$cr3');
  });

  it('lldb-dap: LLDB commands behind a backtick in repl, text in result with the "(lldb) CMD" echo dropped; registers in a frame', () => {
    const d = DIALECTS['lldb-dap'];
    assert.equal(d.debugger, 'lldb');
    assert.equal(d.evaluateNeedsFrame, true);
    assert.deepEqual(d.raw(d.packet('qqemu.PhyMemMode')), { command: 'evaluate', args: { expression: '`process plugin packet send qqemu.PhyMemMode', context: 'repl' }, output: 'result' });
    assert.equal(d.monitor('info mtree -f'), 'process plugin packet monitor info mtree -f');
    assert.deepEqual(d.evaluate(d.registerExpression('cr3'), 524288).args, { expression: '$cr3', frameId: 524288, context: 'watch' });
    assert.equal(d.flushCache(), undefined);
    // Text as lldb-vscode-16 returned it for a monitor command through QEMU's gdbstub.
    const text = '(lldb) process plugin packet monitor info status\nVM status: paused\r\n  packet: qRcmd,696e666f20737461747573\nresponse: OK\n';
    assert.equal(d.commandText!(text), 'VM status: paused\r\n  packet: qRcmd,696e666f20737461747573\nresponse: OK\n');
    assert.equal(packetReply(d.commandText!('(lldb) process plugin packet send qqemu.PhyMemMode\n  packet: qqemu.PhyMemMode\nresponse: 0\n')), '0');
  });

  it('readmemory-only: no raw command channel', () => {
    assert.equal(DIALECTS['readmemory-only'].raw('show version'), undefined);
  });

  it('packet replies: GDB and LLDB forms', () => {
    assert.equal(packetReply('sending: qqemu.PhyMemMode\nreceived: "1"\n'), '1');
    assert.equal(packetReply('  packet: qqemu.PhyMemMode\nresponse: 0\n'), '0');
    assert.equal(packetReply('received: ""\n'), '');
    assert.equal(packetReply('nothing'), undefined);
  });
});

describe('debug dialects: detection and openLiveTarget on documented adapter shapes', () => {
  const expected: [AdapterKind, Dialect][] = [
    ['cdt-gdb', 'cdt-gdb'],
    ['cppdbg', 'cppdbg'],
    ['cortex-debug', 'cortex-debug'],
    ['gdb-dap', 'gdb-dap'],
    ['codelldb', 'codelldb'],
  ];

  for (const [kind, dialect] of expected) {
    it(`${kind}: dialect ${dialect}, x86 registers, phymem-mode reads physical bytes and restores the mode`, async () => {
      const a = new FakeAdapter(kind);
      const t = await openLiveTarget(a.channel, a.observer);
      try {
        assert.equal(t.dialect, dialect);
        assert.equal(t.arch, 'x86_64');
        assert.equal(t.registers.get('cr3'), 0x200005n);
        assert.equal(t.registers.get('efer'), 0xd00n);
        // No connection to find a local QEMU through: proc-mem falls back, saying why.
        assert.equal(t.strategy, 'phymem-mode');
        assert.ok(t.strategyNotes.some((n) => /^proc-mem not used: /.test(n)), t.strategyNotes.join('; '));
        assert.deepEqual(t.memory.ram.map((r) => [r.start, r.end]), [[0, 0xa0000], [0x100000, 0x2000000]]);
        const flushes = a.qemu.flushes;
        const res = await t.memory.readMany([{ addr: pa(0x200000), length: 4096 }, { addr: pa(0x201000), length: 4096 }, { addr: pa(0xfec00000), length: 4096 }]);
        assert.deepEqual(res[0], a.qemu.readPhys(0x200000, 4096));
        assert.deepEqual(res[1], a.qemu.readPhys(0x201000, 4096));
        assert.ok(res[2] instanceof MemoryReadError && res[2].reason === 'outside-ram');
        // Back to 0 (and GDB's cache flushed) before the batch resolves, without dispose.
        assert.equal(a.qemu.phyMemMode, 0);
        if (kind !== 'codelldb') assert.equal(a.qemu.flushes, flushes + 1);
        assert.equal(t.stats.reads, 2);
      } finally {
        await t.dispose();
      }
      assert.ok(!a.requests.some((r) => ['pause', 'continue', 'next', 'stepIn', 'writeMemory', 'setVariable'].includes(r.command)));
    });

    it(`${kind}: monitor-xp forced reads the same bytes`, async () => {
      const a = new FakeAdapter(kind);
      const t = await openLiveTarget(a.channel, a.observer, { strategy: 'monitor-xp' });
      const r = await t.memory.read(pa(0x1ff000), 4096);
      assert.deepEqual(r, a.qemu.readPhys(0x1ff000, 4096));
      await t.dispose();
    });
  }

  it('a discovery that failed is not kept: the next open (next stop, Refresh) asks again', async () => {
    const a = new FakeAdapter('cdt-gdb');
    a.qemu.noRamYet = true;
    await assert.rejects(openLiveTarget(a.channel, a.observer), (e: LiveAccessError) => e.kind === 'no-memory-access' && /listed no RAM/.test(e.message));
    a.qemu.noRamYet = false;
    const t = await openLiveTarget(a.channel, a.observer);
    assert.equal(t.strategy, 'phymem-mode');
    assert.deepEqual(t.memory.ram.map((r) => [r.start, r.end]), [[0, 0xa0000], [0x100000, 0x2000000]]);
    await t.dispose();
    // What was found is kept: a third open asks the monitor for RAM no more.
    const before = a.requests.filter((r) => /info mtree/.test(JSON.stringify(r.args))).length;
    await (await openLiveTarget(a.channel, a.observer)).dispose();
    assert.equal(a.requests.filter((r) => /info mtree/.test(JSON.stringify(r.args))).length, before);
  });

  it('GDB without Python: no direct-map probing by plain reads (each failed read would be an error toast)', async () => {
    const a = new FakeAdapter('cdt-gdb');
    a.qemu.noRamYet = true;
    a.qemu.noPython = true;
    await assert.rejects(openLiveTarget(a.channel, a.observer), (e: LiveAccessError) => /direct-map not used: recognising a direct map needs GDB with Python/.test(e.message));
    assert.ok(!a.requests.some((r) => r.command === 'readMemory'), 'no readMemory of a candidate');
  });

  it('phymem-mode: the mode is 0 again when each batch resolves, so no request of the user lands in the window', async () => {
    const a = new FakeAdapter('gdb-dap');
    const t = await openLiveTarget(a.channel, a.observer, { strategy: 'phymem-mode' });
    const switches = () => a.requests.filter((r) => /PhyMemMode:1/.test(r.args?.expression ?? '')).length;
    const n0 = switches();
    const r1 = await t.memory.readMany([{ addr: pa(0x200000), length: 4096 }, { addr: pa(0x201000), length: 4096 }]);
    assert.equal(a.qemu.phyMemMode, 0, 'off before the batch resolves');
    assert.deepEqual(r1[1], a.qemu.readPhys(0x201000, 4096));
    await t.memory.read(pa(0x202000), 4096);
    assert.equal(a.qemu.phyMemMode, 0);
    assert.equal(switches(), n0 + 2, 'one window per batch');
    assert.ok(a.qemu.flushes >= 2, 'GDB cache flushed after each window');
    await t.dispose();
    assert.equal(a.qemu.phyMemMode, 0);
  });

  it('cdt-gdb with Python: the physical window prints nothing to the Debug Console', async () => {
    const a = new FakeAdapter('cdt-gdb');
    const t = await openLiveTarget(a.channel, a.observer, { strategy: 'phymem-mode' });
    const before = a.consoleOutput.length;
    await t.memory.read(pa(0x300000), 4096);
    assert.equal(a.consoleOutput.length, before);
    await t.dispose();
  });

  it("type 'gdb' is ambiguous: a probe tells cdt-gdb-vscode from GDB's own DAP", async () => {
    const cdt = new FakeAdapter('cdt-gdb', undefined, 'gdb');
    assert.equal((await openLiveTarget(cdt.channel, cdt.observer)).dialect, 'cdt-gdb');
    const dap = new FakeAdapter('gdb-dap', undefined, 'gdb');
    assert.equal((await openLiveTarget(dap.channel, dap.observer)).dialect, 'gdb-dap');
  });

  it('lldb-dap (lldb-vscode 16, no readMemory): monitor-xp, the others refused with the reason, readMemory never sent', async () => {
    const a = new FakeAdapter('lldb-dap');
    const t = await openLiveTarget(a.channel, a.observer);
    try {
      assert.equal(t.dialect, 'lldb-dap');
      assert.equal(t.registers.get('cr3'), 0x200005n);
      assert.equal(t.registers.get('efer'), 0xd00n);
      assert.equal(t.strategy, 'monitor-xp');
      assert.ok(t.strategyNotes.some((n) => /^proc-mem not used: the gdbstub connection QEMU reports \(port 1 <-> 127\.0\.0\.1:2\) is not on this machine/.test(n)), t.strategyNotes.join('; '));
      assert.ok(t.strategyNotes.some((n) => /^phymem-mode not used: the debug adapter offers no readMemory request/.test(n)), t.strategyNotes.join('; '));
      assert.deepEqual(await t.memory.read(pa(0x1ff000), 4096), a.qemu.readPhys(0x1ff000, 4096));
      assert.deepEqual(t.memory.ram.map((r) => [r.start, r.end]), [[0, 0xa0000], [0x100000, 0x2000000]]);
    } finally {
      await t.dispose();
    }
    await assert.rejects(openLiveTarget(a.channel, a.observer, { strategy: 'direct-map', directMapOffset: a.qemu.directMap }), /offers no readMemory request/);
    assert.ok(!a.requests.some((r) => r.command === 'readMemory'));
    assert.ok(a.requests.filter((r) => r.command === 'evaluate' && /^\$/.test(r.args.expression)).every((r) => r.args.frameId !== undefined), 'registers only in a frame');
  });

  it('an unknown session type answering `version with "lldb version" is lldb-dap', async () => {
    const a = new FakeAdapter('lldb-dap', undefined, 'mock');
    const t = await openLiveTarget(a.channel, a.observer);
    assert.equal(t.dialect, 'lldb-dap');
    assert.match(t.connection, /answered by LLDB/);
    assert.ok(!t.strategyNotes.some((n) => /dialect/.test(n)), 'the connection is not among the strategies\' notes');
    await t.dispose();
  });

  it('a stale PhyMemMode 1 is cleared at the first stop and reported', async () => {
    const a = new FakeAdapter('cppdbg');
    a.qemu.phyMemMode = 1;
    const t = await openLiveTarget(a.channel, a.observer);
    assert.equal(a.qemu.phyMemMode, 0);
    assert.ok(t.strategyNotes.some((n) => /left at 1/.test(n)));
  });

  it('the dialect override wins over the session type', async () => {
    const a = new FakeAdapter('gdb-dap', undefined, 'cppdbg');
    const t = await openLiveTarget(a.channel, a.observer, { dialect: 'gdb-dap' });
    assert.equal(t.dialect, 'gdb-dap');
    assert.equal(t.strategy, 'phymem-mode');
  });

  it('readMemory only: direct-map when an offset is set, else a message naming what is missing', async () => {
    const a = new FakeAdapter('readmemory-only');
    await assert.rejects(openLiveTarget(a.channel, a.observer), (e: Error) =>
      e instanceof LiveAccessError && e.kind === 'no-memory-access' && /direct-map offset/.test(e.message) && /cdt-gdb-adapter/.test(e.message));
    const b = new FakeAdapter('readmemory-only');
    const t = await openLiveTarget(b.channel, b.observer, { directMapOffset: b.qemu.directMap });
    assert.equal(t.dialect, 'readmemory-only');
    assert.equal(t.strategy, 'direct-map');
    assert.deepEqual(await t.memory.read(pa(0x5000), 64), b.qemu.readPhys(0x5000, 64));
    assert.ok(t.strategyNotes.some((n) => /not checked against RAM/.test(n)));
  });

  /** Real x86 tables in the fake: CR3's PML4[256] → a PDPT whose entry 0 maps 1 GiB at PA 0. */
  const directMapTables = (a: FakeAdapter) => {
    a.qemu.poke(0x200000 + 256 * 8, 0x201003n);
    a.qemu.poke(0x201000, 0x83n);
  };

  it('readMemory only, no offset set: the direct map is recognised from the tables and verified', async () => {
    const a = new FakeAdapter('readmemory-only');
    directMapTables(a);
    const t = await openLiveTarget(a.channel, a.observer);
    assert.equal(t.strategy, 'direct-map');
    const note = t.strategyNotes.find((n) => /recognised/.test(n));
    assert.match(note ?? '', /direct-map offset 0xffff800000000000 recognised \(kernel-half slot cr3 PML4\[256\]/);
    assert.deepEqual(await t.memory.read(pa(0x5000), 64), a.qemu.readPhys(0x5000, 64));
  });

  it('readMemory only: a kernel symbol (page_offset_base) is tried first, and still verified', async () => {
    const a = new FakeAdapter('readmemory-only');
    directMapTables(a);
    a.qemu.symbols['(unsigned long)page_offset_base'] = 0xffff800000000000n;
    const t = await openLiveTarget(a.channel, a.observer);
    assert.match(t.strategyNotes.join('\n'), /0xffff800000000000 recognised \(symbol page_offset_base; candidate 1\)/);
    // A symbol whose value the tables do not confirm is not believed.
    const b = new FakeAdapter('readmemory-only');
    directMapTables(b);
    b.qemu.symbols['(unsigned long)page_offset_base'] = 0xffff900000000000n;
    const u = await openLiveTarget(b.channel, b.observer);
    assert.match(u.strategyNotes.join('\n'), /0xffff800000000000 recognised \(kernel-half slot/);
  });

  it('evaluateAddress: a debugger expression in the first stopped thread\'s top frame, or refused while running', async () => {
    const a = new FakeAdapter('cdt-gdb');
    a.qemu.symbols['p + 0x10'] = 0x12c010n;
    assert.equal(await evaluateAddress(a.channel, 'p + 0x10'), 0x12c010n);
    const ev = a.requests.filter((r) => r.command === 'evaluate').at(-1)!;
    assert.deepEqual([ev.args.frameId, ev.args.context], [1000, 'watch'], 'cdt-gdb-adapter needs a frame');
    await assert.rejects(evaluateAddress(a.channel, 'nosuch'), /'nosuch' does not evaluate/);
    a.qemu.running = true;
    await assert.rejects(evaluateAddress(a.channel, 'p + 0x10'), (e: Error) => e instanceof LiveAccessError && e.kind === 'running');
    assert.ok(!a.requests.some((r) => ['pause', 'continue'].includes(r.command)));
  });

  it('a known thread (the stopped event\'s, or the focused one) costs no thread list: its top frame at once; a thread that is gone falls back to the list', async () => {
    const a = new FakeAdapter('cdt-gdb');
    await (await openLiveTarget(a.channel, a.observer)).dispose();
    const seq = (from: number) => a.requests.slice(from).map((r) => r.command).filter((c) => c === 'threads' || c === 'stackTrace');
    let from = a.requests.length;
    const t = await openLiveTarget(a.channel, a.observer, { threadId: 1 });
    assert.equal(t.registers.get('cr3'), 0x200005n);
    await t.dispose();
    assert.deepEqual(seq(from), ['stackTrace']);
    assert.deepEqual(a.requests.slice(from).find((r) => r.command === 'stackTrace')!.args, { threadId: 1, startFrame: 0, levels: 1 });
    from = a.requests.length;
    const u = await openLiveTarget(a.channel, a.observer, { threadId: 7 });
    assert.equal(u.registers.get('cr3'), 0x200005n);
    await u.dispose();
    assert.deepEqual(seq(from), ['stackTrace', 'threads', 'stackTrace']);
  });

  it('cdt-gdb: a stop whose architecture is known reads its registers in one request; a batch in another shape is read one by one', async () => {
    const a = new FakeAdapter('cdt-gdb');
    await (await openLiveTarget(a.channel, a.observer)).dispose();
    let from = a.requests.length;
    const t = await openLiveTarget(a.channel, a.observer, { threadId: 1 });
    await t.dispose();
    assert.deepEqual([...t.registers].filter(([k]) => ['cr0', 'cr3', 'cr4', 'efer'].includes(k)), [['cr0', 0x80010011n], ['cr3', 0x200005n], ['cr4', 0x200a0n], ['efer', 0xd00n]]);
    assert.equal(t.registers.has('pkru'), false, 'absent from the target: absent here');
    const evs = a.requests.slice(from).filter((r) => r.command === 'evaluate' && r.args.context !== 'repl'); // repl: the session's discovery
    assert.equal(evs.length, 1, JSON.stringify(evs.map((e) => [e.args.context, e.args.expression.slice(0, 60)])));
    assert.deepEqual([evs[0].args.context, evs[0].args.frameId], ['variables', 1000]);
    // An adapter that answers the array as one value (another cdt-gdb-adapter version): the same
    // registers, one evaluate each.
    const other = { ...a.channel, request: (c: string, args: any) => (c === 'evaluate' && args.context === 'variables' ? Promise.resolve({ result: '[9]', variablesReference: 1 }) : a.channel.request(c, args)) };
    from = a.requests.length;
    const u = await openLiveTarget(other, a.observer, { threadId: 1 });
    await u.dispose();
    assert.equal(u.registers.get('cr3'), 0x200005n);
    assert.equal(u.registers.get('efer'), 0xd00n);
    assert.ok(a.requests.slice(from).filter((r) => r.command === 'evaluate' && r.args.context === 'watch').length >= 4);
    // The session remembers: its next stop asks for no batch.
    from = a.requests.length;
    await (await openLiveTarget(other, a.observer, { threadId: 1 })).dispose();
    assert.equal(a.requests.slice(from).filter((r) => r.command === 'evaluate' && r.args.context === 'variables').length, 0);
  });

  it('an adapter with neither readMemory nor a GDB console is refused with the adapters that work', async () => {
    const a = new FakeAdapter('native-debug');
    await assert.rejects(openLiveTarget(a.channel, a.observer), (e: Error) => e instanceof LiveAccessError && e.kind === 'unsupported-adapter' && /CodeLLDB/.test(e.message));
  });

  it('cdt-gdb without an event observer: told why the monitor cannot be read', async () => {
    const a = new FakeAdapter('cdt-gdb', undefined, 'gdbtarget', false);
    await assert.rejects(openLiveTarget(a.channel, a.observer), (e: Error) => e instanceof LiveAccessError && /output events/.test(e.message));
  });

  for (const kind of ['cdt-gdb', 'cppdbg'] as AdapterKind[]) {
    it(`${kind}: a running target is refused with "pause the target", never paused or resumed`, async () => {
      const a = new FakeAdapter(kind);
      a.qemu.running = true;
      await assert.rejects(openLiveTarget(a.channel, a.observer), (e: Error) => e instanceof LiveAccessError && e.kind === 'running' && /pause the target/.test(e.message));
      assert.ok(!a.requests.some((r) => r.command === 'pause' || r.command === 'continue'));
    });
  }

  it('a continued event invalidates the stop: reads fail with reason running', async () => {
    const a = new FakeAdapter('cdt-gdb');
    const t = await openLiveTarget(a.channel, a.observer);
    await t.memory.read(pa(0x200000), 4096);
    a.emit('continued', { threadId: 1, allThreadsContinued: true });
    await assert.rejects(t.memory.read(pa(0x200000), 4096), (e: Error) => e instanceof MemoryReadError && e.reason === 'running');
    await t.dispose();
  });

  it('memory and invalidated events drop the per-stop cache', async () => {
    const a = new FakeAdapter('cppdbg');
    const t = await openLiveTarget(a.channel, a.observer);
    await t.memory.read(pa(0x200000), 4096);
    await t.memory.read(pa(0x200000), 4096);
    assert.equal(t.stats.reads, 1);
    assert.equal(t.stats.cacheHits, 1);
    a.emit('memory', { memoryReference: '0x200000', offset: 0, count: 8 });
    await t.memory.read(pa(0x200000), 4096);
    assert.equal(t.stats.reads, 2);
    await t.dispose();
  });
});
