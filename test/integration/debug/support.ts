// Shared helpers for the live-debug integration tests: raw GDB commands through the real
// adapter (as a user would type them in the Debug Console) and QEMU monitor oracles.
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spaceFromRegisters } from '../../../src/core/formats';
import { leafRecord } from '../../../src/core/ops/records';
import { PageTableSession } from '../../../src/core/ops/session';
import { openQemuCore } from '../../../src/core/sources/elfCore';
import { LiveTarget, StrategyName, forgetSession, openLiveTarget } from '../../../src/debug';
import { GdbSession, attachGdb } from '../../../src/debug/gdbAttach';
import { parseGva2gpa, parseInfoRegisters } from '../../harness/oracles';
import { GuestRun, REPO, bootGuest } from '../../harness/qemu';
import { gdbRegisters } from '../aarch64/gdbRegisters';

/** Runs `>CMD` in the Debug Console of a cdt-gdb-adapter session and returns its output text. */
export async function consoleCommand(s: GdbSession, cmd: string): Promise<string> {
  const out: string[] = [];
  const sub = s.observer.onEvent!((e) => {
    if (e.event === 'output') out.push((e as DebugProtocol.OutputEvent).body.output);
  });
  try {
    await s.channel.request('evaluate', { expression: `>${cmd}`, context: 'repl' });
  } finally {
    sub.dispose();
  }
  return out.join('');
}

/** QEMU's PhyMemMode as GDB reads it with `maintenance packet qqemu.PhyMemMode`. */
export async function phyMemMode(s: GdbSession): Promise<string> {
  const text = await consoleCommand(s, 'maintenance packet qqemu.PhyMemMode');
  const m = /received: "([^"]*)"/.exec(text);
  assert.ok(m, `no reply in ${JSON.stringify(text)}`);
  return m[1];
}

/** Bytes at a guest-physical address, from the monitor's `xp /Nxb` (independent of GDB). */
export async function xpBytes(run: GuestRun, pa: bigint, n: number): Promise<Buffer> {
  const text = await run.hmp(`xp /${n}xb 0x${pa.toString(16)}`);
  const bytes = [...text.matchAll(/\b0x([0-9a-f]{2})\b/g)].map((m) => parseInt(m[1], 16));
  assert.equal(bytes.length, n, text);
  return Buffer.from(bytes);
}

/**
 * The user's next virtual readMemory after ptview: reading `va` must give the bytes at its
 * physical page `pa` (per the monitor), not the bytes at physical address `va`.
 */
export async function assertVirtualRead(s: GdbSession, run: GuestRun, va: bigint, pa: bigint): Promise<void> {
  const body = await s.channel.request('readMemory', { memoryReference: `0x${va.toString(16)}`, count: 16 });
  const got = Buffer.from(body.data, 'base64');
  const want = await xpBytes(run, pa, 16);
  assert.ok(!want.equals(Buffer.alloc(16)), 'the oracle page must not be all zeros');
  assert.deepEqual(got, want, `virtual read of 0x${va.toString(16)}`);
}

/** A channel wrapper that runs `hook` before the n-th request of a kind (fault injection). */
export function hookRequests(
  s: GdbSession,
  command: string,
  hook: (n: number) => void | Promise<void>,
): GdbSession['channel'] {
  let n = 0;
  return {
    type: s.channel.type,
    request: async (c, args) => {
      if (c === command) await hook(++n);
      return s.channel.request(c, args);
    },
  };
}

/** One guest's facts for the shared per-strategy cases. */
export interface LiveGuestCase {
  guest: string;
  arch: string;
  /** Registers to compare with `info registers` (lower-case names). */
  registers: string[];
  /** Registers the core path needs from `info registers` (the core does not carry them). */
  coreRegisters: string[];
  /** Guest VA of physical 0 in the guest's direct map. */
  directMap: bigint;
  /** A mapped VA whose PA differs from it, with non-zero content (kernel text). */
  probeVa: bigint;
  /** Register oracle (default: the monitor's `info registers`). */
  oracleRegisters?: (run: GuestRun) => Promise<Map<string, bigint>>;
}

/** AArch64 registers of the 4K guest: `info registers` has no system registers, so their oracle
 * is a separate gdb-multiarch session (whose detach lets the guest run again). */
const AARCH64_REGS = ['TTBR0_EL1', 'TTBR1_EL1', 'TCR_EL1', 'MAIR_EL1', 'SCTLR', 'ID_AA64MMFR0_EL1', 'cpsr'];

/** The test guests every live path (cdt-gdb-adapter, GDB's DAP, lldb-dap) is checked on. */
export const LIVE_GUESTS = {
  // Direct map (expect.json: 1 GiB at 0xffff800000000000 -> PA 0) and kernel text.
  'x86-64-4level': {
    guest: 'x86-64-4level',
    arch: 'x86_64',
    registers: ['cr0', 'cr3', 'cr4', 'efer'],
    coreRegisters: ['efer'],
    directMap: 0xffff800000000000n,
    probeVa: 0xffffffff80000000n,
  },
  // RAM (PA 0x40000000) mapped at 0xffff800000000000, text at 0xffffffff80000000; both TTBRs.
  'aarch64-4k': {
    guest: 'aarch64-4k',
    arch: 'aarch64',
    registers: AARCH64_REGS.map((r) => r.toLowerCase()),
    coreRegisters: ['ttbr0_el1', 'ttbr1_el1', 'tcr_el1', 'mair_el1', 'sctlr', 'id_aa64mmfr0_el1'],
    directMap: 0xffff800000000000n - 0x40000000n,
    probeVa: 0xffffffff80000000n,
    oracleRegisters: async (run: GuestRun) => {
      const out = new Map<string, bigint>();
      for (const [k, v] of await gdbRegisters(run.gdbPort!, AARCH64_REGS)) if (v !== undefined) out.set(k, v);
      return out;
    },
  },
  // RAM (PA 0x80000000) mapped at 0xffffffc000000000, text at 0xffffffff80000000.
  'riscv-sv39': {
    guest: 'riscv-sv39',
    arch: 'riscv64',
    registers: ['satp'],
    coreRegisters: ['satp'],
    directMap: 0xffffffc000000000n - 0x80000000n,
    probeVa: 0xffffffff80000000n,
  },
} satisfies Record<string, LiveGuestCase>;

export interface LiveGuestState {
  run: GuestRun;
  gdb?: GdbSession;
  oracle: Map<string, bigint>;
  coreLeaves: string[];
  coreTables: number;
  corePath: string;
  /** PhyMemMode 0 and the user's virtual reads still virtual. */
  clean(s: GdbSession): Promise<void>;
  opts(strategy: StrategyName): { strategy: StrategyName; directMapOffset?: bigint };
  liveLeaves(t: LiveTarget): Promise<{ leaves: string[]; tables: number }>;
}

export const ALL_STRATEGIES: StrategyName[] = ['proc-mem', 'phymem-mode', 'monitor-xp', 'direct-map'];

/**
 * Boots the guest with a gdbstub, builds the offline answer from a dump of the stopped guest, and
 * registers, per strategy: the CLI (`dump --gdb --leaves --json` = `dump --core`) and the
 * in-process LiveTarget (registers = info registers, leaves = core, tables once, cache, clean).
 */
export function liveGuestCases(c: LiveGuestCase): LiveGuestState {
  const st = {} as LiveGuestState;
  const coreRegArgs = () => c.coreRegisters.flatMap((r) => ['--reg', `${r.toUpperCase()}=0x${st.oracle.get(r)!.toString(16)}`]);
  st.opts = (strategy) => ({ strategy, directMapOffset: strategy === 'direct-map' ? c.directMap : undefined });
  st.liveLeaves = async (t) => {
    const session = new PageTableSession(spaceFromRegisters(t.arch, t.registers), t.memory);
    const leaves = (await session.leaves()).map((l) => JSON.stringify(leafRecord(l)));
    return { leaves, tables: session.stats.tablesRead };
  };
  st.clean = async (s) => {
    assert.equal(await phyMemMode(s), '0', 'PhyMemMode must be back at 0');
    const pa = parseGva2gpa(await st.run.hmp(`gva2gpa 0x${c.probeVa.toString(16)}`));
    assert.ok(pa !== undefined && pa !== c.probeVa);
    await assertVirtualRead(s, st.run, c.probeVa, pa);
  };

  before(async () => {
    st.run = await bootGuest(c.guest, { gdb: true });
    st.corePath = await st.run.dump();
    st.oracle = c.oracleRegisters ? await c.oracleRegisters(st.run) : parseInfoRegisters(await st.run.hmp('info registers'));
    const core = await openQemuCore(st.corePath);
    const regs = new Map(core.registers);
    for (const r of c.coreRegisters) regs.set(r, st.oracle.get(r)!);
    const s = new PageTableSession(spaceFromRegisters(core.arch, regs), core.memory);
    st.coreLeaves = (await s.leaves()).map((l) => JSON.stringify(leafRecord(l)));
    st.coreTables = s.stats.tablesRead;
    await core.memory.close();
    assert.ok(st.coreLeaves.length > 5 && st.coreTables > 3);
  });
  after(async () => {
    await st.gdb?.close();
    await st.run?.kill();
  });

  for (const strategy of ALL_STRATEGIES) {
    it(`CLI: dump --via gdb --gdb --leaves --json --strategy ${strategy} equals dump --core, guest still paused`, async () => {
      const offline = await node([CLI, 'dump', '--leaves', '--json', '--core', st.corePath, ...coreRegArgs()]);
      assert.equal(offline.status, 0, offline.stderr);
      const args = [CLI, 'dump', '--leaves', '--json', '--stats', '--via', 'gdb', '--gdb', `127.0.0.1:${st.run.gdbPort}`, '--strategy', strategy];
      if (strategy === 'direct-map') args.push('--direct-map', '0x' + c.directMap.toString(16));
      const r = await node(args);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, offline.stdout);
      assert.match(r.stderr, new RegExp(`live ${c.arch} via cdt-gdb, strategy ${strategy}: \\d+ DAP requests`));
      assert.match(r.stderr, /note: adapter dialect cdt-gdb \(/);
      assert.match(r.stderr, /ms per phase: .*walk \d/);
      assert.match(await st.run.hmp('info status'), /paused/);
    });
  }

  it('CLI: --via gdb --strategy direct-map without --direct-map recognises the guest\'s direct map and gives the core\'s leaves', async () => {
    const offline = await node([CLI, 'dump', '--leaves', '--json', '--core', st.corePath, ...coreRegArgs()]);
    // Its own temporary directory: GDB's command output comes back through files in one there.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ptview-tmp-'));
    const r = await node([CLI, 'dump', '--leaves', '--json', '--stats', '--via', 'gdb', '--gdb', `127.0.0.1:${st.run.gdbPort}`, '--strategy', 'direct-map'], { ...process.env, TMPDIR: tmp });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, offline.stdout);
    assert.deepEqual(fs.readdirSync(tmp), [], 'the CLI left files in its temporary directory');
    fs.rmSync(tmp, { recursive: true });
    assert.match(r.stderr, new RegExp(`direct-map offset 0x${c.directMap.toString(16)} recognised \\(kernel-half slot`));
    // Probing hundreds of candidates runs inside GDB (Python): the adapter answered no request
    // with an error, so a VS Code user would have seen no error toast.
    assert.match(r.stderr, /, 0 answered with an error\)/);
    assert.match(await st.run.hmp('info status'), /paused/);
  });

  it('attaches in-process', async () => {
    st.gdb = await attachGdb(`127.0.0.1:${st.run.gdbPort}`);
    await st.clean(st.gdb);
  });

  it('a stop whose architecture the session knows: the thread\'s top frame, then every register in one request, equal to the oracle, printing nothing', async () => {
    const sent: { command: string; args: any }[] = [];
    const ch: GdbSession['channel'] = { type: st.gdb!.channel.type, request: (cmd, args) => (sent.push({ command: cmd, args }), st.gdb!.channel.request(cmd, args)) };
    const printed: string[] = [];
    const sub = st.gdb!.observer.onEvent!((e) => e.event === 'output' && printed.push((e as DebugProtocol.OutputEvent).body.output));
    try {
      await (await openLiveTarget(ch, st.gdb!.observer, { strategy: 'proc-mem' })).dispose();
      const from = sent.length;
      const n = printed.length;
      const t = await openLiveTarget(ch, st.gdb!.observer, { strategy: 'proc-mem', threadId: 1 });
      await t.dispose();
      const asked = sent.slice(from).filter((r) => r.command !== 'evaluate' || r.args.context !== 'repl'); // repl: discovery
      assert.deepEqual(asked.map((r) => r.command + (r.command === 'evaluate' ? ` ${r.args.context}` : '')), ['stackTrace', 'evaluate variables']);
      for (const r of c.registers) assert.equal(t.registers.get(r), st.oracle.get(r), r);
      if (c.arch === 'x86_64') {
        assert.equal(t.registers.get('eflags'), st.oracle.get('rfl'), 'eflags (QEMU prints RFL in long mode)');
        assert.equal(t.registers.get('pc'), st.oracle.get('rip'), 'pc');
      }
      assert.deepEqual(printed.slice(n), [], 'nothing in the Debug Console');
    } finally {
      sub.dispose();
      forgetSession(ch);
    }
  });

  for (const strategy of ALL_STRATEGIES) {
    it(`${strategy}: registers equal the oracle, leaves equal the core, each table read once, session left clean`, async () => {
      const t = await openLiveTarget(st.gdb!.channel, st.gdb!.observer, st.opts(strategy));
      try {
        assert.equal(t.strategy, strategy);
        assert.equal(t.arch, c.arch);
        assert.equal(t.dialect, 'cdt-gdb');
        for (const r of c.registers) assert.equal(t.registers.get(r), st.oracle.get(r), r);
        t.resetStats();
        const { leaves, tables } = await st.liveLeaves(t);
        assert.deepEqual(leaves, st.coreLeaves);
        assert.equal(tables, st.coreTables);
        assert.equal(t.stats.reads, st.coreTables, 'every table reaches the target exactly once');
        assert.equal(t.stats.bytesRead, st.coreTables * 4096);
        // DAP requests: none for proc-mem; one per table (+ mode switches) otherwise.
        if (strategy === 'proc-mem') assert.equal(t.stats.dapRequests, 0);
        else assert.ok(t.stats.dapRequests >= st.coreTables, String(t.stats.dapRequests));
        // A second walk of the same stop is served from the cache.
        const before = t.stats.dapRequests;
        await st.liveLeaves(t);
        assert.equal(t.stats.dapRequests, before);
        assert.equal(t.stats.cacheHits, st.coreTables);
      } finally {
        await t.dispose();
      }
      await st.clean(st.gdb!);
    });
  }
  return st;
}

export const CLI = path.join(REPO, 'out', 'cli.js');

/** Runs node asynchronously (QEMU and the adapter keep working meanwhile). */
export function node(args: string[], env?: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, env ? { env } : {});
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d));
    p.stderr.on('data', (d: Buffer) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
