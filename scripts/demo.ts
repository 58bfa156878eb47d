// npm run demo: boots the bundled x86_64 sample guest in QEMU, dumps it through the monitor,
// and runs the ptview CLI on the core: the merged dump, a translation trace, an audit and the
// aliases of one physical page; then the same guest live through GDB (--gdb), with the
// transport figures (--stats).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseInfoRegisters } from '../test/harness/oracles';
import { REPO, bootGuest } from '../test/harness/qemu';

async function main(): Promise<void> {
  const guest = 'x86-64-4level';
  console.log(`== booting test/guests/${guest} under QEMU (TCG)`);
  const run = await bootGuest(guest, { gdb: true });
  try {
    const core = await run.dump();
    const efer = parseInfoRegisters(await run.hmp('info registers')).get('efer')!;
    console.log(`== dumped guest memory to ${core} (EFER=0x${efer.toString(16)} from 'info registers')\n`);
    const offline = ['--core', core, '--reg', `EFER=0x${efer.toString(16)}`];
    const cli = (args: string[], source = offline, shown = ['--core', path.basename(core), '--reg', `EFER=0x${efer.toString(16)}`]) => {
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
    cli(['dump']);
    cli(['translate', '0x80001234']);
    cli(['audit']);
    cli(['find', '0x100000']);
    // Live: GDB attaches to QEMU's gdbstub through cdt-gdb-adapter; registers come from the
    // target (no --reg), tables through the fastest strategy that works (see --stats).
    const gdb = ['--gdb', `127.0.0.1:${run.gdbPort}`];
    console.log('== the same guest, live through GDB + cdt-gdb-adapter (the guest stays paused)\n');
    cli(['dump', '--stats'], gdb, gdb);
    cli(['translate', '0xffffffff80007000', '--stats', '--strategy', 'phymem-mode'], gdb, gdb);
    // Simulated edits on the live tables: what would change and the TLB maintenance it needs;
    // nothing is written to the guest.
    cli(['simulate', '--edit', 'protect 0xffffffff80007000 4K -w', '--edit', 'unmap 0x40001000 4K'], gdb, gdb);
  } finally {
    await run.kill();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
