// ptview's live path (GDB + cdt-gdb-adapter, as `ptview --gdb` and the extension use it) on the
// shared x86_64 Linux guest: the CLI's leaves of both KPTI roots equal the offline walk of a QEMU
// core of the same stop (itself checked against info tlb in x86_64.test.ts), for the automatic
// strategy and for QEMU's physical-memory mode; the guest is still paused afterwards.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { hex } from '../../../src/core/addr';
import { LinuxRun, sharedLinux } from '../../harness/linux';
import { REPO } from '../../harness/qemu';
import { Stop, capture, leavesOf, spaceWith } from './support';

const run$ = promisify(execFile);
const CLI = path.join(REPO, 'out', 'cli.js');

describe('Linux x86_64-4level live through cdt-gdb-adapter + GDB (ptview --gdb)', function () {
  this.timeout(600000);
  let run: LinuxRun;
  let stop: Stop;
  let kernelRoot: bigint;

  before(async () => {
    run = await sharedLinux('x86_64-4level');
    stop = await capture(run, 'live', await run.stopInUser(), []);
    kernelRoot = stop.qregs.get('cr3')! & ~0x1fffn;
  });
  after(async () => {
    await stop?.core.close();
    await run?.stopInUser();
  });

  const cliLeaves = async (extra: string[]) => {
    const out = await run$(process.execPath, [CLI, 'dump', '--gdb', `127.0.0.1:${run.gdbPort}`, '--leaves', '--json', ...extra], { maxBuffer: 1 << 28 });
    return out.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { va: string; pa: string; size: number; entry: string });
  };

  for (const [label, strategy] of [['automatic strategy', []], ['phymem-mode', ['--strategy', 'phymem-mode']]] as const) {
    it(`lists every leaf of the user root and of the kernel root like the core (${label})`, async () => {
      const coreUser = await leavesOf(stop.space.roots, stop.store);
      const coreKernel = await leavesOf(spaceWith(stop.core, stop.qregs, { cr3: kernelRoot }).roots, stop.store);
      const key = (va: bigint | string, pa: number | string, size: number) => `${hex(BigInt(va))} ${hex(BigInt(pa))} ${size}`;
      const fromCore = (ls: typeof coreUser) => ls.map((l) => key(l.root.toVirt(l.linear) as bigint, l.pa, l.size));
      const user = await cliLeaves([...strategy]);
      assert.deepEqual(user.map((l) => key(l.va, l.pa, l.size)), fromCore(coreUser));
      const kernel = await cliLeaves(['--root', `table@${hex(kernelRoot)}`, ...strategy]);
      assert.ok(kernel.length > 70000, `${kernel.length} leaves`);
      assert.deepEqual(kernel.map((l) => key(l.va, l.pa, l.size)), fromCore(coreKernel));
      assert.equal(((await run.qmp('query-status')) as { status: string }).status, 'paused');
    });
  }
});
