// Live walks through GDB's own Debug Adapter Protocol interpreter (`gdb -i=dap`; GDB 16 from
// Debian 13, unpacked into a private prefix by scripts/ensure-gdb-dap.js and run through that
// prefix's own loader) attached to QEMU's gdbstub: every strategy, with the checks of the
// cdt-gdb-adapter path (adapterCases.ts): registers = `info registers`, leaves = the core path on
// a dump of the same stop, PhyMemMode 0 and the guest paused afterwards.
import assert from 'node:assert/strict';
import { openLiveTarget } from '../../../src/debug';
import { AdapterCase, adapterGuestCases } from './adapterCases';
import { AdapterSession, attachGdbDap } from './adapters';
import { ALL_STRATEGIES, LIVE_GUESTS } from './support';

/** GDB's DAP serves every strategy (it has readMemory and passes raw commands). */
const GDB_DAP: Pick<AdapterCase, 'dialect' | 'auto' | 'works' | 'refused' | 'readMemory'> = {
  dialect: 'gdb-dap',
  auto: 'proc-mem',
  works: ALL_STRATEGIES,
  refused: [],
  readMemory: true,
};

describe('live x86-64-4level through GDB 16 native DAP (gdb -i=dap)', function () {
  this.timeout(180000);
  let version = '';
  const st = adapterGuestCases({
    ...LIVE_GUESTS['x86-64-4level'],
    ...GDB_DAP,
    attach: async (port) => {
      const s = await attachGdbDap(port);
      version = s.version;
      return s as AdapterSession;
    },
  });

  it('is GDB >= 14, recognised from `show version` in the repl result (session type "gdb")', async () => {
    assert.ok(Number(version.split('.')[0]) >= 14, version);
    const t = await openLiveTarget(st.s.channel, st.s.observer);
    await t.dispose();
    assert.match(t.connection, /^adapter dialect gdb-dap \('show version' answered in the result/);
  });

  it('repl commands come back as text in `result`, with no output events (nothing in the user\'s console)', async () => {
    const before = st.s.output.length;
    const body = (await st.s.client.request('evaluate', { expression: 'monitor info status', context: 'repl' })).body;
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

// The other guests through gdb-multiarch (GDB 16's, from the same prefix).
for (const guest of ['aarch64-4k', 'riscv-sv39'] as const) {
  describe(`live ${guest} through GDB 16 native DAP (gdb-multiarch -i=dap)`, function () {
    this.timeout(180000);
    adapterGuestCases({ ...LIVE_GUESTS[guest], ...GDB_DAP, attach: (port) => attachGdbDap(port, { multiarch: true }) });
  });
}
