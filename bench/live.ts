// Live walks of the test guests per strategy, through the real cdt-gdb-adapter + GDB: tables
// read, DAP requests, walk time, and the ratio to "tables × one 4 KiB physical readMemory"
// measured in the same run (the transport limit). Not a pass/fail test.
import { spaceFromRegisters } from '../src/core/formats';
import { PageTableSession } from '../src/core/ops/session';
import { StrategyName, openLiveTarget } from '../src/debug';
import { attachGdb, GdbSession } from '../src/debug/gdbAttach';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStubTarget } from '../src/debug/gdbstub/session';
import { REPO, bootGuest } from '../test/harness/qemu';
import { tooMany, waitForQemus } from './peer';

const RUNS = 7;
const WARMUP = 15;

interface Row {
  guest: string;
  strategy: StrategyName;
  tables: number;
  leaves: number;
  dap: number;
  /** Walk producing every leaf (one object per page). */
  ms: number;
  /** Walk merged into ranges (what dump and the map do: runs of like pages, no object per page). */
  rangesMs: number;
  /** Time inside PhysicalMemory.readMany (the transport part of the walk). */
  readMs: number;
  open: number;
}

/** A RAM address to time single reads at: the first root table. */
function rootTable(regs: ReadonlyMap<string, bigint>): number {
  if (regs.has('cr3')) return Number(regs.get('cr3')! & ~0xfffn);
  if (regs.has('satp')) return Number((regs.get('satp')! & ((1n << 44n) - 1n)) << 12n);
  return Number(regs.get('ttbr1_el1')! & 0xfffffffff000n);
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Times of single 4 KiB physical readMemory requests with PhyMemMode already on (no switches). */
async function singleReads(s: GdbSession, pa: number, n: number): Promise<number[]> {
  const quiet = (c: string) => s.channel.request('evaluate', { expression: `>python gdb.execute('${c}', to_string=True)`, context: 'repl' });
  await quiet('maintenance packet Qqemu.PhyMemMode:1');
  const times: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await s.channel.request('readMemory', { memoryReference: `0x${pa.toString(16)}`, count: 4096 });
      times.push(performance.now() - t0);
    }
  } finally {
    await quiet('maintenance packet Qqemu.PhyMemMode:0');
    await quiet('maintenance flush dcache');
  }
  return times;
}

async function benchGuest(guest: string, directMap: bigint): Promise<{ rows: Row[]; read4k: number }> {
  const run = await bootGuest(guest, { gdb: true });
  const rows: Row[] = [];
  let gdb: GdbSession | undefined;
  try {
    gdb = await attachGdb(`127.0.0.1:${run.gdbPort}`);
    // The transport limit is sampled between the walks (the machine is shared, load varies).
    const limitSamples: number[] = [];
    for (const strategy of ['proc-mem', 'phymem-mode', 'monitor-xp', 'direct-map'] as StrategyName[]) {
      const ms: number[] = [];
      const rangesMs: number[] = [];
      const readMs: number[] = [];
      let leaves = 0;
      const open: number[] = [];
      let tables = 0;
      let dap = 0;
      // Warm-up walks first (not counted): the walker's JIT state must not favour a later strategy.
      const warm = strategy === 'monitor-xp' ? 1 : WARMUP;
      for (let k = 0; k < warm + (strategy === 'monitor-xp' ? 3 : RUNS); k++) {
        const t0 = performance.now();
        const t = await openLiveTarget(gdb.channel, gdb.observer, { strategy, directMapOffset: directMap });
        open.push(performance.now() - t0);
        try {
          const space = spaceFromRegisters(t.arch, t.registers);
          t.resetStats();
          const session = new PageTableSession(space, t.memory);
          const w0 = performance.now();
          leaves = (await session.leaves()).length;
          if (k >= warm) {
            ms.push(performance.now() - w0);
            readMs.push(t.stats.phases.read ?? 0);
          }
          tables = session.stats.tablesRead;
          dap = t.stats.dapRequests;
        } finally {
          await t.dispose();
        }
        // The same walk merged into ranges, on a fresh stop cache (every table read again).
        const t2 = await openLiveTarget(gdb.channel, gdb.observer, { strategy, directMapOffset: directMap });
        try {
          const session = new PageTableSession(spaceFromRegisters(t2.arch, t2.registers), t2.memory);
          const w0 = performance.now();
          await session.ranges();
          if (k >= warm) rangesMs.push(performance.now() - w0);
        } finally {
          await t2.dispose();
        }
        if (k >= warm) limitSamples.push(...(await singleReads(gdb, rootTable(t.registers), 3)));
      }
      rows.push({ guest, strategy, tables, leaves, dap, ms: median(ms), rangesMs: median(rangesMs), readMs: median(readMs), open: median(open) });
    }
    return { rows, read4k: median(limitSamples) };
  } finally {
    await gdb?.close();
    await run.kill();
  }
}

export async function liveBench(): Promise<void> {
  console.log('\nlive walks through cdt-gdb-adapter + GDB 13 on QEMU TCG test guests (median; walk alone, after openLiveTarget)');
  console.log('guest          strategy      tables  leaves  DAP req  walk ms  ranges ms  reads ms  walk / (tables x one 4K read)  open ms');
  const guests: [string, bigint][] = [
    ['x86-64-4level', 0xffff800000000000n],
    ['riscv-sv39', 0xffffffc000000000n - 0x80000000n],
    ['aarch64-4k', 0xffff800000000000n - 0x40000000n],
  ];
  for (const [guest, dm] of guests) {
    const { rows, read4k } = await benchGuest(guest, dm);
    for (const r of rows) {
      const limit = r.tables * read4k;
      console.log(
        `${r.guest.padEnd(14)} ${r.strategy.padEnd(12)} ${String(r.tables).padStart(7)} ${String(r.leaves).padStart(7)} ${String(r.dap).padStart(8)} ${r.ms.toFixed(2).padStart(8)} ${r.rangesMs.toFixed(2).padStart(10)} ${r.readMs.toFixed(2).padStart(9)}  ${(r.ms / limit).toFixed(2).padStart(6)}x (limit ${limit.toFixed(2)} ms)       ${r.open.toFixed(1).padStart(7)}`,
      );
    }
    const pm = rows.find((r) => r.strategy === 'phymem-mode')!;
    const proc = rows.find((r) => r.strategy === 'proc-mem')!;
    console.log(
      `${guest}: one 4 KiB physical readMemory ${read4k.toFixed(2)} ms; proc-mem is ${(pm.ms / proc.ms).toFixed(1)}x faster than phymem-mode on the per-leaf walk, ` +
        `${(pm.rangesMs / proc.rangesMs).toFixed(1)}x on the merged-range walk, ${(pm.readMs / proc.readMs).toFixed(0)}x on its reads`,
    );
  }
}

// `node build/bench/live.js [gdb|stub]`: one part alone.
if (require.main === module) {
  const part = process.argv[2];
  void (async () => {
    if (part !== 'stub') await liveBench();
    if (part !== 'gdb') await stubBench();
  })();
}

// ---------------------------------------------------------------------------------------------
// ptview's own gdbstub client (the CLI's --gdb): whole-process time side by side with
// gdb-pt-dump's `gdb -batch … pt` on the same stop, and the PhyMemMode walk against the raw
// transport limit (tables × one 4 KiB read of `m` packets, PhyMemMode already on) in the same run.

/** gdb-pt-dump beside the repository (../shared/peers/gdb-pt-dump), or where GDB_PT_DUMP points. */
export function peerDir(): string | undefined {
  const dir = process.env.GDB_PT_DUMP ?? path.join(REPO, '..', 'shared', 'peers', 'gdb-pt-dump');
  return fs.existsSync(path.join(dir, 'pt.py')) ? dir : undefined;
}

/** Wall time of one process from spawn to exit, with its output. */
export function timeProcess(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ ms: number; status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d));
    p.stderr.on('data', (d: Buffer) => (stderr += d));
    p.on('error', reject);
    p.on('close', (status) => resolve({ ms: performance.now() - t0, status, stdout, stderr }));
  });
}

const PEER_ARCH: Record<string, { gdb: string; arch?: string }> = {
  'x86-64-4level': { gdb: 'gdb' },
  'aarch64-4k': { gdb: 'gdb-multiarch', arch: 'aarch64' },
  'riscv-sv39': { gdb: 'gdb-multiarch', arch: 'riscv:rv64' },
};

export const stat = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
export const fmt = (x: { median: number; min: number; max: number }) => `${x.median.toFixed(0)} (${x.min.toFixed(0)}-${x.max.toFixed(0)})`;

/**
 * The machine is shared (load varies by the second), so the processes compared are run
 * interleaved — ptview auto, ptview phymem-mode, gdb-pt-dump, again — and the ratio is also given
 * per round (median of the rounds' ratios) beside the ratio of medians.
 */
export async function stubBench(runs = 11): Promise<void> {
  const cli = path.join(REPO, 'out', 'cli.js');
  const qemus = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d) && (() => { try { return fs.readFileSync(`/proc/${d}/comm`, 'utf8').startsWith('qemu-system'); } catch { return false; } })()).length;
  const nodeStart: number[] = [];
  const cliLoad: number[] = [];
  for (let i = 0; i < runs; i++) {
    nodeStart.push((await timeProcess(process.execPath, ['-e', '0'])).ms);
    cliLoad.push((await timeProcess(process.execPath, ['-e', `require(${JSON.stringify(cli)})`])).ms);
  }
  console.log(`\nptview --gdb (own gdbstub client, no GDB) vs gdb-pt-dump: whole processes on the same stop, ${runs} interleaved rounds after a warm-up; ms median (min-max)`);
  console.log(`node -e 0: ${fmt(stat(nodeStart))} ms; node loading the CLI's modules: ${fmt(stat(cliLoad))} ms; qemu-system processes on this machine: ${qemus}; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const peer = peerDir();
  const peerOk = peer !== undefined && process.getuid?.() === 0;
  if (!peer) console.log('gdb-pt-dump columns skipped: ../shared/peers/gdb-pt-dump not found beside the repository (GDB_PT_DUMP may name its directory)');
  else if (!peerOk) console.log('gdb-pt-dump columns skipped: it reads /proc/<qemu pid>/mem and needs root');
  console.log('guest          leaves  ptview auto        ptview phymem      gdb-pt-dump        auto/peer (ratio of medians; median of rounds)  phymem/peer');
  const walks: string[] = [];
  for (const guest of ['x86-64-4level', 'aarch64-4k', 'riscv-sv39']) {
    const run = await bootGuest(guest, { gdb: true });
    try {
      const addr = `127.0.0.1:${run.gdbPort}`;
      let leaves = 0;
      const ptview = async (strategy?: string) => {
        const r = await timeProcess(process.execPath, [cli, 'dump', '--gdb', addr, '--leaves', '--json', ...(strategy ? ['--strategy', strategy] : [])]);
        if (r.status !== 0) throw new Error(`ptview exited ${r.status}: ${r.stderr}`);
        leaves = r.stdout.split('\n').length - 1;
        return r.ms;
      };
      const p = PEER_ARCH[guest];
      const peerArgs = ['-q', '-nx', '-batch', ...(p.arch ? ['-ex', `set architecture ${p.arch}`] : []), '-ex', `target remote ${addr}`, '-ex', `source ${path.join(peer ?? '', 'pt.py')}`, '-ex', 'pt', '-ex', 'disconnect'];
      let peerError: string | undefined;
      let crowded = 0;
      const peerRun = async (): Promise<number | undefined> => {
        if (!peerOk || peerError) return undefined;
        // gdb-pt-dump times are only comparable with this guest the one QEMU (see peer.ts).
        const n = await waitForQemus(1, 30000);
        if (n > 1) {
          crowded = n;
          return undefined;
        }
        const r = await timeProcess(p.gdb, peerArgs);
        if (r.status !== 0 || !/0x[0-9a-f]+/i.test(r.stdout) || /Cannot get qemu-system pid|Traceback|Error/i.test(r.stdout + r.stderr)) {
          peerError = `gdb-pt-dump failed (${r.status}): ${(r.stdout + r.stderr).slice(-300).replace(/\n/g, ' ')}`;
          return undefined;
        }
        return r.ms;
      };
      const auto: number[] = [];
      const phy: number[] = [];
      const peerMs: number[] = [];
      const rAuto: number[] = [];
      const rPhy: number[] = [];
      for (let i = 0; i <= runs; i++) {
        const a = await ptview();
        const f = await ptview('phymem-mode');
        const g = await peerRun();
        if (i === 0) continue; // warm-up round
        auto.push(a);
        phy.push(f);
        if (g !== undefined) {
          peerMs.push(g);
          rAuto.push(a / g);
          rPhy.push(f / g);
        }
      }
      const A = stat(auto);
      const F = stat(phy);
      const G = peerMs.length ? stat(peerMs) : undefined;
      const ratios = G ? `${(A.median / G.median).toFixed(2)}x; ${median(rAuto).toFixed(2)}x`.padEnd(47) + ` ${(F.median / G.median).toFixed(2)}x; ${median(rPhy).toFixed(2)}x` : peerError ?? (crowded ? `skipped: ${tooMany(crowded)}` : 'skipped');
      if (G && peerMs.length < runs) console.log(`   ${guest}: gdb-pt-dump measured in ${peerMs.length} of ${runs} rounds; the others skipped: ${tooMany(crowded)}`);
      console.log(`${guest.padEnd(14)} ${String(leaves).padStart(6)}  ${fmt(A).padEnd(18)} ${fmt(F).padEnd(18)} ${(G ? fmt(G) : '-').padEnd(18)} ${ratios}`);
      // The previous way (GDB + cdt-gdb-adapter), for scale: three runs.
      const viaGdb: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await timeProcess(process.execPath, [cli, 'dump', '--via', 'gdb', '--gdb', addr, '--leaves', '--json']);
        if (r.status === 0) viaGdb.push(r.ms);
      }
      if (viaGdb.length) console.log(`${''.padEnd(22)} (--via gdb: ${fmt(stat(viaGdb))} ms, ${(median(viaGdb) / A.median).toFixed(0)}x the own client's)`);
      if (!/paused/.test(await run.hmp('info status'))) console.log(`   !! ${guest} is not paused after the runs`);
      const w = await phyMemVsLimit(addr, 31);
      walks.push(
        `${guest.padEnd(14)} ${String(w.tables).padStart(6)}  ${fmt3(w.walk).padEnd(22)} ${fmt3(w.read4k).padEnd(22)} ${(w.walk.median / (w.tables * w.read4k.median)).toFixed(2)}x; ${w.ratio.median.toFixed(2)}x; ${(w.walk.min / (w.tables * w.read4k.min)).toFixed(2)}x`,
      );
    } finally {
      await run.kill();
    }
  }
  console.log('\nPhyMemMode walk (own client: mode on once, each level\'s reads pipelined, mode off when the walk goes idle) vs the transport limit, tables x one 4 KiB read with the mode on (two 2 KiB `m` packets, QEMU\'s most per packet), sampled between the walks');
  console.log('guest          tables  walk ms                one 4 KiB read ms      walk / limit (of medians; median per round; of minima)');
  for (const w of walks) console.log(w);
}

const fmt3 = (x: { median: number; min: number; max: number }) => `${x.median.toFixed(3)} (${x.min.toFixed(3)}-${x.max.toFixed(3)})`;

/**
 * In one session: PhyMemMode walks (every table read again: the stop cache is dropped between
 * walks) and, after each, single 4 KiB reads with the mode already on — the transport limit the
 * walk is compared with, sampled under the same load.
 */
async function phyMemVsLimit(addr: string, runs: number) {
  const stub = await openStubTarget(addr, { strategy: 'phymem-mode' });
  try {
    const t = stub.target;
    const space = spaceFromRegisters(t.arch, t.registers);
    const pa = rootTable(t.registers);
    const walks: number[] = [];
    const reads: number[] = [];
    const ratios: number[] = [];
    let tables = 0;
    for (let k = 0; k < WARMUP + runs; k++) {
      t.invalidate();
      const session = new PageTableSession(space, t.memory);
      const w0 = performance.now();
      await session.leaves();
      const ms = performance.now() - w0;
      tables = session.stats.tablesRead;
      const round: number[] = [];
      await stub.client.setPhyMemMode(true);
      try {
        for (let i = 0; i < 3; i++) {
          const r0 = performance.now();
          await stub.client.readMemory(BigInt(pa), 4096);
          round.push(performance.now() - r0);
        }
      } finally {
        await stub.client.setPhyMemMode(false);
      }
      if (k < WARMUP) continue;
      walks.push(ms);
      reads.push(...round);
      ratios.push(ms / (tables * median(round)));
    }
    return { walk: stat(walks), read4k: stat(reads), ratio: stat(ratios), tables };
  } finally {
    await stub.close();
  }
}
