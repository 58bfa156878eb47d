// npm run bench, part 2: the Linux-shaped spaces of realShape.ts through the same core calls and
// output formatting as `ptview dump --leaves --json` and `ptview dump --json`, timed per phase:
// walk (tables loaded, every leaf visited), merge (merged ranges from the graph of tables) and
// output (leaf lines as the CLI writes them, bytes into 1 MiB buffers; range lines in 256 KiB
// chunks; all to /dev/null). CPU time, best and
// median of 15 runs.
import fs from 'node:fs';
import { spaceFromRegisters } from '../src/core/formats';
import { PageTableSession } from '../src/core/ops/session';
import { LeafLineWriter } from '../src/cli/jsonLines';
import { rangeJsonLine } from '../src/core/ops/records';
import { Leaf, TableStore, loadTables, walkLoaded } from '../src/core/walker';
import { buildRealShape } from './realShape';

const RUNS = 15;
/** CPU time of this process in ms (user + system): on a shared machine, wall time mostly measures the neighbours. */
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
// Best / median: the machine may be shared, the best run is the code's cost.
const fmt = (xs: number[]) => `${Math.min(...xs).toFixed(2)}/${median(xs).toFixed(2)}`;

/** Lines joined into 256 KiB chunks, one write each (what the CLI's Output does). */
function sink(): { line(s: string): void; end(): void } {
  const fd = fs.openSync('/dev/null', 'w');
  let parts: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (parts.length) fs.writeSync(fd, parts.join('\n') + '\n');
    parts = [];
    bytes = 0;
  };
  return {
    line: (s) => {
      parts.push(s);
      bytes += s.length + 1;
      if (bytes >= 1 << 18) flush();
    },
    end: () => {
      flush();
      fs.closeSync(fd);
    },
  };
}

export async function realShapeBench(): Promise<void> {
  console.log('\nLinux-shaped x86_64 spaces (direct map 2M/1G, vmemmap 2M, vmalloc/modules/user 4K, KPTI user root; + KASAN-like shared shadow)');
  console.log('CPU ms (user+system) as best/median of 15 runs');
  console.log('space           roots  tables  leaves (tree)      ranges   walk ms       merge ms      output ms: leaves JSON | ranges JSON');
  for (const kasan of [false, true]) {
    const shape = buildRealShape({ kasan });
    const regs = new Map([['cr0', 0x80010011n], ['cr4', 0x20n], ['efer', 0xd01n]]);
    const spaces = [shape.kernelRoot, shape.userRoot].map((cr3) => spaceFromRegisters('x86_64', new Map([...regs, ['cr3', cr3]])));
    const roots = spaces.flatMap((s) => s.roots.map((r, i) => ({ ...r, name: i === 0 && s === spaces[1] ? 'cr3-user' : r.name })));
    const space = { ...spaces[0], roots };
    const walkMs: number[] = [];
    const mergeMs: number[] = [];
    const outLeavesMs: number[] = [];
    const outRangesMs: number[] = [];
    let leaves = 0;
    let ranges = 0;
    let tables = 0;
    let treeLeaves = 0;
    for (let k = 0; k < RUNS; k++) {
      (global as { gc?: () => void }).gc?.();
      const session = new PageTableSession(space, shape.memory);
      const all: Leaf[] = [];
      let t0 = cpu();
      await loadTables(space.roots, session.store);
      const size = await session.expansion();
      treeLeaves = size.leaves;
      const walkable = size.leaves <= 2 ** 24;
      if (walkable) for (const r of space.roots) walkLoaded(r, session.store, { leaf: (l) => all.push(l) });
      walkMs.push(cpu() - t0);
      leaves = all.length;
      tables = session.stats.tablesRead;
      t0 = cpu();
      const rs = await session.ranges();
      mergeMs.push(cpu() - t0);
      ranges = rs.length;
      if (walkable) {
        // As the CLI writes them: bytes into 1 MiB buffers (src/cli/jsonLines.ts).
        t0 = cpu();
        const fd = fs.openSync('/dev/null', 'w');
        const w = new LeafLineWriter(fd, fs.writeSync);
        for (const l of all) w.leaf(l);
        w.end();
        fs.closeSync(fd);
        outLeavesMs.push(cpu() - t0);
      }
      t0 = cpu();
      const o = sink();
      for (const r of rs) o.line(rangeJsonLine(r));
      o.end();
      outRangesMs.push(cpu() - t0);
    }
    console.log(
      `${(kasan ? 'linux+kasan' : 'linux').padEnd(15)} ${String(space.roots.length).padStart(5)}  ${String(tables).padStart(6)}  ${String(leaves).padStart(7)} (${treeLeaves.toExponential(2)}) ${String(ranges).padStart(7)}   ${fmt(walkMs).padEnd(12)}  ${fmt(mergeMs).padEnd(12)}  ${outLeavesMs.length ? fmt(outLeavesMs) : 'refused: too many leaves'} | ${fmt(outRangesMs)}`,
    );
  }
}

if (require.main === module) void realShapeBench();
