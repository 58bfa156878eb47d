// Live walks through GDB's own Debug Adapter Protocol interpreter (`gdb -i=dap`; GDB 16 from
// Debian 13, unpacked into a private prefix by scripts/ensure-gdb-dap.js and run through that
// prefix's own loader) attached to QEMU's gdbstub: every strategy, with the checks of the
// cdt-gdb-adapter path (adapterCases.ts): registers = `info registers`, leaves = the core path on
// a dump of the same stop, PhyMemMode 0 and the guest paused afterwards.
import assert from 'node:assert/strict';
import { openLiveTarget } from '../../../src/debug';
import { gdbRegisters } from '../aarch64/gdbRegisters';
import { adapterGuestCases } from './adapterCases';
import { AdapterSession, attachGdbDap } from './adapters';

describe('live x86-64-4level through GDB 16 native DAP (gdb -i=dap)', function () {
  this.timeout(180000);
  let version = '';
  const st = adapterGuestCases({
    guest: 'x86-64-4level',
    arch: 'x86_64',
    registers: ['cr0', 'cr3', 'cr4', 'efer'],
    coreRegisters: ['efer'],
    directMap: 0xffff800000000000n,
    probeVa: 0xffffffff80000000n,
    attach: async (port) => {
      const s = await attachGdbDap(port);
      version = s.version;
      return s as AdapterSession;
    },
    dialect: 'gdb-dap',
    auto: 'proc-mem',
    works: ['proc-mem', 'phymem-mode', 'monitor-xp', 'direct-map'],
    refused: [],
    readMemory: true,
  });

  it('is GDB >= 14, recognised from `show version` in the repl result (session type "gdb")', async () => {
    assert.ok(Number(version.split('.')[0]) >= 14, version);
    const t = await openLiveTarget(st.s.channel, st.s.observer);
    await t.dispose();
    assert.ok(t.strategyNotes.some((n) => /adapter dialect gdb-dap \('show version' answered in the result/.test(n)), t.strategyNotes.join('; '));
  });

  it('repl commands come back as text in `result`, with no output events (nothing in the user\'s console)', async () => {
    const before = st.s.output.length;
    const body = (await st.s.client.evaluateRequest({ expression: 'monitor info status', context: 'repl' })).body;
    assert.match(body.result, /VM status: paused/);
    assert.equal(st.s.output.length, before);
  });

  it('direct-map without an offset: recognised through GDB\'s Python, leaves equal the core', async () => {
    const t = await openLiveTarget(st.s.channel, st.s.observer, { strategy: 'direct-map' });
    try {
      assert.ok(t.strategyNotes.some((n) => /direct-map offset 0xffff800000000000 recognised/.test(n)), t.strategyNotes.join('; '));
    } finally {
      await t.dispose();
    }
    await st.clean();
  });
});

const AARCH64_REGS = ['TTBR0_EL1', 'TTBR1_EL1', 'TCR_EL1', 'MAIR_EL1', 'SCTLR', 'ID_AA64MMFR0_EL1', 'cpsr'];

describe('live aarch64-4k through GDB 16 native DAP (gdb-multiarch -i=dap)', function () {
  this.timeout(180000);
  // As live-aarch64.test.ts: AArch64 `info registers` has no system registers, so the oracle is
  // the system's own gdb-multiarch; RAM (PA 0x40000000) mapped at 0xffff800000000000.
  adapterGuestCases({
    guest: 'aarch64-4k',
    arch: 'aarch64',
    registers: AARCH64_REGS.map((r) => r.toLowerCase()),
    coreRegisters: ['ttbr0_el1', 'ttbr1_el1', 'tcr_el1', 'mair_el1', 'sctlr', 'id_aa64mmfr0_el1'],
    directMap: 0xffff800000000000n - 0x40000000n,
    probeVa: 0xffffffff80000000n,
    oracleRegisters: async (run) => {
      const g = await gdbRegisters(run.gdbPort!, AARCH64_REGS);
      const out = new Map<string, bigint>();
      for (const [k, v] of g) if (v !== undefined) out.set(k, v);
      return out;
    },
    attach: (port) => attachGdbDap(port, { multiarch: true }),
    dialect: 'gdb-dap',
    auto: 'proc-mem',
    works: ['proc-mem', 'phymem-mode', 'monitor-xp', 'direct-map'],
    refused: [],
    readMemory: true,
  });
});

describe('live riscv-sv39 through GDB 16 native DAP (gdb-multiarch -i=dap)', function () {
  this.timeout(180000);
  // As live-riscv.test.ts: RAM (PA 0x80000000) mapped at 0xffffffc000000000, text at 0xffffffff80000000.
  adapterGuestCases({
    guest: 'riscv-sv39',
    arch: 'riscv64',
    registers: ['satp'],
    coreRegisters: ['satp'],
    directMap: 0xffffffc000000000n - 0x80000000n,
    probeVa: 0xffffffff80000000n,
    attach: (port) => attachGdbDap(port, { multiarch: true }),
    dialect: 'gdb-dap',
    auto: 'proc-mem',
    works: ['proc-mem', 'phymem-mode', 'monitor-xp', 'direct-map'],
    refused: [],
    readMemory: true,
  });
});
