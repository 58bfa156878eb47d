// The extension's per-stop pipeline on a real Linux guest, outside VS Code: Debian's x86_64 kernel
// (test/harness/linux.ts) stopped in the kernel on the user program's behalf, opened through
// ptview's gdbstub client (the memory strategies are src/debug's, as in the extension), and per
// stop what the map panel does (src/extension/mapPanel.ts): the stop's ranges and audit, region
// labels, the map's rows. Each round is a new stop as the extension sees it: a new session, so
// every table is read and decoded again; then the same stops as the extension has them when no
// table changed since the last stop (core/ops/unchanged.ts: the tables read and compared, the
// last map reused); then stops after the guest ran a moment (some tables changed), the map's
// ranges and audit folded cold and with the last stop's unchanged subtrees (graph.ts FoldCarry).
// Not a pass/fail test; run with --cpu-prof to profile.
import { performance } from 'node:perf_hooks';
import { regionLabeler } from '../src/core/ops/regions';
import { FoldCarry } from '../src/core/graph';
import { loadTables } from '../src/core/walker';
import { PageTableSession } from '../src/core/ops/session';
import { UnchangedTables, registersKey } from '../src/core/ops/unchanged';
import { RecordingMemory } from '../src/core/sources/snapshot';
import { spaceFromRegisters } from '../src/core/formats';
import { openStubTarget } from '../src/debug/gdbstub/session';
import { buildMapData } from '../src/extension/mapData';
import { bootLinux } from '../test/harness/linux';
import { fmt, stat } from './live';

const fmt1 = (x: { median: number; min: number; max: number }) => `${x.median.toFixed(1)} (${x.min.toFixed(1)}-${x.max.toFixed(1)})`;

export async function stopBench(rounds = 9): Promise<void> {
  const run = await bootLinux('x86_64-4level', { gdb: true });
  try {
    await run.stopInKernel();
    const stub = await openStubTarget(`127.0.0.1:${run.gdbPort}`);
    try {
      const t = stub.target;
      const space = spaceFromRegisters(t.arch, t.registers);
      const rows: Record<string, number[]> = { 'ranges()': [], 'audit()': [], 'one fold': [], rows: [], stop: [] };
      let shape = '';
      for (let i = 0; i <= rounds; i++) {
        // ranges() and audit() apart, then the map's way: both from one fold, then the rows.
        t.invalidate();
        const apart = new PageTableSession(space, t.memory);
        const a0 = performance.now();
        await apart.ranges();
        const a1 = performance.now();
        await apart.audit();
        const a2 = performance.now();
        t.invalidate();
        const session = new PageTableSession(space, t.memory);
        const t0 = performance.now();
        const { ranges, report } = await session.rangesAndAudit();
        const t1 = performance.now();
        const data = buildMapData(ranges, report, regionLabeler(space, ranges, t.memory.ram));
        const t2 = performance.now();
        if (i === 0) {
          shape = `${session.stats.tablesRead} tables, ${report.leaves} leaves, ${ranges.length} ranges, ${data.count} map rows, strategy ${t.strategy}`;
          continue; // warm-up
        }
        rows['ranges()'].push(a1 - a0);
        rows['audit()'].push(a2 - a1);
        rows['one fold'].push(t1 - t0);
        rows.rows.push(t2 - t1);
        rows.stop.push(t2 - t0);
      }
      const cache = new UnchangedTables<unknown>();
      const key = registersKey(t.registers);
      const compute = async (session: PageTableSession) => {
        const { ranges, report } = await session.rangesAndAudit();
        return buildMapData(ranges, report, regionLabeler(space, ranges, t.memory.ram));
      };
      rows['unchanged'] = [];
      for (let i = 0; i <= rounds; i++) {
        t.invalidate();
        const t0 = performance.now();
        const { reused } = await cache.get(new PageTableSession(space, new RecordingMemory(t.memory)), key, compute);
        if (i > 0) rows['unchanged'].push(performance.now() - t0);
        if (i > 0 && !reused) throw new Error('the tables changed while the guest was paused');
      }
      await stub.close();
      const changed = await changedStops(run, rounds);
      console.log(`\nThe extension's per-stop work on Debian's x86_64 kernel (map panel: ranges and audit, labels, rows; ${shape}; 'stop' = one fold + rows, the map's work at a stop whose tables changed, 'unchanged' = a stop whose tables did not); ms median (min-max) of ${rounds} stops`);
      for (const [k, v] of Object.entries(rows)) console.log(`  ${k.padEnd(10)} ${fmt(stat(v))}`);
      console.log(`Stops after the guest ran (${changed.note}): ranges and audit folded cold and with the last stop's subtrees (tables loaded; fastest of 5 each), median (min-max) over the stops`);
      for (const [k, v] of Object.entries(changed.rows)) console.log(`  ${k.padEnd(16)} ${fmt1(stat(v))} (${v.length} stops)`);
    } finally {
      await stub.close().catch(() => undefined); // closed already before the changed stops
    }
  } finally {
    await run.kill();
  }
}

/**
 * Stops after the guest ran a moment (the user program's tables change between them), kept to
 * stops in one process (the first stop's CR3: a stop in another process has other roots, and
 * nothing to take from the last stop). Each stop's ranges and audit folded cold and with the
 * carry from the last stop (the same AddressSpace, as the extension keeps it), the tables
 * loaded first; each K times (K carries fed the same stops) and the fastest taken, since a fold
 * of a few ms is within the noise of a loaded 2-core machine.
 */
async function changedStops(run: Awaited<ReturnType<typeof bootLinux>>, rounds: number): Promise<{ rows: Record<string, number[]>; note: string }> {
  const K = 5;
  const rows: Record<string, number[]> = { 'tables changed': [], cold: [], carried: [] };
  const carries = Array.from({ length: K }, () => new FoldCarry<unknown>());
  let space: ReturnType<typeof spaceFromRegisters> | undefined;
  let key = '';
  let prevTables: ReadonlyMap<number, unknown> | undefined;
  let reused = 0;
  let computed = 0;
  let skipped = 0;
  const timed = async (f: () => Promise<unknown>): Promise<number> => {
    const a = performance.now();
    await f();
    return performance.now() - a;
  };
  for (let i = 0; i <= rounds && skipped < 10 * rounds; ) {
    await run.cont();
    await new Promise((r) => setTimeout(r, 50));
    await run.stopInKernel();
    const stub = await openStubTarget(`127.0.0.1:${run.gdbPort}`);
    try {
      const t = stub.target;
      const k = registersKey(t.registers);
      if (space && k !== key) {
        skipped++;
        continue;
      }
      space ??= spaceFromRegisters(t.arch, t.registers);
      key = k;
      const sessions = async (): Promise<PageTableSession[]> => {
        const out: PageTableSession[] = [];
        for (let j = 0; j < K; j++) {
          t.invalidate();
          const s = new PageTableSession(space!, t.memory);
          await loadTables(space!.roots, s.store);
          out.push(s);
        }
        return out;
      };
      const cold = await sessions();
      const warm = await sessions();
      let c = Infinity;
      let w = Infinity;
      for (let j = 0; j < K; j++) {
        c = Math.min(c, await timed(() => cold[j].rangesAndAudit()));
        w = Math.min(w, await timed(() => warm[j].rangesAndAudit({ carry: carries[j] })));
      }
      const now = warm[0].store.loaded();
      let changed = 0;
      for (const [pa, tbl] of now) {
        const was = prevTables?.get(pa);
        if (!(was instanceof Uint32Array) || !(tbl instanceof Uint32Array) || !Buffer.from(was.buffer, was.byteOffset, was.byteLength).equals(Buffer.from(tbl.buffer, tbl.byteOffset, tbl.byteLength))) changed++;
      }
      prevTables = now;
      if (i++ === 0) continue; // the carry is empty at the first stop
      rows['tables changed'].push(changed);
      rows.cold.push(c);
      rows.carried.push(w);
      reused += carries[0].last.reused;
      computed += carries[0].last.computed;
    } finally {
      await stub.close();
    }
  }
  return { rows, note: `${rows.cold.length} stops in one process, ${skipped} in others skipped; ${prevTables?.size} tables; subtrees per stop taken from the last stop ${(reused / rows.cold.length).toFixed(1)}, decoded ${(computed / rows.cold.length).toFixed(1)}` };
}

if (require.main === module) {
  stopBench(Number(process.argv[2]) || 9).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
