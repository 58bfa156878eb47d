// Break When Translation Changes on Debian's x86_64 kernel (KASLR, KPTI), through GDB +
// cdt-gdb-adapter, on a guest of its own (its user program mprotects one mapping on request; a
// second request changes nothing: mprotect_fixup returns early when the flags are the same):
// - stopped in user mode (KPTI's user root maps no page table), ptview says it cannot watch and why;
// - stopped in the kernel on the program's behalf, it finds the four entries of the first anon
//   page's walk and the direct map they are written through (the kernel's own, from /proc/kcore);
// - stopped in user mode again with that offset remembered (as the extension does per session),
//   GDB's watchpoints at addresses the user root does not map stop the guest when the program's
//   mprotect writes the PTE: in kernel text, before the mprotect returned, with that PTE cleared
//   (change_pte_range's ptep_modify_prot_start, mm/mprotect.c) and no other entry changed.
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { hex } from '../../../src/core/addr';
import { spaceFromRegisters } from '../../../src/core/formats';
import { PageTableSession } from '../../../src/core/ops/session';
import { openLiveTarget, sessionConsole } from '../../../src/debug';
import { GdbSession, attachGdb } from '../../../src/debug/gdbAttach';
import { GdbWatchBackend, WatchError, WatchPlan, changeText, changedEntries, chooseBackend, planWatch, watchChannels, watchSpecs } from '../../../src/debug/watchpoints';
import { LinuxRun, bootLinux, privilege } from '../../harness/linux';
import { parseInfoRegisters } from '../../harness/oracles';
import { consoleCommand } from '../debug/support';

describe('Linux x86_64: Break When Translation Changes stops the guest in the mprotect that changes the page', function () {
  this.timeout(900000);
  let run: LinuxRun;
  let gdb: GdbSession;

  before(async () => {
    run = await bootLinux('x86_64-4level', { gdb: true });
    await run.stopInUser();
    gdb = await attachGdb(`127.0.0.1:${run.gdbPort}`);
  });
  after(async () => {
    await gdb?.close();
    await run?.kill();
  });

  function nextStop(): Promise<DebugProtocol.StoppedEvent> {
    return new Promise((resolve) => {
      const sub = gdb.observer.onEvent!((e) => {
        if (e.event === 'stopped') {
          sub.dispose();
          resolve(e as DebugProtocol.StoppedEvent);
        }
      });
    });
  }
  const threadId = async () => (await gdb.channel.request('threads')).threads[0].id as number;

  /** Continues and pauses through the adapter until the CPU is in `want` mode (x86: CPL 3 on KPTI's user root, or CPL 0 on the kernel root). */
  async function pauseIn(want: 'user' | 'kernel', moveFirst = false): Promise<void> {
    for (let i = 0; i < 300; i++) {
      const p = privilege('x86_64', await run.hmp('info registers'))!;
      if ((i > 0 || !moveFirst) && (want === 'user' ? p.user && !p.kernelRoot : !p.user && p.kernelRoot)) return;
      const stopped = nextStop();
      await gdb.channel.request('continue', { threadId: await threadId() });
      await new Promise((r) => setTimeout(r, 1 + (i % 7)));
      await gdb.channel.request('pause', { threadId: await threadId() });
      await stopped;
    }
    throw new Error(`never paused in ${want} mode`);
  }

  async function open() {
    const t = await openLiveTarget(gdb.channel, gdb.observer);
    return { t, session: new PageTableSession(spaceFromRegisters(t.arch, t.registers), t.memory) };
  }

  const anon = () => run.user.mappings.get('anon')!;

  it('in user mode under KPTI: refuses, saying the direct map is not mapped there', async () => {
    const p = privilege('x86_64', await run.hmp('info registers'))!;
    assert.ok(p.user && !p.kernelRoot, 'stopped in user mode on the KPTI user root');
    const { t, session } = await open();
    try {
      await assert.rejects(planWatch(session, anon().va), (e: Error) => e instanceof WatchError && /KPTI/.test(e.message));
    } finally {
      await t.dispose();
    }
  });

  let plan: WatchPlan | undefined;
  let physmap: bigint;

  it('in the kernel on the program\'s behalf: four entries, each through the kernel\'s direct map', async () => {
    for (let i = 0; !plan; i++) {
      assert.ok(i < 50, 'never paused in the kernel with the program\'s tables');
      await pauseIn('kernel', i > 0);
      const { t, session } = await open();
      try {
        const tr = await session.translate(anon().va);
        if (tr.kind === 'mapped' && BigInt(tr.pa!) === anon().pages[0].pa) plan = await planWatch(session, anon().va);
      } finally {
        await t.dispose();
      }
    }
    // The kernel's own direct map: /proc/kcore's largest segment of RAM (vaddr = __va(paddr)).
    const ram = run.kernelInfo.kcore.filter((s) => s.paddr !== (1n << 64n) - 1n && s.memsz > 1n << 24n).sort((a, b) => (a.memsz > b.memsz ? -1 : 1))[0];
    assert.ok(ram, '/proc/kcore has a RAM segment');
    physmap = ram.vaddr - ram.paddr;
    assert.equal(plan.directMapOffset, physmap);
    assert.deepEqual(plan.entries.map((e) => e.levelName), ['PML4', 'PDPT', 'PD', 'PT']);
    for (const e of plan.entries) assert.deepEqual(e.vas, [physmap + BigInt(e.entryPa)], `${e.levelName}[${e.index}]`);
    const pte = plan.entries[3];
    assert.equal((pte.raw >> 12n) & ((1n << 40n) - 1n), anon().pages[0].pfn, 'the PTE maps the frame /proc/self/pagemap gave');
    assert.equal(pte.raw & 3n, 3n, 'present and writable before the mprotect');
  });

  it('in user mode with the remembered direct map: the watchpoints stop the guest inside the mprotect, the PTE written', async () => {
    await pauseIn('user');
    const { t, session } = await open();
    let again: WatchPlan;
    try {
      again = await planWatch(session, anon().va, { directMapOffset: physmap });
    } finally {
      await t.dispose();
    }
    // The same entries as from the kernel stop, except the top level: KPTI's user PGD is the
    // kernel PGD's page + 4 KiB (arch/x86/mm/pti.c), the tables below are shared.
    assert.deepEqual(again.entries.slice(1).map((e) => e.entryPa), plan!.entries.slice(1).map((e) => e.entryPa));
    assert.equal(again.entries[0].entryPa, plan!.entries[0].entryPa + 0x1000);
    assert.match(again.how, /direct map at /);
    const con = await sessionConsole(gdb.channel, gdb.observer);
    const backend = chooseBackend(watchChannels(con, gdb.channel, true, () => []));
    assert.ok(backend instanceof GdbWatchBackend);
    const armed = await backend.arm(watchSpecs(again));
    assert.equal(armed.length, 4);
    // Ask the program for its mprotect, as a user would in the Debug Console.
    await consoleCommand(gdb, `set {unsigned long}${hex(run.user.step.flag)} = 1`);
    const stopped = nextStop();
    await gdb.channel.request('continue', { threadId: await threadId() });
    await stopped;
    const regs = await run.hmp('info registers');
    const rip = parseInfoRegisters(regs).get('rip')!;
    assert.match(regs, /\bCPL=0\b/);
    const text = [run.kernelInfo.symbol('_stext')!, run.kernelInfo.symbol('_etext')!];
    assert.ok(rip >= text[0] && rip < text[1], `RIP ${hex(rip)} in kernel text ${hex(text[0])}-${hex(text[1])}`);
    assert.doesNotMatch(run.serial(), /^PTVIEW-MPROTECT/m, 'the mprotect has not returned yet');
    const { t: t2 } = await open();
    let changes;
    try {
      changes = await changedEntries(t2.memory, again.entries);
    } finally {
      await t2.dispose();
    }
    const pte = again.entries[3];
    assert.deepEqual(changes.map((c) => c.entry), [pte], changes.map((c) => changeText(again.format, c)).join('; '));
    const after = changes[0].after;
    // Cleared (ptep_modify_prot_start's get-and-clear), or already without R/W.
    assert.ok(after === 0n || after === (pte.raw & ~2n), `after: ${hex(after)}`);
    console.log(`      stopped at ${hex(rip)}: ${changeText(again.format, changes[0])}`);
    await backend.disarm(armed.map((a) => a.id));
    await gdb.channel.request('continue', { threadId: await threadId() });
    const deadline = Date.now() + 120000;
    while (!/^PTVIEW-MPROTECT anon/m.test(run.serial())) {
      assert.ok(Date.now() < deadline, 'the mprotect returned after the watchpoints were removed');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});
