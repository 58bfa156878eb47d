// Live walks of the test guests per strategy, through the real cdt-gdb-adapter + GDB: tables
// read, DAP requests, walk time, and the ratio to "tables × one 4 KiB physical readMemory"
// measured in the same run (the transport limit). Not a pass/fail test.
import { spaceFromRegisters } from '../src/core/formats';
import { PageTableSession } from '../src/core/ops/session';
import { StrategyName, openLiveTarget } from '../src/debug';
import { attachGdb, GdbSession } from '../src/debug/gdbAttach';
import { bootGuest } from '../test/harness/qemu';

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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

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

if (require.main === module) void liveBench();
