// Live walks of the x86-64-4level guest through the real cdt-gdb-adapter and GDB 13, for every
// strategy (shared cases in support.ts: registers against QEMU's `info registers`, leaves against
// the offline core path on a dump of the same stopped guest), then the session left as found
// after a failed read, cancellation, a running target, a stale mode, a dead adapter and a dead
// QEMU (PhyMemMode 0, the user's virtual reads virtual).
import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { MemoryReadError } from '../../../src/core/memory';
import { PageTableSession } from '../../../src/core/ops/session';
import { LiveAccessError, LiveTarget, StrategyName, forgetSession, openLiveTarget } from '../../../src/debug';
import { GdbSession, attachGdb } from '../../../src/debug/gdbAttach';
import { bootGuest } from '../../harness/qemu';
import { LIVE_GUESTS, consoleCommand, hookRequests, liveGuestCases, phyMemMode } from './support';

describe('live x86-64-4level through cdt-gdb-adapter + GDB', function () {
  this.timeout(120000);
  const st = liveGuestCases(LIVE_GUESTS['x86-64-4level']);
  const clean = (s: GdbSession) => st.clean(s);
  const opts = (s: StrategyName) => st.opts(s);
  const liveLeaves = (t: LiveTarget) => st.liveLeaves(t);

  it('automatic choice: proc-mem first, with the reason list empty of failures', async () => {
    const t = await openLiveTarget(st.gdb!.channel, st.gdb!.observer);
    await t.dispose();
    assert.equal(t.strategy, 'proc-mem');
    assert.ok(t.strategyNotes.some((n) => /dialect cdt-gdb/.test(n)));
  });

  it('never reads outside RAM: a table address in MMIO (IOAPIC) is refused without a request', async () => {
    const t = await openLiveTarget(st.gdb!.channel, st.gdb!.observer, opts('phymem-mode'));
    try {
      const n = t.stats.dapRequests;
      const [r] = await t.memory.readMany([{ addr: 0xfec00000 as never, length: 4096 }]);
      assert.ok(r instanceof MemoryReadError && r.reason === 'outside-ram', String(r));
      assert.equal(t.stats.dapRequests, n);
      assert.ok(t.memory.ram.length >= 1 && t.memory.ram.every((x) => x.end <= 32 * 2 ** 20), JSON.stringify(t.memory.ram));
    } finally {
      await t.dispose();
    }
    await clean(st.gdb!);
  });

  it('phymem-mode: a failed read mid-walk ends the walk with the mode back at 0', async () => {
    const failing = hookRequests(st.gdb!, 'readMemory', (n) => {
      if (n === 3) throw new Error('Unable to read memory (injected)');
    });
    const t = await openLiveTarget(failing, st.gdb!.observer, opts('phymem-mode'));
    try {
      const { leaves } = await liveLeaves(t);
      assert.ok(leaves.length < st.coreLeaves.length, 'the failed table loses its subtree, nothing else');
    } finally {
      await t.dispose();
      forgetSession(failing);
    }
    await clean(st.gdb!);
  });

  it('phymem-mode: cancellation mid-walk rejects as cancelled with the mode back at 0', async () => {
    const ac = new AbortController();
    const ch = hookRequests(st.gdb!, 'readMemory', (n) => {
      if (n === 2) ac.abort();
    });
    const t = await openLiveTarget(ch, st.gdb!.observer, opts('phymem-mode'));
    try {
      const session = new PageTableSession(spaceFromRegisters(t.arch, t.registers), t.memory);
      await assert.rejects(session.leaves({ signal: ac.signal }), (e: Error) => e.name === 'AbortError' || (e instanceof MemoryReadError && e.reason === 'cancelled'));
    } finally {
      await t.dispose();
      forgetSession(ch);
    }
    await clean(st.gdb!);
  });

  it('a running target gets "pause the target" and is neither paused nor resumed', async () => {
    await st.gdb!.channel.request('continue', { threadId: 1 });
    await new Promise((r) => setTimeout(r, 200));
    try {
      await assert.rejects(openLiveTarget(st.gdb!.channel, st.gdb!.observer), (e: Error) => e instanceof LiveAccessError && e.kind === 'running' && /pause the target/.test(e.message));
      assert.match(await st.run.hmp('info status'), /running/);
    } finally {
      await st.gdb!.channel.request('pause', { threadId: 1 });
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.match(await st.run.hmp('info status'), /paused/);
    await clean(st.gdb!);
  });

  it('a stale PhyMemMode 1 found on attach is switched off and reported', async () => {
    await consoleCommand(st.gdb!, 'maintenance packet Qqemu.PhyMemMode:1');
    assert.equal(await phyMemMode(st.gdb!), '1');
    forgetSession(st.gdb!.channel);
    const t = await openLiveTarget(st.gdb!.channel, st.gdb!.observer, opts('proc-mem'));
    await t.dispose();
    assert.ok(t.strategyNotes.some((n) => /left at 1/.test(n)), t.strategyNotes.join('; '));
    await consoleCommand(st.gdb!, 'maintenance flush dcache');
    await clean(st.gdb!);
  });

  it('the session ending mid-walk (adapter killed) fails cleanly; the next attach finds PhyMemMode 0 or clears it', async () => {
    const s = st.gdb!;
    const ch = hookRequests(s, 'readMemory', async (n) => {
      if (n === 2) await s.close();
    });
    const t = await openLiveTarget(ch, s.observer, opts('phymem-mode'));
    const session = new PageTableSession(spaceFromRegisters(t.arch, t.registers), t.memory);
    await assert.rejects(session.leaves(), (e: Error) => e instanceof MemoryReadError && e.reason === 'session-ended');
    await t.dispose();
    st.gdb = undefined;
    await new Promise((r) => setTimeout(r, 500)); // GDB exits when the adapter's pipe closes
    st.gdb = await attachGdb(`127.0.0.1:${st.run.gdbPort}`);
    const t2 = await openLiveTarget(st.gdb.channel, st.gdb.observer, opts('phymem-mode'));
    // The dead session could not switch back; the new one found QEMU's sticky 1 and cleared it.
    assert.ok(t2.strategyNotes.some((n) => /left at 1/.test(n)), t2.strategyNotes.join('; '));
    try {
      const { leaves } = await liveLeaves(t2);
      assert.deepEqual(leaves, st.coreLeaves);
    } finally {
      await t2.dispose();
    }
    await clean(st.gdb);
  });

  for (const strategy of ['phymem-mode', 'proc-mem'] as StrategyName[]) {
    it(`${strategy}: QEMU killed mid-walk ends the walk with session-ended, dispose does not hang`, async function () {
      if (strategy === 'proc-mem') {
        // Needs a fresh guest: the first kill ends this one.
        await st.gdb?.close();
        await st.run.kill();
        st.run = await bootGuest('x86-64-4level', { gdb: true });
        st.gdb = await attachGdb(`127.0.0.1:${st.run.gdbPort}`);
      }
      const s = st.gdb!;
      const t = await openLiveTarget(s.channel, s.observer, opts(strategy));
      const inner = t.memory.readMany.bind(t.memory);
      let batches = 0;
      (t.memory as { readMany: typeof inner }).readMany = async (reqs, sig) => {
        if (++batches === 2) await st.run.kill();
        return inner(reqs, sig);
      };
      const session = new PageTableSession(spaceFromRegisters(t.arch, t.registers), t.memory);
      await assert.rejects(session.leaves(), (e: Error) => e instanceof MemoryReadError && (e.reason === 'session-ended' || e.reason === 'io'));
      await Promise.race([t.dispose(), new Promise((_, rej) => setTimeout(() => rej(new Error('dispose hung')), 10000))]);
      await s.close();
      st.gdb = undefined;
    });
  }
});
