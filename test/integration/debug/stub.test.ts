// The CLI's own gdbstub client on our guests (x86-64 4-level, AArch64 4K, RISC-V Sv39), with no
// GDB anywhere in ptview's process tree: the CLI runs with a PATH that holds no gdb, and the
// in-process target is opened with child_process spawns counted. Oracles: QEMU's `info
// registers` (AArch64: a separate gdb-multiarch session, since QEMU's `info registers` has no
// system registers), the offline core path on a dump of the same stopped guest, `info status`,
// and QEMU's own answer to `qqemu.PhyMemMode`.
import assert from 'node:assert/strict';
import childProcess from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spaceFromRegisters } from '../../../src/core/formats';
import { leafRecord } from '../../../src/core/ops/records';
import { PageTableSession } from '../../../src/core/ops/session';
import { openQemuCore } from '../../../src/core/sources/elfCore';
import { StrategyName } from '../../../src/debug/api';
import { GdbStubClient } from '../../../src/debug/gdbstub/client';
import { openStubTarget } from '../../../src/debug/gdbstub/session';
import { parseInfoRegisters } from '../../harness/oracles';
import { GuestRun, bootGuest } from '../../harness/qemu';
import { gdbRegisters } from '../aarch64/gdbRegisters';
import { ALL_STRATEGIES, CLI, node } from './support';

interface StubCase {
  guest: string;
  arch: string;
  registers: string[];
  coreRegisters: string[];
  oracle(run: GuestRun): Promise<Map<string, bigint>>;
}

const infoRegisters = async (run: GuestRun) => parseInfoRegisters(await run.hmp('info registers'));
const AARCH64_REGS = ['TTBR0_EL1', 'TTBR1_EL1', 'TCR_EL1', 'MAIR_EL1', 'SCTLR', 'ID_AA64MMFR0_EL1', 'cpsr'];

const CASES: StubCase[] = [
  { guest: 'x86-64-4level', arch: 'x86_64', registers: ['cr0', 'cr3', 'cr4', 'efer'], coreRegisters: ['efer'], oracle: infoRegisters },
  {
    guest: 'aarch64-4k',
    arch: 'aarch64',
    registers: AARCH64_REGS.map((r) => r.toLowerCase()),
    coreRegisters: ['ttbr0_el1', 'ttbr1_el1', 'tcr_el1', 'mair_el1', 'sctlr', 'id_aa64mmfr0_el1'],
    oracle: async (run) => {
      const out = new Map<string, bigint>();
      for (const [k, v] of await gdbRegisters(run.gdbPort!, AARCH64_REGS)) if (v !== undefined) out.set(k, v);
      return out;
    },
  },
  { guest: 'riscv-sv39', arch: 'riscv64', registers: ['satp'], coreRegisters: ['satp'], oracle: infoRegisters },
];

/** QEMU's PhyMemMode, asked by a fresh client (which also proves the next attach works at once). */
async function phyMemModeNow(port: number): Promise<string> {
  const c = await GdbStubClient.connect('127.0.0.1', port);
  try {
    return await c.request('qqemu.PhyMemMode');
  } finally {
    await c.close();
  }
}

/** Counts child processes started while `fn` runs (none may be: no GDB, no helper). */
async function noChildProcesses<T>(fn: () => Promise<T>): Promise<T> {
  const names = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const;
  const cp = childProcess as unknown as Record<string, (...a: unknown[]) => unknown>;
  const saved = names.map((n) => cp[n]);
  const started: string[] = [];
  names.forEach((n, i) => {
    cp[n] = (...a: unknown[]) => {
      started.push(`${n} ${String(a[0])}`);
      return saved[i](...a);
    };
  });
  try {
    return await fn();
  } finally {
    names.forEach((n, i) => (cp[n] = saved[i]));
    assert.deepEqual(started, [], 'no child process may be started');
  }
}

for (const c of CASES) {
  describe(`live ${c.guest} through ptview's own gdbstub client (no GDB)`, function () {
    this.timeout(120000);
    let run: GuestRun;
    let oracle: Map<string, bigint>;
    let corePath: string;
    let coreLeaves: string[];
    let coreTables: number;
    let offlineJson: string;
    // A PATH with no gdb (nor anything else) in it: the CLI cannot start GDB even by accident.
    const emptyBin = fs.mkdtempSync(path.join(os.tmpdir(), 'ptview-nogdb-'));
    const noGdbEnv = { ...process.env, PATH: emptyBin };

    before(async () => {
      run = await bootGuest(c.guest, { gdb: true });
      corePath = await run.dump();
      oracle = await c.oracle(run);
      const core = await openQemuCore(corePath);
      const regs = new Map(core.registers);
      for (const r of c.coreRegisters) regs.set(r, oracle.get(r)!);
      const s = new PageTableSession(spaceFromRegisters(core.arch, regs), core.memory);
      coreLeaves = (await s.leaves()).map((l) => JSON.stringify(leafRecord(l)));
      coreTables = s.stats.tablesRead;
      await core.memory.close();
      assert.ok(coreLeaves.length > 5 && coreTables > 3);
      const coreRegArgs = c.coreRegisters.flatMap((r) => ['--reg', `${r.toUpperCase()}=0x${oracle.get(r)!.toString(16)}`]);
      const offline = await node([CLI, 'dump', '--leaves', '--json', '--core', corePath, ...coreRegArgs]);
      assert.equal(offline.status, 0, offline.stderr);
      offlineJson = offline.stdout;
    });
    after(async () => {
      await run?.kill();
      fs.rmSync(emptyBin, { recursive: true, force: true });
    });

    for (const strategy of ['auto', ...ALL_STRATEGIES] as (StrategyName | 'auto')[]) {
      it(`CLI dump --gdb --leaves --json${strategy === 'auto' ? '' : ` --strategy ${strategy}`} with no gdb on PATH equals dump --core; guest paused, PhyMemMode 0, next attach at once`, async () => {
        const args = [CLI, 'dump', '--leaves', '--json', '--stats', '--gdb', `127.0.0.1:${run.gdbPort}`];
        if (strategy !== 'auto') args.push('--strategy', strategy);
        const r = await node(args, noGdbEnv);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, offlineJson);
        assert.match(r.stderr, new RegExp(`live ${c.arch} via gdbstub, strategy ${strategy === 'auto' ? 'proc-mem' : strategy}: \\d+ gdbstub packets`));
        // --stats names the connection (structured: LiveTarget.connection, not found by its text).
        assert.match(r.stderr, /note: ptview's gdbstub client on 127\.0\.0\.1:\d+ \(/);
        assert.match(await run.hmp('info status'), /VM status: paused/);
        assert.equal(await phyMemModeNow(run.gdbPort!), '0');
      });
    }

    for (const strategy of ALL_STRATEGIES) {
      it(`in-process ${strategy}: registers equal the oracle, leaves equal the core, each table read once, no child process, session left clean`, async () => {
        await noChildProcesses(async () => {
          const stub = await openStubTarget(`127.0.0.1:${run.gdbPort}`, { strategy });
          try {
            const t = stub.target;
            assert.equal(t.strategy, strategy);
            assert.equal(t.arch, c.arch);
            assert.equal(t.dialect, 'gdbstub');
            for (const r of c.registers) assert.equal(t.registers.get(r), oracle.get(r), r);
            t.resetStats();
            const session = new PageTableSession(spaceFromRegisters(t.arch, t.registers), t.memory);
            const leaves = (await session.leaves()).map((l) => JSON.stringify(leafRecord(l)));
            assert.deepEqual(leaves, coreLeaves);
            assert.equal(session.stats.tablesRead, coreTables);
            assert.equal(t.stats.reads, coreTables, 'every table reaches the target exactly once');
            assert.equal(t.stats.bytesRead, coreTables * 4096);
            if (strategy === 'proc-mem') assert.equal(t.stats.dapRequests, 0, 'proc-mem sends no packets during the walk');
            else assert.ok(t.stats.dapRequests >= coreTables, String(t.stats.dapRequests));
          } finally {
            await stub.close();
          }
        });
        assert.match(await run.hmp('info status'), /VM status: paused/);
        assert.equal(await phyMemModeNow(run.gdbPort!), '0');
      });
    }

    it('a second client while ptview is attached gets "one debugger at a time" (exit 3); the first one still works', async () => {
      const stub = await openStubTarget(`127.0.0.1:${run.gdbPort}`, { strategy: 'phymem-mode' });
      try {
        const r = await node([CLI, 'dump', '--gdb', `127.0.0.1:${run.gdbPort}`], noGdbEnv);
        assert.equal(r.status, 3, r.stderr);
        // QEMU leaves the second connection unaccepted: connected, but not a byte comes back.
        assert.match(r.stderr, /^ptview: the gdbstub at 127\.0\.0\.1:\d+ accepted the connection but sent nothing within 3000 ms: QEMU serves one debugger at a time/m);
        const session = new PageTableSession(spaceFromRegisters(stub.target.arch, stub.target.registers), stub.target.memory);
        assert.equal((await session.leaves()).length, coreLeaves.length);
      } finally {
        await stub.close();
      }
      assert.equal(await phyMemModeNow(run.gdbPort!), '0');
    });

    if (c.guest === 'x86-64-4level') {
      it('PhyMemMode left at 1 by a killed session is found, cleared and reported by the next run', async () => {
        const cl = await GdbStubClient.connect('127.0.0.1', run.gdbPort!);
        assert.equal(await cl.request('Qqemu.PhyMemMode:1'), 'OK'); // raw request: close() does not know it
        cl.destroy();
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(await phyMemModeNow(run.gdbPort!), '1');
        const r = await node([CLI, 'dump', '--leaves', '--json', '--stats', '--gdb', `127.0.0.1:${run.gdbPort}`], noGdbEnv);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, offlineJson);
        assert.match(r.stderr, /PhyMemMode was left at 1 .* switched it back to 0/);
        assert.equal(await phyMemModeNow(run.gdbPort!), '0');
      });

      it('--resume lets the guest run again (detach); without it, it stays paused', async () => {
        const r = await node([CLI, 'dump', '--gdb', `127.0.0.1:${run.gdbPort}`, '--resume'], noGdbEnv);
        assert.equal(r.status, 0, r.stderr);
        assert.doesNotMatch(r.stderr, /gdbstub client on|live target through/, 'how the target was reached: with --stats only');
        assert.match(await run.hmp('info status'), /VM status: running/);
        // Connecting stops it again (QEMU), and closing leaves it stopped.
        assert.equal(await phyMemModeNow(run.gdbPort!), '0');
        assert.match(await run.hmp('info status'), /VM status: paused/);
      });
    }
  });
}
