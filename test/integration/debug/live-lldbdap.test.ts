// Live walks through LLVM's lldb-dap (Debian 12's lldb-vscode-16) attached to QEMU's gdbstub with
// `gdb-remote` (attachCommands, target arch set first), with the checks of the cdt-gdb-adapter
// path (adapterCases.ts). What LLDB 16 offers decides what works: raw LLDB commands (a backtick
// in the repl) reach QEMU's monitor and gdbstub packets (`process plugin packet monitor/send`),
// so monitor-xp works, and proc-mem (the QEMU process found from the monitor's `info chardev`:
// LLDB has no `info connections`); lldb-vscode 16 has no readMemory request, so phymem-mode and
// direct-map are refused with that reason.
import assert from 'node:assert/strict';
import { DapChannel, openLiveTarget } from '../../../src/debug';
import { gdbRegisters } from '../aarch64/gdbRegisters';
import { AdapterState, adapterGuestCases } from './adapterCases';
import { attachLldbDap } from './adapters';

describe('live x86-64-4level through lldb-dap (lldb-vscode-16)', function () {
  this.timeout(180000);
  const attach = (port: number) => attachLldbDap(port, 'x86_64');
  const st: AdapterState = adapterGuestCases(
    {
      guest: 'x86-64-4level',
      arch: 'x86_64',
      registers: ['cr0', 'cr3', 'cr4', 'efer'],
      coreRegisters: ['efer'],
      directMap: 0xffff800000000000n,
      probeVa: 0xffffffff80000000n,
      attach,
      dialect: 'lldb-dap',
      auto: 'proc-mem',
      works: ['proc-mem', 'monitor-xp'],
      refused: [
        ['phymem-mode', /offers no readMemory request/],
        ['direct-map', /offers no readMemory request/],
      ],
      readMemory: false,
    },
    (st) => {
      // Runs first: the guest is running again, then paused by LLDB's failed connect.
      it('LLDB 16 cannot attach to a running QEMU (the stop reply QEMU sends on connect comes where LLDB waits for its handshake reply); the guest is then paused and the next attach works', async () => {
        await st.run.hmp('cont');
        assert.match(await st.run.hmp('info status'), /running/);
        await assert.rejects(attach(st.run.gdbPort!), /failed to get reply to handshake packet/);
        assert.match(await st.run.hmp('info status'), /VM status: paused/);
        st.s = await attach(st.run.gdbPort!);
        await st.clean();
      });
    },
  );

  it('commands come back in `result` after an "(lldb) CMD" echo; registers only in a frame', async () => {
    const r = (await st.s.client.evaluateRequest({ expression: '`process plugin packet monitor info status', context: 'repl' })).body.result;
    assert.match(r, /^\(lldb\) process plugin packet monitor info status\nVM status: paused/);
    await assert.rejects(st.s.client.evaluateRequest({ expression: '$cr3', context: 'watch' }), /No value/);
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
});

const AARCH64_REGS = ['TTBR0_EL1', 'TTBR1_EL1', 'TCR_EL1', 'MAIR_EL1', 'SCTLR', 'ID_AA64MMFR0_EL1', 'cpsr'];

describe('live aarch64-4k through lldb-dap (lldb-vscode-16)', function () {
  this.timeout(180000);
  const attach = (port: number) => attachLldbDap(port, 'aarch64');
  adapterGuestCases(
    {
      guest: 'aarch64-4k',
      arch: 'aarch64',
      registers: AARCH64_REGS.map((r) => r.toLowerCase()),
      coreRegisters: ['ttbr0_el1', 'ttbr1_el1', 'tcr_el1', 'mair_el1', 'sctlr', 'id_aa64mmfr0_el1'],
      directMap: 0xffff800000000000n - 0x40000000n,
      probeVa: 0xffffffff80000000n,
      // The system's gdb-multiarch, as live-aarch64.test.ts (its detach lets the guest run again).
      oracleRegisters: async (run) => {
        const g = await gdbRegisters(run.gdbPort!, AARCH64_REGS);
        const out = new Map<string, bigint>();
        for (const [k, v] of g) if (v !== undefined) out.set(k, v);
        return out;
      },
      attach,
      dialect: 'lldb-dap',
      auto: 'proc-mem',
      works: ['proc-mem', 'monitor-xp'],
      refused: [
        ['phymem-mode', /offers no readMemory request/],
        ['direct-map', /offers no readMemory request/],
      ],
      readMemory: false,
    },
    (st) => {
      it('the oracle\'s GDB left the guest running: LLDB\'s first attach fails its handshake and pauses it, the second works', async () => {
        await st.run.hmp('cont');
        await assert.rejects(attach(st.run.gdbPort!), /failed to get reply to handshake packet/);
        assert.match(await st.run.hmp('info status'), /VM status: paused/);
        st.s = await attach(st.run.gdbPort!);
        await st.clean();
      });
    },
  );
});
