// Debian's x86_64 kernel in QEMU through cdt-gdb-adapter: the guest's user program calls
// mprotect(anon, 256 KiB, PROT_READ) when a flag word is set (test/guests/linux/README.md).
// Stopped at hardware breakpoints just before and just after that system call, the Page Tables
// view's "Changes since last stop" lists exactly the 64 anon PTEs losing write (the pages the
// program read from /proc/self/pagemap), each with the INVLPG it required, and nothing else that
// changes a translation.
import path from 'node:path';
import { changeRows, showPageTables } from '../changesView';
import { REPO, errorNotifications, expect, gdbCommand, runCommand, shot, stopAllSessions, test, withGdbConfig } from '../fixture';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const linux = require(path.join(REPO, 'build/test/harness/linux.js'));
// eslint-disable-next-line @typescript-eslint/no-var-requires
const oracles = require(path.join(REPO, 'build/test/harness/oracles.js'));

test.describe.configure({ mode: 'serial' });

const hexs = (v: bigint) => '0x' + v.toString(16);
const UNITS: Record<string, bigint> = { K: 1024n, M: 1024n ** 2n, G: 1024n ** 3n };

test('a real Linux kernel: stepping over the user program\'s mprotect shows exactly its 64 PTEs losing write, with the INVLPG each required', async ({ world }) => {
  test.setTimeout(480_000);
  const { page } = world;
  await stopAllSessions(page);
  const run = await linux.bootLinux('x86_64-4level', { gdb: true });
  try {
    await run.cont();
    const anon = run.user.mappings.get('anon');
    const shm = run.user.mappings.get('shm-a');
    const { before, after } = run.user.step as { before: bigint; after: bigint };
    await withGdbConfig(world, 'Debian kernel mprotect', run.gdbPort, async () => {
      const pane = await showPageTables(page);
      await runCommand(page, 'Debug: Pause');
      await expect(page.locator('.debug-toolbar .codicon-debug-continue')).toBeVisible({ timeout: 30_000 });

      // Breakpoints around the system call, then the flag that makes the program call it, written
      // at its physical address (the stop may be in any process): QEMU's physical-memory mode for
      // that one write, switched back at once.
      await gdbCommand(page, `hbreak *${hexs(before)}`, /Hardware assisted breakpoint \d+ at/);
      await gdbCommand(page, `hbreak *${hexs(after)}`, /Hardware assisted breakpoint \d+ at .*\n?.*Hardware assisted breakpoint \d+ at/s);
      const flagPa = shm.pages[0].pa + 8n;
      await gdbCommand(page, 'maintenance packet Qqemu.PhyMemMode:1', /received: "OK"/);
      await gdbCommand(page, `set {unsigned long}${hexs(flagPa)} = 1`);
      await gdbCommand(page, 'maintenance packet Qqemu.PhyMemMode:0');
      await expect.poll(async () => (await run.hmp(`xp /1gx ${hexs(flagPa)}`)).trim(), { timeout: 30_000 }).toMatch(/: 0x0*1$/);

      // Stop A: at the mprotect call, in the program (user mode, its KPTI user root).
      // The toolbar may still show Continue from the pause before the adapter has resumed: wait on
      // QEMU's own RIP, then on the workbench.
      await runCommand(page, 'Debug: Continue');
      await expect.poll(async () => oracles.parseInfoRegisters(await run.hmp('info registers')).get('rip'), { timeout: 120_000 }).toBe(before);
      await expect(page.locator('.debug-toolbar .codicon-debug-continue')).toBeVisible({ timeout: 120_000 });
      const regsA = await run.hmp('info registers');
      const cr3 = oracles.parseInfoRegisters(regsA).get('cr3') as bigint;
      const root = `CR3 ${hexs(cr3 & ~0xfffn)}`;
      await expect(pane.locator('.label-name', { hasText: new RegExp(`^${root}$`) }).first()).toBeVisible({ timeout: 60_000 });

      // Stop B: right after it.
      await runCommand(page, 'View: Show Run and Debug');
      await runCommand(page, 'Debug: Continue');
      await expect.poll(async () => oracles.parseInfoRegisters(await run.hmp('info registers')).get('rip'), { timeout: 120_000 }).toBe(after);
      await expect(page.locator('.debug-toolbar .codicon-debug-continue')).toBeVisible({ timeout: 60_000 });
      expect(oracles.parseInfoRegisters(await run.hmp('info registers')).get('cr3'), 'the same process and root at both stops').toBe(cr3);

      const group = pane.locator('.monaco-list-row').filter({ has: page.locator('.label-name', { hasText: /^Changes since last stop$/ }) }).first();
      await expect(group).toBeVisible({ timeout: 120_000 });
      await expect(group.locator('.label-description')).not.toContainText('comparing', { timeout: 120_000 });
      const rows = (await changeRows(pane)).filter((r) => !r.label.startsWith('accessed/dirty only'));
      // Exactly the anon pages, each losing write, nothing else.
      const covered = new Set<string>();
      for (const r of rows) {
        // rights v2: the user's write goes, and the kernel's unless SMAP already denied it.
        const m = /^~ (0x[0-9a-f]+) (\d+)([KMG]) (write, )?userWrite$/.exec(r.label);
        expect(m, `only anon's write changes: ${r.label} · ${r.description}`).toBeTruthy();
        const va = BigInt(m![1]);
        const size = BigInt(m![2]) * UNITS[m![3]];
        for (let a = va; a < va + size; a += 4096n) covered.add(hexs(a));
        expect(r.description).toMatch(/^.w. rw- .* ⇒ .-. r-- /);
        expect(r.description).toMatch(/required: invlpg \[0x[0-9a-f]+\]/);
      }
      expect([...covered].sort()).toEqual(anon.pages.map((p: { va: bigint }) => hexs(p.va)).sort());
      // Each page keeps the frame the program read from /proc/self/pagemap.
      for (const r of rows) {
        const va = BigInt(/^~ (0x[0-9a-f]+)/.exec(r.label)![1]);
        const page = anon.pages.find((p: { va: bigint }) => p.va === va);
        expect(r.description).toContain(`→ ${hexs(page.pa)}`);
      }
      await shot(page, 'linux-mprotect-changes');
      expect(await errorNotifications(page)).toEqual([]);
      await stopAllSessions(page);
    });
  } finally {
    await run.kill();
  }
});
