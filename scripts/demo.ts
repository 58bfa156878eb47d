// npm run demo: boots a real Linux guest (Debian's own kernel, KASLR on; x86_64 by default,
// `-- --arch arm64|riscv64` for the others; test/harness/linux.ts fetches and caches it), pauses
// it in its user program (test/guests/linux: known mappings, their frames from the guest's own
// /proc/self/pagemap) and runs the ptview CLI on it live through GDB + cdt-gdb-adapter: the user
// address space, a translation of the program's pointer, the two VAs of its shared page, the
// audit, the kernel's large pages and a simulated mprotect with its TLB maintenance.
// `-- --small` runs the former demo on the bundled bare-metal x86_64 guest from a QEMU core.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { LinuxArch, LinuxVariant, bootLinux } from '../test/harness/linux';
import { parseInfoRegisters } from '../test/harness/oracles';
import { REPO, bootGuest } from '../test/harness/qemu';

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** One CLI run, printed as a shell line and its output (long outputs keep their head and tail). */
function cli(args: string[], source: string[], shown = source, keep = 40): void {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(REPO, 'out', 'cli.js'), ...args, ...source], { encoding: 'utf8', maxBuffer: 1 << 28 });
  console.log(`$ ptview ${[...args, ...shown].join(' ')}`);
  const lines = (r.stdout ?? '').replace(/\n$/, '').split('\n');
  const out = lines.length > keep ? [...lines.slice(0, keep - 12), `  … ${lines.length - keep + 2} more lines …`, ...lines.slice(-10)] : lines;
  console.log(out.join('\n'));
  const notes = (r.stderr ?? '').split('\n').filter((l) => l && !/^note: (IA32_PAT|adapter dialect|live target)/.test(l));
  if (notes.length) console.log(notes.join('\n'));
  console.log(`(${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  if (r.status !== 0 && r.status !== 1) throw new Error(`ptview ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
}

async function demoLinux(arch: LinuxArch): Promise<void> {
  // arm64: -cpu max (no KPTI: at EL0 TTBR1 still holds the kernel's tables, so one stop shows both
  // halves); x86_64's KPTI roots are both shown through --root.
  const variant: LinuxVariant = arch === 'x86_64' ? 'x86_64-4level' : arch === 'arm64' ? 'arm64-max' : 'riscv64-sv39';
  const t0 = Date.now();
  console.log(`== Linux guest ${variant}: fetching (first run only) and booting Debian's kernel under QEMU (TCG)`);
  const run = await bootLinux(variant, { gdb: true });
  try {
    const regs = await run.stopInUser();
    console.log(`== ${run.spec.description} (uname -r ${run.release})`);
    console.log(`   booted to the user program in ${(run.bootMs / 1000).toFixed(1)} s; paused in it (user mode)`);
    const u = run.user;
    console.log(`== ptview-user, pid ${u.pid}: its mappings and frames, from the guest's own /proc/self/pagemap`);
    for (const m of u.mappings.values()) {
      console.log(`   ${m.name.padEnd(6)} ${hex(m.va).padStart(16)}  ${String(m.pages.length).padStart(2)} page(s)  first frame ${hex(m.pages[0].pa)}`);
    }
    console.log();
    const gdb = ['--gdb', `127.0.0.1:${run.gdbPort}`];
    let kernelRoot: string[] = [];
    if (arch === 'x86_64') {
      const cr3 = parseInfoRegisters(regs).get('cr3')!;
      const k = cr3 & ~0x1fffn;
      kernelRoot = ['--root', `table@${hex(k)}`];
      console.log(`== KPTI: CR3 = ${hex(cr3)} is the user root; the kernel root is CR3 - 4 KiB = ${hex(k)}\n`);
    }
    const anon = u.mappings.get('anon')!;
    const shm = u.mappings.get('shm-a')!;
    const ptr = anon.va + 5n * 4096n + 0x123n;
    cli(['dump', '--half', 'user'], gdb);
    console.log(`== the program's pointer ${hex(ptr)}: pagemap says frame ${hex(anon.pages[5].pa)}`);
    cli(['translate', hex(ptr)], gdb);
    console.log(`== the memfd page mapped twice (shm-a ${hex(shm.va)}, shm-b ${hex(u.mappings.get('shm-b')!.va)}): every VA of its frame`);
    // (x86: the kernel root, which also holds the user half, adds the direct map's alias)
    cli(['find', hex(shm.pages[0].pa), ...kernelRoot], gdb);
    console.log(`== audit: the program's W+X page at ${hex(u.mappings.get('wx')!.va)}; a stock kernel has no W+X`);
    cli(['audit'], gdb, gdb, 24);
    if (kernelRoot.length) cli(['audit', ...kernelRoot], gdb, gdb, 24);
    console.log('== the kernel half in 2 MiB (and larger) pages: the direct map and the kernel image, at KASLR bases');
    cli(['dump', '--half', 'kernel', '--page-size', '2M', ...kernelRoot], gdb, gdb, 30);
    console.log('== what mprotect(anon, 256K, PROT_READ) would change, and the TLB maintenance it needs (nothing is written)');
    cli(['simulate', '--edit', `protect ${hex(anon.va)} 256K -w`], gdb, gdb, 24);
    console.log(`== done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await run.kill();
  }
}

async function demoSmall(): Promise<void> {
  const guest = 'x86-64-4level';
  console.log(`== booting test/guests/${guest} under QEMU (TCG)`);
  const run = await bootGuest(guest, { gdb: true });
  try {
    const core = await run.dump();
    const efer = parseInfoRegisters(await run.hmp('info registers')).get('efer')!;
    console.log(`== dumped guest memory to ${core} (EFER=0x${efer.toString(16)} from 'info registers')\n`);
    const offline = ['--core', core, '--reg', `EFER=0x${efer.toString(16)}`];
    const run1 = (args: string[], source = offline, shown = ['--core', path.basename(core), '--reg', `EFER=0x${efer.toString(16)}`]) => {
      const argv = [path.join(REPO, 'out', 'cli.js'), ...args, ...source];
      console.log(`$ ptview ${[...args, ...shown].join(' ')}`);
      try {
        process.stdout.write(execFileSync(process.execPath, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
      } catch (e) {
        const err = e as { stdout?: string; status?: number };
        process.stdout.write(err.stdout ?? '');
        if (err.status !== 1) throw e; // 1 = "not mapped / not found", a valid answer
      }
      console.log();
    };
    run1(['dump']);
    run1(['translate', '0x80001234']);
    run1(['audit']);
    run1(['find', '0x100000']);
    const gdb = ['--gdb', `127.0.0.1:${run.gdbPort}`];
    console.log('== the same guest, live through GDB + cdt-gdb-adapter (the guest stays paused)\n');
    run1(['dump', '--stats'], gdb, gdb);
    run1(['translate', '0xffffffff80007000', '--stats', '--strategy', 'phymem-mode'], gdb, gdb);
    run1(['simulate', '--edit', 'protect 0xffffffff80007000 4K -w', '--edit', 'unmap 0x40001000 4K'], gdb, gdb);
  } finally {
    await run.kill();
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--small')) return demoSmall();
  const i = argv.indexOf('--arch');
  const arch = (i >= 0 ? argv[i + 1] : 'x86_64') as LinuxArch;
  if (!['x86_64', 'arm64', 'riscv64'].includes(arch)) throw new Error(`--arch ${arch}: use x86_64, arm64 or riscv64 (or --small)`);
  await demoLinux(arch);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
