// Live walks through LLVM's lldb-dap (Debian 12's lldb-vscode-16) attached to QEMU's gdbstub with
// `gdb-remote` (attachCommands, target arch set first), with the checks of the cdt-gdb-adapter
// path (adapterCases.ts). What LLDB 16 offers decides what works: raw LLDB commands (a backtick
// in the repl) reach QEMU's monitor and gdbstub packets (`process plugin packet monitor/send`),
// so monitor-xp works, and proc-mem (the QEMU process found from the monitor's `info chardev`:
// LLDB has no `info connections`); lldb-vscode 16 has no readMemory request, so phymem-mode and
// direct-map are refused with that reason.
import assert from 'node:assert/strict';
import { DapChannel, openLiveTarget } from '../../../src/debug';
import { AdapterCase, AdapterState, adapterGuestCases } from './adapterCases';
import { attachLldbDap, replText } from './adapters';
import { LIVE_GUESTS } from './support';

/** What lldb-vscode 16 serves: raw LLDB commands, no readMemory request. */
const LLDB_DAP: Pick<AdapterCase, 'dialect' | 'auto' | 'works' | 'refused' | 'readMemory'> = {
  dialect: 'lldb-dap',
  auto: 'proc-mem',
  works: ['proc-mem', 'monitor-xp'],
  refused: [
    ['phymem-mode', /offers no readMemory request/],
    ['direct-map', /offers no readMemory request/],
  ],
  readMemory: false,
};

/** Guests with LLDB's target architecture and the dialect checks run on them (on one suffices). */
const CASES: { guest: keyof typeof LIVE_GUESTS; arch: string; dialectChecks?: (st: AdapterState) => void }[] = [
  { guest: 'x86-64-4level', arch: 'x86_64', dialectChecks },
  { guest: 'aarch64-4k', arch: 'aarch64' },
];

for (const c of CASES) {
  describe(`live ${c.guest} through lldb-dap (lldb-vscode-16)`, function () {
    this.timeout(180000);
    const attach = (port: number) => attachLldbDap(port, c.arch);
    const st = adapterGuestCases({ ...LIVE_GUESTS[c.guest], ...LLDB_DAP, attach }, (st) => {
      // Runs first. The guest is let run (aarch64: the oracle's GDB detach did so already).
      it('LLDB 16 cannot attach to a running QEMU (the stop reply QEMU sends on connect comes where LLDB waits for its handshake reply); the guest is then paused and the next attach works', async () => {
        await st.run.hmp('cont');
        assert.match(await st.run.hmp('info status'), /running/);
        await assert.rejects(attach(st.run.gdbPort!), /failed to get reply to handshake packet/);
        assert.match(await st.run.hmp('info status'), /VM status: paused/);
        st.s = await attach(st.run.gdbPort!);
        await st.clean();
      });
    });
    c.dialectChecks?.(st);
  });
}

/** What the lldb-dap dialect does differently (on x86: `$cr3` names an x86 register). */
function dialectChecks(st: AdapterState): void {
  it('commands come back in `result` after an "(lldb) CMD" echo; registers only in a frame', async () => {
    const r = await replText(st.s.client, '`process plugin packet monitor info status');
    assert.match(r, /^\(lldb\) process plugin packet monitor info status\nVM status: paused/);
    await assert.rejects(st.s.client.request('evaluate', { expression: '$cr3', context: 'watch' }), /No value/);
    assert.equal(st.s.observer.capabilities?.supportsReadMemoryRequest, undefined);
  });

  it('ptview never sends readMemory to it (lldb-vscode 16 aborts on that request)', async () => {
    const sent: string[] = [];
    const ch: DapChannel = { type: st.s.channel.type, request: (c, a) => (sent.push(c), st.s.channel.request(c, a)) };
    const t = await openLiveTarget(ch, st.s.observer);
    try {
      assert.equal(t.strategy, 'proc-mem');
      await t.memory.read(Number(st.oracle.get('cr3')! & ~0xfffn) as never, 4096);
    } finally {
      await t.dispose();
    }
    assert.ok(sent.length > 0 && !sent.includes('readMemory'), sent.join(','));
    await st.clean();
  });
}
