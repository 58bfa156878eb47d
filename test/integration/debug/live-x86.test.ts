// Live walks of the x86-64-4level guest through the real cdt-gdb-adapter and GDB 13, for every
// strategy: registers against QEMU's `info registers`, leaves against the offline core path on a
// dump of the same stopped guest, and the session left as found after success, failure,
// cancellation, a dead adapter and a dead QEMU (PhyMemMode 0, virtual reads virtual).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { spaceFromRegisters } from '../../../src/core/formats';
import { MemoryReadError } from '../../../src/core/memory';
import { leafRecord } from '../../../src/core/ops/records';
import { PageTableSession } from '../../../src/core/ops/session';
import { openQemuCore } from '../../../src/core/sources/elfCore';
import { LiveAccessError, LiveTarget, StrategyName, forgetSession, openLiveTarget } from '../../../src/debug';
import { GdbSession, attachGdb } from '../../../src/debug/gdbAttach';
import { parseInfoRegisters } from '../../harness/oracles';
import { GuestRun, REPO, bootGuest } from '../../harness/qemu';
import { assertVirtualRead, consoleCommand, hookRequests, phyMemMode } from './support';

const CLI = path.join(REPO, 'out', 'cli.js');
const STRATEGIES: StrategyName[] = ['proc-mem', 'phymem-mode', 'monitor-xp', 'direct-map'];
// The guest's direct map (expect.json: 1 GiB at 0xffff800000000000 -> PA 0) and its kernel text.
const DIRECT_MAP = 0xffff800000000000n;
const TEXT_VA = 0xffffffff80000000n;
const TEXT_PA = 0x100000n;

describe('live x86-64-4level through cdt-gdb-adapter + GDB', function () {
  this.timeout(120000);
  let run: GuestRun;
  let oracle: Map<string, bigint>;
  let coreLeaves: string[];
  let coreTables: number;
  let gdb: GdbSession | undefined;

  const opts = (strategy: StrategyName) => ({ strategy, directMapOffset: strategy === 'direct-map' ? DIRECT_MAP : undefined });

  async function clean(s: GdbSession): Promise<void> {
    assert.equal(await phyMemMode(s), '0', 'PhyMemMode must be back at 0');
    await assertVirtualRead(s, run, TEXT_VA, TEXT_PA);
  }

  async function liveLeaves(t: LiveTarget): Promise<{ leaves: string[]; tables: number }> {
    const space = spaceFromRegisters(t.arch, t.registers);
    const session = new PageTableSession(space, t.memory);
    const leaves = (await session.leaves()).map((l) => JSON.stringify(leafRecord(l)));
    return { leaves, tables: session.stats.tablesRead };
  }

  before(async () => {
    run = await bootGuest('x86-64-4level', { gdb: true });
    // The oracle state and the offline path, from a dump of the stopped guest (it idles in hlt).
    const core = await run.dump();
    oracle = parseInfoRegisters(await run.hmp('info registers'));
    const c = await openQemuCore(core);
    const regs = new Map(c.registers);
    regs.set('efer', oracle.get('efer')!);
    const s = new PageTableSession(spaceFromRegisters(c.arch, regs), c.memory);
    coreLeaves = (await s.leaves()).map((l) => JSON.stringify(leafRecord(l)));
    coreTables = s.stats.tablesRead;
    await c.memory.close();
    assert.ok(coreLeaves.length > 20 && coreTables > 5);
  });
  after(async () => {
    await gdb?.close();
    await run?.kill();
  });

  for (const strategy of STRATEGIES) {
    it(`CLI: dump --gdb --leaves --json --strategy ${strategy} equals dump --core, guest still paused`, async () => {
      const efer = '0x' + oracle.get('efer')!.toString(16);
      const offline = spawnSync(process.execPath, [CLI, 'dump', '--leaves', '--json', '--core', path.join(run.dir, 'core.elf'), '--reg', `EFER=${efer}`], { encoding: 'utf8' });
      assert.equal(offline.status, 0, offline.stderr);
      const args = [CLI, 'dump', '--leaves', '--json', '--stats', '--gdb', `127.0.0.1:${run.gdbPort}`, '--strategy', strategy];
      if (strategy === 'direct-map') args.push('--direct-map', '0x' + DIRECT_MAP.toString(16));
      const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const p = require('node:child_process').spawn(process.execPath, args);
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d: Buffer) => (stdout += d));
        p.stderr.on('data', (d: Buffer) => (stderr += d));
        p.on('close', (status: number | null) => resolve({ status, stdout, stderr }));
      });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, offline.stdout);
      assert.match(r.stderr, new RegExp(`strategy ${strategy}: \\d+ DAP requests`));
      assert.match(r.stderr, /ms per phase: .*walk \d/);
      assert.match(await run.hmp('info status'), /paused/);
    });
  }

  it('attaches in-process', async () => {
    gdb = await attachGdb(`127.0.0.1:${run.gdbPort}`);
    await clean(gdb);
  });

  for (const strategy of STRATEGIES) {
    it(`${strategy}: registers equal info registers, leaves equal the core, each table read once, session left clean`, async () => {
      const t = await openLiveTarget(gdb!.channel, gdb!.observer, opts(strategy));
      try {
        assert.equal(t.strategy, strategy);
        assert.equal(t.arch, 'x86_64');
        assert.equal(t.dialect, 'cdt-gdb');
        for (const r of ['cr0', 'cr3', 'cr4', 'efer']) assert.equal(t.registers.get(r), oracle.get(r), r);
        t.resetStats();
        const { leaves, tables } = await liveLeaves(t);
        assert.deepEqual(leaves, coreLeaves);
        assert.equal(tables, coreTables);
        assert.equal(t.stats.reads, coreTables, 'every table reaches the target exactly once');
        assert.equal(t.stats.bytesRead, coreTables * 4096);
        // DAP requests: none for proc-mem; one per table (+ mode switches) otherwise.
        if (strategy === 'proc-mem') assert.equal(t.stats.dapRequests, 0);
        else assert.ok(t.stats.dapRequests >= coreTables, String(t.stats.dapRequests));
        // A second walk of the same stop is served from the cache.
        const before = t.stats.dapRequests;
        await liveLeaves(t);
        assert.equal(t.stats.dapRequests, before);
        assert.equal(t.stats.cacheHits, coreTables);
      } finally {
        await t.dispose();
      }
      await clean(gdb!);
    });
  }

  it('automatic choice: proc-mem first, with the reason list empty of failures', async () => {
    const t = await openLiveTarget(gdb!.channel, gdb!.observer);
    await t.dispose();
    assert.equal(t.strategy, 'proc-mem');
    assert.ok(t.strategyNotes.some((n) => /dialect cdt-gdb/.test(n)));
  });

  it('never reads outside RAM: a table address in MMIO (IOAPIC) is refused without a request', async () => {
    const t = await openLiveTarget(gdb!.channel, gdb!.observer, opts('phymem-mode'));
    try {
      const n = t.stats.dapRequests;
      const [r] = await t.memory.readMany([{ addr: 0xfec00000 as never, length: 4096 }]);
      assert.ok(r instanceof MemoryReadError && r.reason === 'outside-ram', String(r));
      assert.equal(t.stats.dapRequests, n);
      assert.ok(t.memory.ram.length >= 1 && t.memory.ram.every((x) => x.end <= 32 * 2 ** 20), JSON.stringify(t.memory.ram));
    } finally {
      await t.dispose();
    }
    await clean(gdb!);
  });

  it('phymem-mode: a failed read mid-walk ends the walk with the mode back at 0', async () => {
    const failing = hookRequests(gdb!, 'readMemory', (n) => {
      if (n === 3) throw new Error('Unable to read memory (injected)');
    });
    const t = await openLiveTarget(failing, gdb!.observer, opts('phymem-mode'));
    try {
      const { leaves } = await liveLeaves(t);
      assert.ok(leaves.length < coreLeaves.length, 'the failed table loses its subtree, nothing else');
    } finally {
      await t.dispose();
      forgetSession(failing);
    }
    await clean(gdb!);
  });

  it('phymem-mode: cancellation mid-walk rejects as cancelled with the mode back at 0', async () => {
    const ac = new AbortController();
    const ch = hookRequests(gdb!, 'readMemory', (n) => {
      if (n === 2) ac.abort();
    });
    const t = await openLiveTarget(ch, gdb!.observer, opts('phymem-mode'));
    try {
      const session = new PageTableSession(spaceFromRegisters(t.arch, t.registers), t.memory);
      await assert.rejects(session.leaves({ signal: ac.signal }), (e: Error) => e.name === 'AbortError' || (e instanceof MemoryReadError && e.reason === 'cancelled'));
    } finally {
      await t.dispose();
      forgetSession(ch);
    }
    await clean(gdb!);
  });

  it('a running target gets "pause the target" and is neither paused nor resumed', async () => {
    await gdb!.channel.request('continue', { threadId: 1 });
    await new Promise((r) => setTimeout(r, 200));
    try {
      await assert.rejects(openLiveTarget(gdb!.channel, gdb!.observer), (e: Error) => e instanceof LiveAccessError && e.kind === 'running' && /pause the target/.test(e.message));
      assert.match(await run.hmp('info status'), /running/);
    } finally {
      await gdb!.channel.request('pause', { threadId: 1 });
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.match(await run.hmp('info status'), /paused/);
    await clean(gdb!);
  });

  it('a stale PhyMemMode 1 found on attach is switched off and reported', async () => {
    await consoleCommand(gdb!, 'maintenance packet Qqemu.PhyMemMode:1');
    assert.equal(await phyMemMode(gdb!), '1');
    forgetSession(gdb!.channel);
    const t = await openLiveTarget(gdb!.channel, gdb!.observer, opts('proc-mem'));
    await t.dispose();
    assert.ok(t.strategyNotes.some((n) => /left at 1/.test(n)), t.strategyNotes.join('; '));
    await consoleCommand(gdb!, 'maintenance flush dcache');
    await clean(gdb!);
  });

  it('the session ending mid-walk (adapter killed) fails cleanly; the next attach finds PhyMemMode 0 or clears it', async () => {
    const s = gdb!;
    const ch = hookRequests(s, 'readMemory', async (n) => {
      if (n === 2) await s.close();
    });
    const t = await openLiveTarget(ch, s.observer, opts('phymem-mode'));
    const session = new PageTableSession(spaceFromRegisters(t.arch, t.registers), t.memory);
    await assert.rejects(session.leaves(), (e: Error) => e instanceof MemoryReadError && e.reason === 'session-ended');
    await t.dispose();
    gdb = undefined;
    await new Promise((r) => setTimeout(r, 500)); // GDB exits when the adapter's pipe closes
    gdb = await attachGdb(`127.0.0.1:${run.gdbPort}`);
    const t2 = await openLiveTarget(gdb.channel, gdb.observer, opts('phymem-mode'));
    // The dead session could not switch back; the new one found QEMU's sticky 1 and cleared it.
    assert.ok(t2.strategyNotes.some((n) => /left at 1/.test(n)), t2.strategyNotes.join('; '));
    try {
      const { leaves } = await liveLeaves(t2);
      assert.deepEqual(leaves, coreLeaves);
    } finally {
      await t2.dispose();
    }
    await clean(gdb);
  });

  for (const strategy of ['phymem-mode', 'proc-mem'] as StrategyName[]) {
    it(`${strategy}: QEMU killed mid-walk ends the walk with session-ended, dispose does not hang`, async function () {
      if (strategy === 'proc-mem') {
        // Needs a fresh guest: the first kill ends this one.
        await gdb?.close();
        await run.kill();
        run = await bootGuest('x86-64-4level', { gdb: true });
        gdb = await attachGdb(`127.0.0.1:${run.gdbPort}`);
      }
      const s = gdb!;
      const t = await openLiveTarget(s.channel, s.observer, opts(strategy));
      const inner = t.memory.readMany.bind(t.memory);
      let batches = 0;
      (t.memory as { readMany: typeof inner }).readMany = async (reqs, sig) => {
        if (++batches === 2) await run.kill();
        return inner(reqs, sig);
      };
      const session = new PageTableSession(spaceFromRegisters(t.arch, t.registers), t.memory);
      await assert.rejects(session.leaves(), (e: Error) => e instanceof MemoryReadError && (e.reason === 'session-ended' || e.reason === 'io'));
      await Promise.race([t.dispose(), new Promise((_, rej) => setTimeout(() => rej(new Error('dispose hung')), 10000))]);
      await s.close();
      gdb = undefined;
    });
  }
});
