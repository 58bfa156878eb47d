// The cdt-gdb-adapter checks (support.ts) for any other adapter: on a guest stopped by a dump,
// the adapter attached to QEMU's gdbstub; per strategy, registers equal QEMU's `info registers`,
// leaves equal the offline core path on the dump of the same stop, each table read once, then
// PhyMemMode 0 (read through the adapter's own debugger) and the guest still paused (`info
// status`). Strategies an adapter cannot serve must be refused with the reason given.
import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { leafRecord } from '../../../src/core/ops/records';
import { PageTableSession } from '../../../src/core/ops/session';
import { openQemuCore } from '../../../src/core/sources/elfCore';
import { Dialect, LiveAccessError, LiveTarget, StrategyName, openLiveTarget } from '../../../src/debug';
import { parseGva2gpa, parseInfoRegisters } from '../../harness/oracles';
import { GuestRun, bootGuest } from '../../harness/qemu';
import { AdapterSession } from './adapters';
import { LiveGuestCase, xpBytes } from './support';

/** A guest (support.ts LIVE_GUESTS) and what an adapter attached to it must do. */
export interface AdapterCase extends LiveGuestCase {
  attach(port: number): Promise<AdapterSession>;
  dialect: Dialect;
  /** The strategy the automatic choice must take. */
  auto: StrategyName;
  /** Strategies that must work end to end. */
  works: StrategyName[];
  /** Forced strategies that must be refused, with the reason that must be given. */
  refused: [StrategyName, RegExp][];
  /** Whether the adapter has DAP readMemory (then the user's virtual read is checked too). */
  readMemory: boolean;
}

export interface AdapterState {
  run: GuestRun;
  s: AdapterSession;
  oracle: Map<string, bigint>;
  coreLeaves: string[];
  coreTables: number;
  clean(): Promise<void>;
}

async function liveLeaves(t: LiveTarget): Promise<{ leaves: string[]; tables: number }> {
  const session = new PageTableSession(spaceFromRegisters(t.arch, t.registers), t.memory);
  const leaves = (await session.leaves()).map((l) => JSON.stringify(leafRecord(l)));
  return { leaves, tables: session.stats.tablesRead };
}

/** `attachTests` registers the tests that attach (default: one plain attach), run before the shared ones. */
export function adapterGuestCases(c: AdapterCase, attachTests?: (st: AdapterState) => void): AdapterState {
  const st = {} as AdapterState;
  const opts = (strategy: StrategyName) => ({ strategy, directMapOffset: strategy === 'direct-map' ? c.directMap : undefined });
  st.clean = async () => {
    assert.equal(await st.s.phyMemMode(), '0', 'PhyMemMode must be back at 0');
    assert.match(await st.run.hmp('info status'), /VM status: paused/);
    if (!c.readMemory) return;
    // The user's next virtual read still reads virtual memory.
    const pa = parseGva2gpa(await st.run.hmp(`gva2gpa 0x${c.probeVa.toString(16)}`));
    assert.ok(pa !== undefined && pa !== c.probeVa);
    const body = await st.s.channel.request('readMemory', { memoryReference: `0x${c.probeVa.toString(16)}`, count: 16 });
    assert.deepEqual(Buffer.from(body.data, 'base64'), await xpBytes(st.run, pa, 16));
  };

  before(async () => {
    st.run = await bootGuest(c.guest, { gdb: true });
    const corePath = await st.run.dump(); // pauses the guest
    st.oracle = c.oracleRegisters ? await c.oracleRegisters(st.run) : parseInfoRegisters(await st.run.hmp('info registers'));
    const core = await openQemuCore(corePath);
    const regs = new Map(core.registers);
    for (const r of c.coreRegisters) regs.set(r, st.oracle.get(r)!);
    const s = new PageTableSession(spaceFromRegisters(core.arch, regs), core.memory);
    st.coreLeaves = (await s.leaves()).map((l) => JSON.stringify(leafRecord(l)));
    st.coreTables = s.stats.tablesRead;
    await core.memory.close();
    assert.ok(st.coreLeaves.length > 5 && st.coreTables > 3);
  });
  after(async () => {
    st.s?.close();
    await st.run?.kill();
  });

  if (attachTests) attachTests(st);
  else {
    it('attaches without resuming the guest; PhyMemMode 0', async () => {
      st.s = await c.attach(st.run.gdbPort!);
      await st.clean();
    });
  }

  it(`automatic choice: dialect ${c.dialect}, strategy ${c.auto}; every refused strategy says why`, async () => {
    const t = await openLiveTarget(st.s.channel, st.s.observer);
    await t.dispose();
    assert.equal(t.dialect, c.dialect);
    assert.equal(t.strategy, c.auto);
    for (const [name, why] of c.refused) {
      if (c.works.includes(name)) continue;
      const order: StrategyName[] = ['proc-mem', 'phymem-mode', 'monitor-xp', 'direct-map'];
      // Only strategies before the chosen one are tried (and explained).
      if (order.indexOf(name) < order.indexOf(c.auto)) assert.ok(t.strategyNotes.some((n) => n.startsWith(`${name} not used: `) && why.test(n)), t.strategyNotes.join('; '));
    }
    await st.clean();
  });

  for (const strategy of c.works) {
    it(`${strategy}: registers equal the oracle, leaves equal the core, each table read once, PhyMemMode 0, guest paused`, async () => {
      const t = await openLiveTarget(st.s.channel, st.s.observer, opts(strategy));
      try {
        assert.equal(t.strategy, strategy);
        assert.equal(t.arch, c.arch);
        assert.equal(t.dialect, c.dialect);
        for (const r of c.registers) assert.equal(t.registers.get(r), st.oracle.get(r), r);
        t.resetStats();
        const { leaves, tables } = await liveLeaves(t);
        assert.deepEqual(leaves, st.coreLeaves);
        assert.equal(tables, st.coreTables);
        assert.equal(t.stats.reads, st.coreTables, 'every table reaches the target exactly once');
        assert.equal(t.stats.bytesRead, st.coreTables * 4096);
        const before = t.stats.dapRequests;
        await liveLeaves(t);
        assert.equal(t.stats.dapRequests, before, 'a second walk of the same stop comes from the cache');
      } finally {
        await t.dispose();
      }
      await st.clean();
    });
  }

  for (const [strategy, why] of c.refused) {
    it(`${strategy} forced: refused with ${why}`, async () => {
      await assert.rejects(openLiveTarget(st.s.channel, st.s.observer, opts(strategy)), (e: Error) => e instanceof LiveAccessError && e.kind === 'strategy-failed' && why.test(e.message));
      await st.clean();
    });
  }
  return st;
}
