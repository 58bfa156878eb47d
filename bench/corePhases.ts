// One cold process's CPU per phase of `dump --leaves --json` / `dump --json` on a core file or a
// ptview snapshot (`ptview dump --gdb … --save FILE`: the registers and tables of a live stop): the
// same core calls and output code as the CLI, split where the CLI streams them together. A cold
// process is what a person at a shell pays (V8 has not optimised anything yet), so each mode runs
// in a fresh process: node build/bench/corePhases.js CORE|SNAPSHOT.json MODE [REG=VALUE…] prints one JSON line.
//   walk:   tables loaded, leaves counted (the leaf bound), every leaf visited, nothing written
//   output: the same, each leaf's JSON line written into 1 MiB buffers sent to /dev/null (a repeated
//           subtree's lines copied with their VAs rewritten, as the CLI does: see walker.ts)
//   merge:  merged ranges from the graph of tables, their JSON lines to /dev/null
import fs from 'node:fs';
import v8 from 'node:v8';
import { LeafLineWriter } from '../src/cli/jsonLines';
import { spaceFromRegisters } from '../src/core/formats';
import { rangeJsonLine } from '../src/core/ops/records';
import { PageTableSession } from '../src/core/ops/session';
import { coreRegisters, openCore } from '../src/core/sources';
import { openSnapshot } from '../src/core/sources/snapshot';
import { loadTables } from '../src/core/walker';

// As the CLI runs (src/cli.ts).
v8.setFlagsFromString('--no-turbo-inlining --max-optimized-bytecode-size=800');

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export interface CorePhases {
  mode: string;
  /** Process CPU before the core is opened: node's start and loading these modules. */
  start: number;
  open: number;
  load: number;
  count: number;
  /** walk: leaves visited; output: visited and written; merge: ranges built and written. */
  work: number;
  items: number;
}

async function main(file: string, mode: string, regs: string[]): Promise<CorePhases> {
  const start = cpu();
  const given = new Map(regs.map((r) => [r.split('=')[0].toLowerCase(), BigInt(r.split('=')[1])] as [string, bigint]));
  let session: PageTableSession;
  let close: () => Promise<void>;
  if (file.endsWith('.json')) {
    const snap = await openSnapshot(file);
    session = new PageTableSession(spaceFromRegisters(snap.arch, new Map([...snap.registers, ...given])), snap.memory);
    close = () => snap.memory.close();
  } else {
    const core = await openCore(file);
    const { registers } = coreRegisters(core, 0, given);
    session = new PageTableSession(spaceFromRegisters(core.arch, registers), core.memory);
    close = () => core.close();
  }
  const t1 = cpu();
  await loadTables(session.space.roots, session.store);
  const t2 = cpu();
  await session.expansion();
  const t3 = cpu();
  const fd = fs.openSync('/dev/null', 'w');
  let items = 0;
  if (mode === 'merge') {
    const parts: string[] = [];
    for (const r of await session.ranges()) {
      parts.push(rangeJsonLine(r));
      items++;
    }
    fs.writeSync(fd, parts.join('\n') + '\n');
  } else {
    const w = new LeafLineWriter(fd, fs.writeSync);
    await session.forEachLeaf(mode === 'walk' ? () => void items++ : (l) => {
      items++;
      w.leaf(l);
    }, { between: () => Promise.resolve(), repeats: mode === 'walk' ? undefined : w });
    w.end();
  }
  fs.closeSync(fd);
  const t4 = cpu();
  await close();
  return { mode, start, open: t1 - start, load: t2 - t1, count: t3 - t2, work: t4 - t3, items };
}

if (require.main === module) {
  const [file, mode, ...regs] = process.argv.slice(2);
  void main(file, mode, regs).then((r) => process.stdout.write(JSON.stringify(r) + '\n'));
}
