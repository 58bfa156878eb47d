// Break When Translation Changes in the real workbench, through cdt-gdb-adapter: on
// x86-64-changes (which edits its tables after an NMI, test/guests/common/x86-64.S CHANGES) the
// palette command watches 0xffffffff80008000, the guest runs, and it must stop right after the
// store that maps that page (QEMU's own RIP, the instruction after `movl $0x108101,0x209040` in
// the guest's binary); the Watched Translations group then shows PT[8] before → after, and
// removing the watch takes it out of GDB. The next two watches come from a map row's context menu
// and from a tree leaf's.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Locator, Page } from '@playwright/test';
import { REPO, clearMapFilters, clickMenuItem, errorNotifications, expect, gdbCommand, runCommand, shot, showView, stopAllSessions, test, treeRow, withGdbConfig } from '../fixture';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const harness = require(path.join(REPO, 'build/test/harness/qemu.js'));
// eslint-disable-next-line @typescript-eslint/no-var-requires
const oracles = require(path.join(REPO, 'build/test/harness/oracles.js'));

test.describe.configure({ mode: 'serial' });

/** The address of the instruction after the guest's first 32-bit store to `addr` (objdump of its binary). */
function afterStoreTo(kernel: string, addr: number): string {
  const r = spawnSync('objdump', ['-d', '-m', 'i386:x86-64', kernel], { encoding: 'utf8' });
  const lines = r.stdout.split('\n').filter((l) => /^\s*[0-9a-f]+:\t[^\t]+\t/.test(l));
  const i = lines.findIndex((l) => /\tmovl\s/.test(l) && l.trimEnd().endsWith(`,0x${addr.toString(16)}`));
  if (i < 0) throw new Error(`no store to 0x${addr.toString(16)} in ${kernel}`);
  return '0x' + /^\s*([0-9a-f]+):/.exec(lines[i + 1])![1];
}

/** ptview: Break When Translation Changes… from the palette, on `va`. */
async function watchFromPalette(page: Page, va: string) {
  await runCommand(page, 'ptview: Break When Translation Changes…');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(va);
  await input.press('Enter');
}

/** Removes a watch with its row's inline action; the (last) watch's group goes. */
async function unwatch(watch: Locator, group: Locator) {
  await watch.hover();
  await watch.locator('.action-label.codicon-close').click();
  await expect(group).toHaveCount(0, { timeout: 15_000 });
}

/** RIP as QEMU's info registers gives it. */
async function qemuRip(run: { hmp(cmd: string): Promise<string> }): Promise<string> {
  return '0x' + oracles.parseInfoRegisters(await run.hmp('info registers')).get('rip').toString(16);
}

test('Break When Translation Changes: the guest stops at the store that maps the page, the view shows PT[8] before → after', async ({ world }) => {
  test.setTimeout(300_000);
  const { page } = world;
  await stopAllSessions(page);
  const run = await harness.bootGuest('x86-64-changes', { gdb: true });
  try {
    const kernel = await harness.buildGuest('x86-64-changes');
    await withGdbConfig(world, 'changes guest', run.gdbPort, async () => {
      const pane = await showView(page, { foldOthers: true });
      await runCommand(page, 'Debug: Pause');
      await expect(treeRow(pane, /^CR3 /)).toBeVisible({ timeout: 30_000 });

      await watchFromPalette(page, '0xffffffff80008000');
      const group = treeRow(pane, /^Watched Translations$/);
      await expect(group).toBeVisible({ timeout: 30_000 });
      await expect(group.locator('.label-description')).toHaveText('1 · GDB watch -l');
      if ((await group.getAttribute('aria-expanded')) !== 'true') await group.click();
      const watch = treeRow(pane, /^0xffffffff80008000$/);
      // Four entries, each mapped writable at three VAs by this guest: twelve watchpoints.
      await expect(watch.locator('.label-description')).toHaveText('PML4 → PDPT → PD → PT · 12 watchpoints');

      await runCommand(page, 'Debug: Continue');
      await expect(page.locator('.debug-toolbar .codicon-debug-pause')).toBeVisible({ timeout: 30_000 });
      await run.qmp('inject-nmi');
      await expect(page.locator('.debug-toolbar .codicon-debug-continue')).toBeVisible({ timeout: 60_000 });
      const rip1 = await qemuRip(run);
      expect(rip1).toBe(afterStoreTo(kernel, 0x209040));
      await expect(watch.locator('.label-description')).toHaveText(`changed at ${rip1} · PT[8]`, { timeout: 30_000 });
      await expect(page.locator('.notifications-toasts')).toContainText(`the translation of 0xffffffff80008000 changed at ${rip1}: PT[8]: 0x0000000000000000 (not present) → 0x0000000000108101 (leaf → 0x108000`);
      // The hit scrolled the view to the change and selected it (its watch row expanded).
      const change = treeRow(pane, /^PT\[8\] changed$/);
      await expect(change).toHaveClass(/\bselected\b/);
      await expect(change.locator('.label-description')).toHaveText('0x0 → 0x108101');
      await shot(page, 'watch-hit');

      // Remove it with the row's inline action: the group goes.
      await unwatch(watch, group);

      // From a map row's context menu: the range at 0x12d000 (unmapped next by the guest).
      await runCommand(page, 'ptview: Show Address-Space Map');
      const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
      await frame.locator('body[data-status="ready"]').waitFor({ timeout: 60_000 });
      await clearMapFilters(frame);
      await frame.locator('#f-va input').fill('0x12d000+0x1000');
      const rows = frame.locator('#spacer .row:not([hidden])');
      await expect(rows).toHaveCount(1);
      await expect(rows.first().locator('span').first()).toHaveText('0x12d000');
      await rows.first().click({ button: 'right', timeout: 15_000 });
      await clickMenuItem(page, 'Break When Translation Changes…');
      await expect(group).toBeVisible({ timeout: 30_000 });
      const watch2 = treeRow(pane, /^0x12d000$/);
      await expect(watch2.locator('.label-description')).toHaveText('PML4 → PDPT → PD → PT · 12 watchpoints', { timeout: 30_000 });
      await runCommand(page, 'Debug: Continue');
      // The next stop is the unmap's store (the high half of PT_K[8] is not watched any more).
      await expect(watch2.locator('.label-description')).toHaveText(/^changed at 0x[0-9a-f]+ · PT\[301\]$/, { timeout: 60_000 });
      const rip2 = await qemuRip(run);
      expect(rip2).toBe(afterStoreTo(kernel, 0x203968)); // ENT PT0, 301, 0
      await expect(watch2.locator('.label-description')).toHaveText(`changed at ${rip2} · PT[301]`);
      await shot(page, 'watch-map-hit');

      // A walk that moves: 0xa00000 is a 2 MiB block (PD0[5]) the guest splits into a new page
      // table (PT_NEW at 0x210000). The stop is at PD0[5]'s store; ptview then watches the new walk.
      await unwatch(watch2, group);
      // This one from the tree: the block's leaf row (revealed from Translate's toast), its context menu.
      await runCommand(page, 'ptview: Translate Virtual Address…');
      await page.locator('.quick-input-widget input').fill('0xa00000');
      await page.locator('.quick-input-widget input').press('Enter');
      const toast = page.locator('.notifications-toasts .notification-list-item', { hasText: '→ 0xa00000' }).first();
      await expect(toast).toBeVisible({ timeout: 60_000 });
      await toast.locator('a, .monaco-button', { hasText: 'Reveal in Page Tables' }).first().click();
      const leaf = pane.locator('.monaco-list-row.selected').first();
      await expect(leaf.locator('.label-name')).toHaveText(/^0xa00000 2M /, { timeout: 30_000 });
      await leaf.click({ button: 'right' });
      await clickMenuItem(page, 'Break When Translation Changes…');
      // Arming scrolled the view from the leaf (deep in PD0) to the new watch and selected it.
      const watch3 = treeRow(pane, /^0xa00000$/);
      await expect(watch3.locator('.label-description')).toHaveText('PML4 → PDPT → PD · 9 watchpoints', { timeout: 30_000 });
      await expect(watch3).toHaveClass(/\bselected\b/);
      await runCommand(page, 'Debug: Continue');
      await expect(watch3.locator('.label-description')).toHaveText(/^changed at 0x[0-9a-f]+ · PD\[5\]$/, { timeout: 60_000 });
      const rip3 = await qemuRip(run);
      expect(rip3).toBe(afterStoreTo(kernel, 0x202028)); // ENT PD0, 5, PT_NEW + P + RW + US
      const change3 = treeRow(pane, /^PD\[5\] changed$/);
      await expect(change3).toHaveClass(/\bselected\b/);
      await expect(change3.locator('.label-description')).toHaveText(/^0xa010[8a]3 → 0x210007$/); // the source's 0xa00000 + P + RW + PS + PAT (and A)
      // The new walk's last entry, in the new table, is watched now (room for the rows: the stop
      // unfolded the Call Stack again).
      await showView(page, { foldOthers: true });
      await expect(treeRow(pane, /^PT\[0\] @ 0x210000$/)).toBeVisible();
      await shot(page, 'watch-walk-moved');
      expect(await errorNotifications(page)).toEqual([]);
    });
  } finally {
    await stopAllSessions(page);
    await run.kill();
  }
});

// eslint-disable-next-line @typescript-eslint/no-var-requires
const linux = require(path.join(REPO, 'build/test/harness/linux.js'));

test('Debian\'s x86_64 kernel (KPTI): refused in user mode with the reason, then armed in the kernel it stops inside the program\'s mprotect', async ({ world }) => {
  test.setTimeout(480_000);
  const { page } = world;
  await stopAllSessions(page);
  const run = await linux.bootLinux('x86_64-4level', { gdb: true });
  try {
    await run.cont();
    const anon = run.user.mappings.get('anon');
    const va = '0x' + anon.va.toString(16);
    await withGdbConfig(world, 'Debian kernel (watch)', run.gdbPort, async () => {
      const pane = await showView(page, { foldOthers: true });

      /** Pause/continue until QEMU says the CPU is where `ok` wants it. */
      const pauseWhere = async (ok: (regs: string) => Promise<boolean>) => {
        for (let i = 0; i < 40; i++) {
          await runCommand(page, 'Debug: Pause');
          await expect(page.locator('.debug-toolbar .codicon-debug-continue')).toBeVisible({ timeout: 30_000 });
          if (await ok(await run.hmp('info registers'))) return;
          await runCommand(page, 'Debug: Continue');
          await page.waitForTimeout(200);
        }
        throw new Error('never paused where wanted');
      };
      const user = async (r: string) => linux.privilege('x86_64', r).user;
      // In the kernel on the program's behalf: the kernel root maps its anon page where pagemap says.
      const inProgram = async (r: string) => {
        const p = linux.privilege('x86_64', r);
        if (p.user || !p.kernelRoot) return false;
        const pa = oracles.parseGva2gpa(await run.hmp(`gva2gpa ${va}`));
        return pa === anon.pages[0].pa;
      };

      await pauseWhere(user);
      await expect(treeRow(pane, /^CR3 /)).toBeVisible({ timeout: 60_000 });
      await watchFromPalette(page, va);
      await expect(page.locator('.notifications-toasts')).toContainText('KPTI', { timeout: 60_000 });
      expect((await errorNotifications(page)).join('\n')).toMatch(/cannot break when the translation of 0x[0-9a-f]+ changes: .* KPTI/);
      await runCommand(page, 'Notifications: Clear All Notifications');

      await runCommand(page, 'Debug: Continue');
      await pauseWhere(inProgram);
      await watchFromPalette(page, va);
      const group = treeRow(pane, /^Watched Translations$/);
      await expect(group).toBeVisible({ timeout: 60_000 });
      if ((await group.getAttribute('aria-expanded')) !== 'true') await group.click();
      const watch = treeRow(pane, new RegExp(`^${va}$`));
      await expect(watch.locator('.label-description')).toHaveText('PML4 → PDPT → PD → PT · 4 watchpoints');

      // Ask the program for its mprotect, as a user would, in the Debug Console.
      await gdbCommand(page, `set {unsigned long}0x${run.user.step.flag.toString(16)} = 1`);
      await page.waitForTimeout(1000);
      await runCommand(page, 'Debug: Continue');
      await expect(watch.locator('.label-description')).toHaveText(/^changed at 0xffffffff[0-9a-f]+ · PT\[\d+\]$/, { timeout: 120_000 });
      const regs = await run.hmp('info registers');
      const rip = oracles.parseInfoRegisters(regs).get('rip');
      expect(regs).toMatch(/\bCPL=0\b/);
      expect(rip >= run.kernelInfo.symbol('_stext') && rip < run.kernelInfo.symbol('_etext')).toBe(true);
      await expect(watch.locator('.label-description')).toHaveText(new RegExp(`^changed at 0x${rip.toString(16)} · `));
      expect(run.serial()).not.toMatch(/^PTVIEW-MPROTECT/m); // inside the mprotect
      // The PTE of the first anon page: present and writable before, cleared by change_pte_range
      // (the hit scrolled the view to it and selected it).
      const change = treeRow(pane, /^PT\[\d+\] changed$/);
      await expect(change).toHaveClass(/\bselected\b/);
      await expect(change.locator('.label-description')).toHaveText(new RegExp(`^0x8[0-9a-f]*${anon.pages[0].pfn.toString(16)}867 → 0x0$`));
      await shot(page, 'watch-linux-mprotect');
    });
  } finally {
    await stopAllSessions(page);
    await run.kill();
  }
});
