// Break When Translation Changes on a real guest through GDB + cdt-gdb-adapter: x86-64-changes
// stops at PTVIEW-READY, then after an NMI edits its tables (test/guests/common/x86-64.S,
// CHANGES). Watching 0xffffffff80008000 (not mapped yet: PT_K[8] is 0) must stop the guest right
// after the instruction that writes PT_K[8] — the oracle is the guest's own binary
// (objdump of its kernel.elf) and QEMU's `info registers` — and ptview must report that entry's
// change. Its tables are written through the identity map, and also mapped writable at
// 0x40000000 and in the direct map at 0xffff800000000000: three VAs per entry, twelve
// watchpoints for a 4-level walk, more than x86's four debug registers (TCG has no such limit).
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { spawnSync } from 'node:child_process';
import { hex } from '../../../src/core/addr';
import { spaceFromRegisters } from '../../../src/core/formats';
import { PageTableSession } from '../../../src/core/ops/session';
import { openLiveTarget, sessionConsole } from '../../../src/debug';
import { GdbSession, attachGdb } from '../../../src/debug/gdbAttach';
import {
  Armed, DapWatchBackend, GdbWatchBackend, LldbWatchBackend, WatchBackend, WatchPlan, changeText, changedEntries, chooseBackend, hardwareLimit, monitorKvm,
  planWatch, watchChannels, watchSpecs,
} from '../../../src/debug/watchpoints';
import { parseInfoRegisters } from '../../harness/oracles';
import { GuestRun, bootGuest, buildGuest } from '../../harness/qemu';
import { AdapterSession, attachGdbDap, attachLldbDap, nextEvent, replText } from './adapters';

/** Address of the instruction after the first one storing to `pa` (an absolute store in 64-bit code). */
function instructionAfterStoreTo(kernel: string, addr: number): bigint {
  const r = spawnSync('objdump', ['-d', '-m', 'i386:x86-64', kernel], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => /^\s*[0-9a-f]+:\t[^\t]+\t/.test(l)); // not a long instruction's continuation
  const target = `,0x${addr.toString(16)}`;
  const i = lines.findIndex((l) => /\tmovl\s/.test(l) && l.trimEnd().endsWith(target));
  assert.ok(i >= 0 && i + 1 < lines.length, `no movl to ${hex(addr)} in ${kernel}`);
  return BigInt('0x' + /^\s*([0-9a-f]+):/.exec(lines[i + 1])![1]);
}

describe('Break When Translation Changes: x86-64-changes through GDB + cdt-gdb-adapter', function () {
  this.timeout(600000);
  let run: GuestRun;
  let gdb: GdbSession;
  let kernel: string;
  const consoleOutput: string[] = [];

  before(async () => {
    kernel = await buildGuest('x86-64-changes');
    run = await bootGuest('x86-64-changes', { gdb: true });
    gdb = await attachGdb(`127.0.0.1:${run.gdbPort}`);
    gdb.observer.onEvent!((e) => {
      if (e.event === 'output') consoleOutput.push((e as DebugProtocol.OutputEvent).body.output);
    });
  });
  after(async () => {
    await gdb?.close();
    await run?.kill();
  });

  async function stopOpen() {
    const t = await openLiveTarget(gdb.channel, gdb.observer);
    const space = spaceFromRegisters(t.arch, t.registers);
    return { t, session: new PageTableSession(space, t.memory) };
  }

  /** Continues (after `then`) and waits for the adapter's next stopped event. */
  async function continueUntilStop(then: () => Promise<unknown>): Promise<DebugProtocol.StoppedEvent> {
    const stopped = new Promise<DebugProtocol.StoppedEvent>((resolve) => {
      const sub = gdb.observer.onEvent!((e) => {
        if (e.event === 'stopped') {
          sub.dispose();
          resolve(e as DebugProtocol.StoppedEvent);
        }
      });
    });
    const threads = await gdb.channel.request('threads');
    await gdb.channel.request('continue', { threadId: threads.threads[0].id });
    await then();
    return stopped;
  }

  let plan: WatchPlan;
  let backend: WatchBackend;
  let armed: Armed[];

  it('plans the four entries of the walk, each at the three VAs the guest maps its tables writable', async () => {
    const { t, session } = await stopOpen();
    try {
      plan = await planWatch(session, 0xffffffff80008000n);
      assert.deepEqual(
        plan.entries.map((e) => `${e.levelName}[${e.index}] ${hex(e.entryPa)} ${hex(e.raw)}`),
        // PML4 0x200000 [511] → PDPT_K 0x207000 [510] → PD_K 0x208000 [0] → PT_K 0x209000 [8] (0);
        // the source's P+RW plus A (0x20), which the CPU set on its walks
        ['PML4[511] 0x200ff8 0x207023', 'PDPT[510] 0x207ff0 0x208023', 'PD[0] 0x208000 0x209023', 'PT[8] 0x209040 0x0'],
      );
      for (const e of plan.entries) {
        const pa = BigInt(e.entryPa);
        assert.deepEqual([...e.vas].sort(), [pa, 0x40000000n + pa, 0xffff800000000000n + pa].sort(), `${e.levelName}[${e.index}]`);
      }
      assert.equal(plan.directMapOffset, 0xffff800000000000n);
    } finally {
      await t.dispose();
    }
  });

  it('arms 12 GDB hardware watchpoints through the command channel, silently (TCG: no limit of 4)', async () => {
    const con = await sessionConsole(gdb.channel, gdb.observer);
    const kvm = await monitorKvm(con);
    assert.match(kvm ?? '', /kvm support: disabled/);
    assert.equal(hardwareLimit('x86_64', kvm), undefined);
    assert.deepEqual(hardwareLimit('x86_64', 'kvm support: enabled'), { count: 4, why: 'QEMU under KVM uses the x86 debug registers DR0-DR3, which' });
    backend = chooseBackend(watchChannels(con, gdb.channel, gdb.observer.capabilities?.supportsDataBreakpoints === true, () => []));
    assert.ok(backend instanceof GdbWatchBackend);
    const before = consoleOutput.length;
    armed = await backend.arm(watchSpecs(plan));
    assert.equal(armed.length, 12);
    assert.deepEqual(consoleOutput.slice(before), [], 'nothing in the Debug Console');
    assert.deepEqual(await backend.alive!(armed.map((a) => a.id)), new Set(armed.map((a) => a.id)));
    // GDB's own list: hardware watchpoints on exactly these addresses.
    const list = await con.run('info watchpoints');
    for (const a of armed) assert.match(list, new RegExp(`^${a.id}\\s+hw watchpoint\\s+keep\\s+y\\s+-location \\*\\(unsigned long long \\*\\)${hex(a.spec.va)}`, 'm'));
  });

  it('stops the guest right after the instruction that writes PT_K[8], and reports that entry\'s change', async () => {
    const ev = await continueUntilStop(() => run.qmp('inject-nmi'));
    assert.ok(ev.body.reason, 'a stopped event');
    const want = instructionAfterStoreTo(kernel, 0x209040);
    const rip = parseInfoRegisters(await run.hmp('info registers')).get('rip');
    assert.equal(rip, want, `QEMU's RIP ${hex(rip ?? 0n)} is after the store to PT_K[8] (${hex(want)})`);
    const { t } = await stopOpen();
    try {
      assert.equal(t.registers.get('pc'), want);
      const changes = await changedEntries(t.memory, plan.entries);
      // Only the low half is written so far (ENT writes two 32-bit halves): present, no NX yet.
      assert.equal(changes.length, 1);
      assert.equal(changes[0].entry.index, 8);
      assert.equal(changes[0].before, 0n);
      assert.equal(changes[0].after, 0x108101n);
      assert.match(changeText(plan.format, changes[0]), /^PT\[8\]: 0x0000000000000000 \(not present\) → 0x0000000000108101 \(leaf → 0x108000 /);
    } finally {
      await t.dispose();
    }
    await backend.disarm(armed.map((a) => a.id));
    assert.deepEqual(await backend.alive!(armed.map((a) => a.id)), new Set());
  });

  it('DAP data breakpoints (cdt-gdb-adapter): the user\'s own data breakpoint stays, the unmap of 0x12d000 stops the guest', async () => {
    const { t, session } = await stopOpen();
    let p: WatchPlan;
    try {
      p = await planWatch(session, 0x12d000n, { directMapOffset: 0n, maxWatchpoints: 64 });
    } finally {
      await t.dispose();
    }
    // Only the identity-map VAs: four data breakpoints.
    const specs = p.entries.map((e) => ({ va: BigInt(e.entryPa), bytes: e.bytes }));
    const user = [{ dataId: '*(int*)0x1f0000', accessType: 'write' }];
    const dap = new DapWatchBackend(gdb.channel, () => user);
    const ours = await dap.arm(specs);
    assert.equal(ours.length, 4);
    const con = await sessionConsole(gdb.channel, gdb.observer);
    const list = () => con.run('info watchpoints');
    assert.match(await list(), /hw watchpoint\s+keep\s+y\s+\*\(int\*\)0x1f0000/, 'the user\'s data breakpoint is still set');
    for (const sp of specs) assert.match(await list(), new RegExp(`hw watchpoint\\s+keep\\s+y\\s+\\*\\(long\\*\\)${hex(sp.va)}`));
    const ev = await continueUntilStop(async () => undefined);
    const want = instructionAfterStoreTo(kernel, 0x203968); // ENT PT0, 301, 0: unmap 0x12d000
    assert.equal(parseInfoRegisters(await run.hmp('info registers')).get('rip'), want);
    assert.ok(ev.body.reason);
    const { t: t2 } = await stopOpen();
    try {
      const changes = await changedEntries(t2.memory, p.entries);
      assert.equal(changes.length, 1);
      assert.equal(changes[0].entry.index, 301);
      assert.equal(changes[0].before, p.entries[3].raw);
      assert.equal(changes[0].before & 0xfffff005n, 0x12d005n); // the source's 0x12d000 + P + US
      assert.equal(changes[0].after, 0n);
      assert.match(changeText(p.format, changes[0]), /^PT\[301\]: 0x000000000012d0[0-9a-f]{2} \(leaf → 0x12d000 .*\) → 0x0000000000000000 \(not present\)$/);
    } finally {
      await t2.dispose();
    }
    await dap.disarm(ours.map((o) => o.id));
    const after = await list();
    assert.match(after, /\*\(int\*\)0x1f0000/, 'the user\'s data breakpoint survives ptview\'s removal');
    assert.doesNotMatch(after, /\(long\*\)/);
  });

  it('cdt-gdb-adapter\'s setDataBreakpoints (VS Code\'s set) deletes ptview\'s GDB watchpoints: alive() sees it, arming again works', async () => {
    const con = await sessionConsole(gdb.channel, gdb.observer);
    const b = chooseBackend(watchChannels(con, gdb.channel, true, () => []));
    const mine = await b.arm([{ va: 0x209048n, bytes: 8 }]);
    assert.deepEqual(await b.alive!(mine.map((a) => a.id)), new Set(mine.map((a) => a.id)));
    // What VS Code sends when the user edits a data breakpoint.
    await gdb.channel.request('setDataBreakpoints', { breakpoints: [{ dataId: '*(int*)0x1f0000', accessType: 'write' }] });
    assert.deepEqual(await b.alive!(mine.map((a) => a.id)), new Set());
    const again = await b.arm(mine.map((a) => a.spec));
    assert.deepEqual(await b.alive!(again.map((a) => a.id)), new Set(again.map((a) => a.id)));
    await b.disarm(again.map((a) => a.id));
  });
});

/** A DAP adapter other than cdt-gdb-adapter whose command channel arms the watchpoints. */
interface CommandChannelCase {
  name: string;
  dialect: string;
  backend: new (...a: never[]) => WatchBackend;
  /** Attaches to the (running) guest's gdbstub. */
  attach(run: GuestRun): Promise<AdapterSession>;
  /** Before the guest runs: what a VS Code session would have sent by then. */
  ready?(s: AdapterSession): Promise<void>;
  /** The stop the watchpoint made, as this adapter reports it. */
  checkStop(ev: DebugProtocol.StoppedEvent, armed: readonly Armed[]): void;
  /** Nothing of ptview's left in the debugger after disarm. */
  checkDisarmed(s: AdapterSession, backend: WatchBackend, armed: readonly Armed[]): Promise<void>;
}

const COMMAND_CHANNEL_CASES: CommandChannelCase[] = [
  {
    name: 'GDB 16 native DAP (gdb -i=dap)',
    dialect: 'gdb-dap',
    backend: GdbWatchBackend,
    attach: (run) => attachGdbDap(run.gdbPort!),
    checkStop: (ev) => assert.equal(ev.body.reason, 'data breakpoint'), // GDB 16's DAP names a watchpoint stop so
    checkDisarmed: async (_s, backend, armed) => assert.deepEqual(await backend.alive!(armed.map((a) => a.id)), new Set()),
  },
  {
    name: 'lldb-dap (lldb-vscode-16)',
    dialect: 'lldb-dap',
    backend: LldbWatchBackend,
    attach: async (run) => {
      await run.hmp('stop'); // LLDB 16 cannot attach to a running QEMU (live-lldbdap.test.ts)
      return attachLldbDap(run.gdbPort!, 'x86_64');
    },
    // A VS Code session ends its configuration; lldb-vscode reports stops only after that (with
    // stopOnEntry it reports the stop it attached in at once).
    ready: async (s) => {
      const entry = nextEvent(s.client, 'stopped', 20000);
      await s.channel.request('configurationDone');
      await entry;
    },
    // lldb-vscode 16 names a watchpoint stop reason "breakpoint", description "watchpoint N".
    checkStop: (ev, armed) => {
      const hit = /^watchpoint (\d+)$/.exec(ev.body.description ?? '');
      assert.ok(hit && armed.some((a) => a.id === hit[1]), JSON.stringify(ev.body));
    },
    checkDisarmed: async (s) => assert.match(await replText(s.client, '`watchpoint list'), /No watchpoints currently set/),
  },
];

for (const c of COMMAND_CHANNEL_CASES) {
  describe(`Break When Translation Changes: x86-64-changes through ${c.name}`, function () {
    this.timeout(600000);
    let run: GuestRun;
    let s: AdapterSession;
    let kernel: string;

    before(async () => {
      kernel = await buildGuest('x86-64-changes');
      run = await bootGuest('x86-64-changes', { gdb: true });
      s = await c.attach(run);
    });
    after(async () => {
      s?.close();
      await run?.kill();
    });

    it('the command channel arms the 12 watchpoints; the NMI\'s first table store stops the guest right after it, and ptview reads that entry\'s change', async () => {
      const t = await openLiveTarget(s.channel, s.observer);
      let plan: WatchPlan;
      try {
        plan = await planWatch(new PageTableSession(spaceFromRegisters(t.arch, t.registers), t.memory), 0xffffffff80008000n);
      } finally {
        await t.dispose();
      }
      const con = await sessionConsole(s.channel, s.observer);
      assert.equal(con.dialect.dialect, c.dialect);
      const backend = chooseBackend(watchChannels(con, s.channel, s.observer.capabilities?.supportsDataBreakpoints === true, () => []));
      assert.ok(backend instanceof c.backend, backend?.mechanism);
      const armed = await backend.arm(watchSpecs(plan));
      assert.equal(armed.length, 12);
      await c.ready?.(s);
      const stopped = nextEvent(s.client, 'stopped', 60000) as Promise<DebugProtocol.StoppedEvent>;
      const threads = await s.channel.request('threads');
      await s.channel.request('continue', { threadId: threads.threads[0].id });
      await run.qmp('inject-nmi');
      c.checkStop(await stopped, armed);
      assert.equal(parseInfoRegisters(await run.hmp('info registers')).get('rip'), instructionAfterStoreTo(kernel, 0x209040));
      const t2 = await openLiveTarget(s.channel, s.observer);
      try {
        const changes = await changedEntries(t2.memory, plan.entries);
        assert.deepEqual(changes.map((c) => [c.entry.index, c.after]), [[8, 0x108101n]]);
      } finally {
        await t2.dispose();
      }
      await backend.disarm(armed.map((a) => a.id));
      await c.checkDisarmed(s, backend, armed);
    });
  });
}
