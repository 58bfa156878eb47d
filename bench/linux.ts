// Real Debian Linux guests (test/harness/linux.ts), stopped in the kernel on behalf of the user
// program so the walk is of a real process's tables (its user half and the whole kernel half):
// whole `ptview dump --gdb … --leaves --json` processes (auto strategy, i.e. proc-mem on this
// machine, and phymem-mode) side by side with gdb-pt-dump's `gdb -batch … pt` on the same stop,
// interleaved rounds; then the walk alone (ptview's `--stats` walk phase, gdb-pt-dump's `pt` timed
// inside one GDB session), and the command's phases on each stop's saved tables in cold
// processes (bench/corePhases.ts: load, count, walk, output, merge). Not a pass/fail test.
// PTVIEW_BENCH_LINUX=x86_64-4level,… runs only those guests.
// gdb-pt-dump's columns need exactly one qemu-system process on the machine (see peer.ts): the
// bench waits a while for other QEMUs to go and otherwise skips them, saying so.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LinuxRun, LinuxVariant, bootLinux } from '../test/harness/linux';
import { parseGva2gpa } from '../test/harness/oracles';
import { REPO } from '../test/harness/qemu';
import type { CorePhases } from './corePhases';
import { fmt, median, peerDir, stat, timeProcess } from './live';
import { qemuCount, tooMany, waitForQemus } from './peer';

const GUESTS: { variant: LinuxVariant; gdb: string; arch?: string }[] = [
  { variant: 'x86_64-4level', gdb: 'gdb' },
  { variant: 'arm64-kpti', gdb: 'gdb-multiarch', arch: 'aarch64' },
  { variant: 'riscv64-sv39', gdb: 'gdb-multiarch', arch: 'riscv:rv64' },
];

/**
 * Stops in the kernel with the kernel's own tables loaded: on arm64 with KPTI an EL1 stop can
 * still be in the trampoline vectors, where TTBR1 holds the trampoline's tables (a few pages), so
 * this stops again until QEMU's `gva2gpa` of the kernel's `_text` answers.
 */
async function stopInKernelTables(run: LinuxRun): Promise<string> {
  const text = run.kernelInfo.symbol('_text') ?? run.kernelInfo.symbol('_stext');
  for (let i = 0; ; i++) {
    const regs = await run.stopInKernel();
    if (text === undefined || parseGva2gpa(await run.hmp(`gva2gpa 0x${text.toString(16)}`)) !== undefined) return regs;
    if (i >= 50) throw new Error(`${run.variant}: never stopped in the kernel with _text mapped`);
    await run.cont();
  }
}

interface Walk {
  tables: number;
  leaves: number;
  walkMs: number;
}

/** One `ptview dump --gdb … [--leaves] --json [--stats]` process. */
async function ptview(cli: string, addr: string, strategy: string | undefined, stats: boolean, leaves = true): Promise<{ ms: number; strategy?: string } & Walk> {
  const r = await timeProcess(process.execPath, [cli, 'dump', '--gdb', addr, ...(leaves ? ['--leaves'] : []), '--json', ...(strategy ? ['--strategy', strategy] : []), ...(stats ? ['--stats'] : [])]);
  if (r.status !== 0) throw new Error(`ptview exited ${r.status}: ${r.stderr.slice(-500)}`);
  const tables = /stats: (\d+) tables read/.exec(r.stderr);
  const walk = /\bwalk ([\d.]+)/.exec(r.stderr);
  const chosen = /strategy (\S+):/.exec(r.stderr)?.[1];
  return { ms: r.ms, strategy: chosen, leaves: r.stdout.split('\n').length - 1, tables: tables ? Number(tables[1]) : NaN, walkMs: walk ? Number(walk[1]) : NaN };
}

export async function linuxBench(runs = 9, walkRuns = 9, phaseRuns = 7): Promise<void> {
  const cli = path.join(REPO, 'out', 'cli.js');
  const peer = peerDir();
  let peerOff: string | undefined;
  if (!peer) peerOff = '../shared/peers/gdb-pt-dump not found beside the repository (GDB_PT_DUMP may name its directory)';
  else if (process.getuid?.() !== 0) peerOff = 'gdb-pt-dump reads /proc/<qemu pid>/mem and needs root';
  console.log(`\nReal Debian Linux guests (QEMU TCG, stopped in the kernel on the user program's behalf): ptview --gdb vs gdb-pt-dump, whole processes, ${runs} interleaved rounds after a warm-up; ms median (min-max)`);
  console.log(`${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, qemu-system processes before booting: ${await qemuCount()}`);
  if (peerOff) console.log(`gdb-pt-dump columns skipped: ${peerOff}`);
  const rows: string[] = [];
  const walkRows: string[] = [];
  const phaseRows: string[] = [];
  const notes: string[] = [];
  const only = process.env.PTVIEW_BENCH_LINUX?.split(',');
  for (const g of GUESTS.filter((x) => !only || only.includes(x.variant))) {
    const t0 = Date.now();
    const run = await bootLinux(g.variant, { gdb: true });
    try {
      const regs = await stopInKernelTables(run);
      const addr = `127.0.0.1:${run.gdbPort}`;
      const first = await ptview(cli, addr, undefined, true);
      notes.push(`${g.variant}: ptview auto chose ${first.strategy}`);
      if (g.variant.startsWith('x86')) {
        // QEMU's own walk as a check that both walked the same stop: one `info tlb` line per leaf.
        const tlb = (await run.hmp('info tlb')).split('\n').filter((l) => /^[0-9a-f]+: /.test(l)).length;
        notes.push(`${g.variant}: QEMU info tlb lists ${tlb} pages, ptview ${first.leaves} leaves${tlb === first.leaves ? '' : ' !! differ'}`);
      }
      let peerSkip = peerOff;
      if (!peerSkip) {
        const n = await waitForQemus(1, Infinity);
        if (n > 1) peerSkip = `${tooMany(n)}, still when the bench's waiting budget (PTVIEW_BENCH_QEMU_WAIT_S) ran out`;
      }
      const peerArgs = (cmds: string[]) => ['-q', '-nx', '-batch', ...(g.arch ? ['-ex', `set architecture ${g.arch}`] : []), '-ex', `target remote ${addr}`, '-ex', `source ${path.join(peer ?? '', 'pt.py')}`, ...cmds.flatMap((c) => ['-ex', c]), '-ex', 'disconnect'];
      const peerOk = (r: { status: number | null; stdout: string; stderr: string }) => r.status === 0 && /0x[0-9a-f]+/i.test(r.stdout) && !/Cannot get qemu-system pid|Traceback|Error/i.test(r.stdout + r.stderr);
      let skippedRounds = 0;
      const peerRun = async (): Promise<number | undefined> => {
        if (peerSkip) return undefined;
        // Another engineer's QEMU may have started since: wait a little, else skip this round.
        if ((await waitForQemus(1, 30000)) > 1) {
          skippedRounds++;
          return undefined;
        }
        const r = await timeProcess(g.gdb, peerArgs(['pt']));
        if (!peerOk(r)) {
          peerSkip = `gdb-pt-dump failed (exit ${r.status}): ${(r.stdout + r.stderr).slice(-300).replace(/\n/g, ' ')}`;
          return undefined;
        }
        return r.ms;
      };
      const auto: number[] = [];
      const phy: number[] = [];
      const peerMs: number[] = [];
      const rAuto: number[] = [];
      const rPhy: number[] = [];
      let leaves = first.leaves;
      for (let i = 0; i <= runs; i++) {
        const a = await ptview(cli, addr, undefined, false);
        const f = await ptview(cli, addr, 'phymem-mode', false);
        const p = await peerRun();
        if (a.leaves !== leaves || f.leaves !== leaves) notes.push(`${g.variant}: leaves differ between runs (${leaves}, auto ${a.leaves}, phymem ${f.leaves})`);
        leaves = a.leaves;
        if (i === 0) continue; // warm-up round
        auto.push(a.ms);
        phy.push(f.ms);
        if (p !== undefined) {
          peerMs.push(p);
          rAuto.push(a.ms / p);
          rPhy.push(f.ms / p);
        }
      }
      if (skippedRounds) notes.push(`${g.variant}: gdb-pt-dump skipped in ${skippedRounds} of ${runs + 1} rounds: another qemu-system process was running`);
      const A = stat(auto);
      const F = stat(phy);
      const G = peerMs.length ? stat(peerMs) : undefined;
      const ratio = (x: number, r: number[]) => (G ? `${(x / G.median).toFixed(2)}x; ${median(r).toFixed(2)}x` : '-');
      rows.push(
        `${g.variant.padEnd(14)} ${String(leaves).padStart(6)} ${String(first.tables).padStart(6)}  ${fmt(A).padEnd(16)} ${fmt(F).padEnd(16)} ${(G ? `${fmt(G)} n=${peerMs.length}` : '-').padEnd(20)} ${ratio(A.median, rAuto).padEnd(15)} ${ratio(F.median, rPhy)}`,
      );
      if (!G) notes.push(`${g.variant}: gdb-pt-dump columns skipped: ${peerSkip ?? 'no round measured'}`);

      // The walk alone: ptview's `walk` phase (walk + JSON output, from --stats) and gdb-pt-dump's
      // `pt` in one GDB session (one warm-up `pt`, then timed ones).
      const wAuto: number[] = [];
      const wPhy: number[] = [];
      const wRanges: number[] = [];
      for (let i = 0; i < walkRuns; i++) {
        wAuto.push((await ptview(cli, addr, undefined, true)).walkMs);
        wPhy.push((await ptview(cli, addr, 'phymem-mode', true)).walkMs);
        // Merged ranges (`dump --json` without --leaves), closer to what gdb-pt-dump prints.
        wRanges.push((await ptview(cli, addr, undefined, true, false)).walkMs);
      }
      let wPeer: number[] = [];
      let wPeerSkip = peerSkip;
      if (!wPeerSkip && (await waitForQemus(1, 60000)) > 1) wPeerSkip = tooMany(await qemuCount());
      if (!wPeerSkip) {
        const py = `python\nimport time\ngdb.execute('pt', to_string=True)\nfor _ in range(${walkRuns}):\n  t = time.perf_counter(); gdb.execute('pt', to_string=True); print('PTBENCH', time.perf_counter() - t)\nend`;
        const script = path.join(os.tmpdir(), `ptview-bench-pt-${process.pid}.gdb`);
        fs.writeFileSync(script, py + '\n');
        try {
          const r = await timeProcess(g.gdb, peerArgs([`source ${script}`]));
          wPeer = [...r.stdout.matchAll(/^PTBENCH ([\d.e-]+)/gm)].map((m) => Number(m[1]) * 1000);
          if (wPeer.length !== walkRuns || /Cannot get qemu-system pid|Traceback/.test(r.stdout + r.stderr)) {
            wPeerSkip = `gdb-pt-dump's timed pt failed: ${(r.stdout + r.stderr).slice(-300).replace(/\n/g, ' ')}`;
            wPeer = [];
          }
        } finally {
          fs.rmSync(script, { force: true });
        }
      }
      const WA = stat(wAuto);
      const WF = stat(wPhy);
      const WP = wPeer.length ? stat(wPeer) : undefined;
      const wr = (x: number) => (WP ? `${(x / WP.median).toFixed(2)}x` : '-');
      const WR = stat(wRanges);
      walkRows.push(`${g.variant.padEnd(14)} ${fmt(WA).padEnd(16)} ${fmt(WF).padEnd(16)} ${fmt(WR).padEnd(16)} ${(WP ? `${fmt(WP)} n=${wPeer.length}` : '-').padEnd(20)} ${wr(WA.median).padEnd(11)} ${wr(WF.median).padEnd(11)} ${wr(WR.median)}`);
      if (!WP) notes.push(`${g.variant}: gdb-pt-dump walk column skipped: ${wPeerSkip}`);

      // Inside the command, per phase, on this stop's tables (saved with --save), each mode in
      // fresh processes (cold, as at a shell): CPU ms, median of `phaseRuns`.
      const snap = path.join(os.tmpdir(), `ptview-bench-${process.pid}-${g.variant}.json`);
      try {
        const saved = await timeProcess(process.execPath, [cli, 'dump', '--gdb', addr, '--save', snap]);
        if (saved.status !== 0) throw new Error(`ptview --save exited ${saved.status}: ${saved.stderr.slice(-300)}`);
        const phase = async (mode: string): Promise<CorePhases[]> => {
          const out: CorePhases[] = [];
          for (let i = 0; i < phaseRuns; i++) {
            const r = await timeProcess(process.execPath, [path.join(REPO, 'build', 'bench', 'corePhases.js'), snap, mode]);
            if (r.status !== 0) throw new Error(`corePhases ${mode} exited ${r.status}: ${r.stderr.slice(-300)}`);
            out.push(JSON.parse(r.stdout) as CorePhases);
          }
          return out;
        };
        const [w, o, m] = [await phase('walk'), await phase('output'), await phase('merge')];
        const med = (xs: CorePhases[], k: keyof CorePhases) => median(xs.map((x) => Number(x[k])));
        // Output mode copies repeated subtrees' lines instead of visiting their leaves, so it can
        // cost less than the walk alone: output is the difference, signed; the total is output mode's.
        const outMs = med(o, 'work') - med(w, 'work');
        const totalMs = med(o, 'load') + med(o, 'count') + med(o, 'work');
        const mergeMs = med(m, 'work');
        phaseRows.push(
          `${g.variant.padEnd(14)} ${String(w[0].items).padStart(7)} ${String(m[0].items).padStart(7)}  ${med(w, 'start').toFixed(1).padStart(6)} ${med(w, 'load').toFixed(1).padStart(6)} ${med(w, 'count').toFixed(1).padStart(6)} ${med(w, 'work').toFixed(1).padStart(7)} ${outMs.toFixed(1).padStart(7)} ${mergeMs.toFixed(1).padStart(7)}   ${totalMs.toFixed(1).padStart(7)}`,
        );
      } finally {
        fs.rmSync(snap, { force: true });
      }

      // Same stop at the end: nothing above resumed the guest.
      const after = await run.hmp('info registers');
      const pc = (s: string) => /\b(?:RIP|PC)[=\s]+([0-9a-f]+)/i.exec(s)?.[1];
      if (!/paused/.test(await run.hmp('info status')) || pc(after) !== pc(regs)) notes.push(`${g.variant}: !! the guest moved during the bench (pc ${pc(regs)} -> ${pc(after)})`);
      notes.push(`${g.variant}: ${run.release}, booted and measured in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } finally {
      await run.kill();
    }
  }
  console.log('guest          leaves tables  ptview auto      ptview phymem    gdb-pt-dump          auto/peer       phymem/peer   (ratios: of medians; median of rounds)');
  for (const r of rows) console.log(r);
  console.log('\nwalk alone: ptview --stats `walk` phase (walk + JSON output: --leaves, and merged ranges without it) vs gdb-pt-dump `pt` timed inside one GDB session (after a warm-up pt); ms median (min-max)');
  console.log('guest          auto --leaves    phymem --leaves  auto ranges      gdb-pt-dump          auto/peer   phymem/peer ranges/peer (ratios of medians)');
  for (const r of walkRows) console.log(r);
  console.log(`\ninside the command, per phase, on each stop's saved tables (bench/corePhases.ts): CPU ms, median of ${phaseRuns} cold processes per mode; output = (walk + JSON lines written, repeated subtrees copied) - walk; merge = merged ranges built and written`);
  console.log('guest           leaves  ranges   start   load  count    walk  output   merge   load+count+walk with output (--leaves --json)');
  for (const r of phaseRows) console.log(r);
  for (const n of notes) console.log(`  ${n}`);
  console.log(`load average after: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

// `node build/bench/linux.js`: this part alone.
if (require.main === module) void linuxBench();
