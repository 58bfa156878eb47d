// npm run bench: throughput of the paging core on a synthetic Linux-like address space, live walks
// of the test guests and of real Debian Linux guests, side by side with gdb-pt-dump; the
// extension's per-stop work on the real x86_64 guest (stop.ts).
// Figures go into the README; nothing here is a pass/fail test.
import { spaceFromRegisters } from '../src/core/formats';
import { RangeMerger } from '../src/core/ops/merge';
import { TableStore, walk } from '../src/core/walker';
import { linuxBench } from './linux';
import { stopBench } from './stop';
import { liveBench, stubBench } from './live';
import { realShapeBench } from './realShapeBench';
import { buildLinuxLike } from './synthetic';

const REGS = (cr3: bigint) => new Map([['cr0', 0x80010011n], ['cr3', cr3], ['cr4', 0x20n], ['efer', 0xd00n]]);

async function once(pages: number, merge: boolean) {
  const syn = buildLinuxLike(pages);
  const space = spaceFromRegisters('x86_64', REGS(syn.cr3));
  (global as { gc?: () => void }).gc?.();
  const rss0 = process.memoryUsage().rss;
  const runs: { ms: number; leaves: number; ranges: number; tables: number; reads: number; peakMb: number }[] = [];
  for (let k = 0; k < 7; k++) {
    const store = new TableStore(syn.memory);
    syn.memory.reads = 0;
    let leaves = 0;
    const m = new RangeMerger();
    let peak = 0;
    const t0 = performance.now();
    await walk(space.roots, store, merge ? { leafRun: (l, n, contig, lastPa) => { leaves += n; m.pushRun(l, n, contig, lastPa); } } : { leaf: () => { leaves++; } });
    const ranges = merge ? m.finish().length : 0;
    const ms = performance.now() - t0;
    peak = Math.max(peak, process.memoryUsage().rss - rss0);
    runs.push({ ms, leaves, ranges, tables: store.stats.tablesRead, reads: syn.memory.reads, peakMb: process.memoryUsage().rss / 2 ** 20 });
  }
  runs.sort((a, b) => a.ms - b.ms);
  const best = runs[0];
  const median = runs[runs.length >> 1];
  return { pages, merge, best, median, tablesInSpace: syn.tables };
}

async function main() {
  console.log('ptview core benchmark (synthetic Linux-like x86_64 space, in-memory source)');
  console.log(`node ${process.version}, ${require('node:os').cpus().length} cores (${require('node:os').cpus()[0].model})\n`);
  console.log('pages4k   mode          leaves   ranges  tables read/in space  best ms  median ms  M leaves/s (median)  rss MB');
  for (const pages of [1 << 20, 1 << 22]) {
    for (const merge of [false, true]) {
      const r = await once(pages, merge);
      const b = r.median;
      console.log(
        `${String(pages).padStart(7)}   ${(merge ? 'walk+merge' : 'walk').padEnd(12)} ${String(b.leaves).padStart(8)} ${String(b.ranges).padStart(8)}  ${String(b.tables).padStart(6)} / ${String(r.tablesInSpace).padEnd(6)}  ${r.best.ms.toFixed(1).padStart(8)} ${b.ms.toFixed(1).padStart(9)}  ${(b.leaves / b.ms / 1000).toFixed(1).padStart(10)}           ${b.peakMb.toFixed(0).padStart(5)}`,
      );
      if (b.tables !== r.tablesInSpace || b.reads !== b.tables) console.log(`   !! tables read ${b.tables}, reads ${b.reads}, tables in space ${r.tablesInSpace}`);
    }
  }
}

void main()
  .then(() => realShapeBench())
  .then(() => liveBench())
  .then(() => stubBench())
  .then(() => linuxBench())
  .then(() => stopBench());
