// The ptview-core debug adapter over real DAP (a DebugClient from @vscode/debugadapter-testsupport
// talking to PtviewCoreSession on a loopback socket), on QEMU's kdump-zlib dump of x86-64-4level:
// threads, frame at the PC, Registers scope and readMemory agree with QEMU (info registers,
// gva2gpa) and with the bytes of QEMU's ELF dump; src/debug reads it as a direct dialect and the
// walk equals info tlb.
import assert from 'node:assert/strict';
import { recursiveWindows, outside } from '../../support/recursiveWindows';
import { TableStore } from '../../../src/core/walker';
import net from 'node:net';
import path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import { physAddr } from '../../../src/core/addr';
import { spaceFromRegisters } from '../../../src/core/formats';
import { PageTableSession } from '../../../src/core/ops/session';
import { QemuCore, openCore } from '../../../src/core/sources';
import { openLiveTarget } from '../../../src/debug';
import { PtviewCoreSession } from '../../../src/debug/coreAdapter';
import { parseGva2gpa, parseInfoRegisters, parseInfoTlb } from '../../harness/oracles';
import { GuestRun, bootGuest } from '../../harness/qemu';

describe('ptview-core debug adapter on a QEMU kdump of x86-64-4level', function () {
  this.timeout(120000);
  let run: GuestRun;
  let server: net.Server;
  let dc: DebugClient;
  let elf: QemuCore;
  let regs: Map<string, bigint>;
  let tlb: ReturnType<typeof parseInfoTlb>;
  let kdump: string;
  const VA = 0xffffffff80001234n;
  let pa: bigint;

  before(async () => {
    run = await bootGuest('x86-64-4level');
    await run.stop();
    regs = parseInfoRegisters(await run.hmp('info registers'));
    tlb = parseInfoTlb(await run.hmp('info tlb'));
    pa = parseGva2gpa(await run.hmp(`gva2gpa 0x${VA.toString(16)}`))!;
    elf = await openCore(await run.dump(path.join(run.dir, 'core.elf')));
    {
      // ptview does not descend a recursive slot (QEMU does): compare outside those windows.
      const windows = await recursiveWindows(spaceFromRegisters('x86_64', new Map([...regs].filter(([k]) => ['cr0', 'cr3', 'cr4', 'efer'].includes(k)))), new TableStore(elf.memory));
      assert.ok(windows.length === 0 || tlb.some((t) => !outside(windows)(t.va)), 'QEMU maps something through the recursive slot');
      tlb = tlb.filter((t) => outside(windows)(t.va));
    }
    kdump = await run.dump(path.join(run.dir, 'core.kdump'), 'kdump-zlib');
    server = net.createServer((socket) => {
      const s = new PtviewCoreSession();
      s.setRunAsServer(true);
      s.start(socket, socket);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    dc = new DebugClient('node', 'unused', 'ptview-core');
    await dc.start((server.address() as net.AddressInfo).port);
  });
  after(async () => {
    await dc?.stop().catch(() => undefined);
    server?.close();
    await elf?.close();
    await run?.kill();
  });

  it('launches stopped: a thread per CPU, a frame at RIP, every register in a Registers scope', async () => {
    const init = await dc.initializeRequest();
    assert.equal(init.body?.supportsReadMemoryRequest, true);
    assert.equal(init.body?.supportsWriteMemoryRequest, undefined, 'never writes');
    await Promise.all([
      dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest()),
      dc.launch({ core: kdump, registers: { EFER: `0x${regs.get('efer')!.toString(16)}` } } as never),
      dc.waitForEvent('stopped'),
    ]);
    const th = await dc.threadsRequest();
    assert.deepEqual(th.body.threads.map((t) => t.name), ['CPU 0 (pid 1)']);
    const st = await dc.stackTraceRequest({ threadId: 1 });
    const frame = st.body.stackFrames[0];
    assert.equal(BigInt(frame.instructionPointerReference!), regs.get('rip'));
    // A source VS Code can open (it focuses only such frames): a page about the CPU, not the core file.
    assert.equal(frame.source?.path, undefined);
    const page = await dc.sourceRequest({ sourceReference: frame.source!.sourceReference!, source: frame.source });
    assert.match(page.body.content, new RegExp(`cr3\\s+0x${regs.get('cr3')!.toString(16)}\\b`));
    const sc = await dc.scopesRequest({ frameId: frame.id });
    assert.equal(sc.body.scopes[0].name, 'Registers');
    const vars = await dc.variablesRequest({ variablesReference: sc.body.scopes[0].variablesReference });
    const byName = new Map(vars.body.variables.map((v) => [v.name, BigInt(v.value)]));
    for (const n of ['cr0', 'cr3', 'cr4', 'rip', 'rsp', 'efer']) assert.equal(byName.get(n), regs.get(n), n);
    const cont = await dc.continueRequest({ threadId: 1 }).then(() => 'ran', (e: Error) => e.message);
    assert.match(cont, /a core file cannot run/);
  });

  it('readMemory: guest-physical bytes are the ELF dump\'s; virtual through CR3 as gva2gpa', async () => {
    const r = await dc.customRequest('readMemory', { memoryReference: '0x200000', count: 4096 });
    assert.deepEqual(Buffer.from(r.body.data, 'base64'), Buffer.from(await elf.memory.read(physAddr(0x200000), 4096)));
    const st = await dc.stackTraceRequest({ threadId: 1 });
    const ev = await dc.evaluateRequest({ expression: `virt 0x${VA.toString(16)}`, frameId: st.body.stackFrames[0].id });
    const v = await dc.customRequest('readMemory', { memoryReference: ev.body.memoryReference, count: 64 });
    assert.deepEqual(Buffer.from(v.body.data, 'base64'), Buffer.from(await elf.memory.read(physAddr(Number(pa)), 64)));
    // Past the end of RAM: nothing readable, said so, not zeros.
    const out = await dc.customRequest('readMemory', { memoryReference: 'phys:0x40000000', count: 16 });
    assert.equal(out.body.unreadableBytes, 16);
    assert.equal(Buffer.from(out.body.data ?? '', 'base64').length, 0);
  });

  it('src/debug reads it as the ptview-core dialect, registers and memory direct; the walk equals info tlb', async () => {
    const channel = { type: 'ptview-core', request: async (c: string, a?: unknown) => (await dc.customRequest(c, a)).body };
    const t = await openLiveTarget(channel, {});
    try {
      assert.equal(t.dialect, 'ptview-core');
      assert.equal(t.strategy, 'core-file');
      assert.equal(t.registers.get('cr3'), regs.get('cr3'));
      const space = spaceFromRegisters(t.arch, t.registers);
      const leaves = await new PageTableSession(space, t.memory).leaves();
      assert.equal(leaves.length, tlb.length);
      const byVa = new Map(tlb.map((x) => [x.va, x.pa]));
      for (const l of leaves) assert.equal(BigInt(l.pa), byVa.get(BigInt(l.root.toVirt(l.linear))));
      assert.ok(t.stats.dapRequests < 20, `${t.stats.dapRequests} requests: one per walk level`);
    } finally {
      await t.dispose();
    }
  });
});
