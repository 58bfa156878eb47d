// The extension's per-stop pipeline on a real Linux guest, outside VS Code: Debian's x86_64 kernel
// (test/harness/linux.ts) stopped in the kernel on the user program's behalf, opened through
// ptview's gdbstub client (the memory strategies are src/debug's, as in the extension), and per
// stop what the map panel does (src/extension/mapPanel.ts): the stop's ranges and audit, region
// labels, the map's rows. Each round is a new stop as the extension sees it: a new session, so
// every table is read and decoded again; then the same stops as the extension has them when no
// table changed since the last stop (core/ops/unchanged.ts: the tables read and compared, the
// last map reused). Not a pass/fail test; run with --cpu-prof to profile.
import { performance } from 'node:perf_hooks';
import { regionLabeler } from '../src/core/ops/regions';
import { PageTableSession } from '../src/core/ops/session';
import { UnchangedTables, registersKey } from '../src/core/ops/unchanged';
import { RecordingMemory } from '../src/core/sources/snapshot';
import { spaceFromRegisters } from '../src/core/formats';
import { openStubTarget } from '../src/debug/gdbstub/session';
import { buildMapData } from '../src/extension/mapData';
import { bootLinux } from '../test/harness/linux';
import { fmt, stat } from './live';

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
      console.log(`\nThe extension's per-stop work on Debian's x86_64 kernel (map panel: ranges and audit, labels, rows; ${shape}; 'stop' = one fold + rows, the map's work at a stop whose tables changed, 'unchanged' = a stop whose tables did not); ms median (min-max) of ${rounds} stops`);
      for (const [k, v] of Object.entries(rows)) console.log(`  ${k.padEnd(10)} ${fmt(stat(v))}`);
    } finally {
      await stub.close();
    }
  } finally {
    await run.kill();
  }
}

if (require.main === module) {
  stopBench(Number(process.argv[2]) || 9).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
