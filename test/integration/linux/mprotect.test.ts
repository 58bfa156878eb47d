// Steps the user program over its mprotect(anon, 256 KiB, PROT_READ) on an x86_64 Linux guest of
// its own (the shared guests keep their mappings unchanged): the flag word is written through
// GDB, as a user at a breakpoint would, and QEMU's info tlb and ptview must both see the 64 PTEs
// lose R/W and nothing else.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { hex } from '../../../src/core/addr';
import { Perm } from '../../../src/core/format';
import { LinuxRun, bootLinux } from '../../harness/linux';
import { parseInfoTlb } from '../../harness/oracles';
import { capture, leavesOf } from './support';

async function gdbWrite(port: number, va: bigint, value: number): Promise<void> {
  const args = ['-nx', '-batch', '-ex', `target remote 127.0.0.1:${port}`, '-ex', `set {unsigned long}${hex(va)} = ${value}`];
  await new Promise<void>((resolve, reject) => {
    const p = spawn('gdb', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`gdb exited ${code}: ${out}`))));
  });
}

describe('Linux x86_64: the user program steps over its mprotect, seen by QEMU and ptview', function () {
  this.timeout(600000);
  let run: LinuxRun;

  before(async () => {
    run = await bootLinux('x86_64-4level', { gdb: true });
  });
  after(async () => {
    await run?.kill();
  });

  it('clears R/W in exactly the 64 anon PTEs, keeping their frames and other bits', async () => {
    const anon = run.user.mappings.get('anon')!;
    const end = anon.va + BigInt(anon.pages.length * 4096);
    const inAnon = (va: bigint) => va >= anon.va && va < end;
    await run.stopInUser();
    const before = parseInfoTlb(await run.hmp('info tlb')).filter((t) => inAnon(t.va));
    assert.equal(before.length, 64);
    assert.ok(before.every((t) => t.write));
    // GDB writes the flag in the stopped program's address space; its detach resumes the guest.
    await gdbWrite(run.gdbPort!, run.user.step.flag, 1);
    const deadline = Date.now() + 60000;
    while (!/^PTVIEW-MPROTECT anon 0x[0-9a-f]+\r?$/m.test(run.serial())) {
      if (Date.now() > deadline) throw new Error(`no PTVIEW-MPROTECT line:\n${run.serial().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const stop = await capture(run, 'after', await run.stopInUser(), ['info tlb']);
    try {
      const after = parseInfoTlb(stop.hmp.get('info tlb')!).filter((t) => inAnon(t.va));
      const fmt = (t: { va: bigint; frame: bigint; flags: string }) => `${hex(t.va)} ${hex(t.frame)} ${t.flags}`;
      assert.deepEqual(after.map(fmt), before.map((t) => fmt({ ...t, flags: t.flags.slice(0, 8) + '-' })));
      const ours = (await leavesOf(stop.space.roots, stop.store)).filter((l) => inAnon(l.root.toVirt(l.linear) as bigint));
      assert.equal(ours.length, 64);
      for (const l of ours) {
        assert.equal(l.perms & Perm.Write, 0, hex(l.root.toVirt(l.linear) as bigint));
        assert.ok(l.perms & Perm.User);
      }
    } finally {
      await stop.core.close();
    }
  });
});
