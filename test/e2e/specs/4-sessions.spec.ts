// Debug sessions one after another and side by side, with the Page Tables view expanded and the
// map open (issue: a second session used to be probed before its first stop and stay broken,
// with an error toast per failed read). Expected values come from QEMU's `info registers`.
import path from 'node:path';
import { Page } from '@playwright/test';
import { REPO, errorNotifications, expect, runCommand, shot, showView, startConfiguration, stopAllSessions, test, treeRow, withGdbConfig } from '../fixture';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const harness = require(path.join(REPO, 'build/test/harness/qemu.js'));
// eslint-disable-next-line @typescript-eslint/no-var-requires
const oracles = require(path.join(REPO, 'build/test/harness/oracles.js'));

test.describe.configure({ mode: 'serial' });

const stopAll = (page: Page) => stopAllSessions(page);

/** CR3 as the tree shows it: the table address, without PCID/flag bits. */
async function oracleCr3(hmp: (c: string) => Promise<string>): Promise<string> {
  const regs = oracles.parseInfoRegisters(await hmp('info registers')) as Map<string, bigint>;
  return '0x' + (regs.get('cr3')! & ~0xfffn).toString(16);
}

/** Starts the named launch configuration and waits for the running guest's welcome text. */
async function start(page: Page, pane: ReturnType<Page['locator']> | undefined, config: string) {
  await startConfiguration(page, config);
  if (pane) await expect(pane.locator('.welcome-view-content')).toContainText('Pause it to inspect', { timeout: 30_000 });
}

async function pauseAndCheckTree(page: Page, pane: ReturnType<Page['locator']>, cr3: string, mode: string, pause = true) {
  if (pause) await runCommand(page, 'Debug: Pause');
  const root = treeRow(pane, /^CR3 /);
  await expect(root.locator('.label-name')).toHaveText(`CR3 ${cr3}`, { timeout: 30_000 });
  await expect(root.locator('.label-description')).toContainText(mode);
  if ((await root.getAttribute('aria-expanded')) !== 'true') await root.click();
  await expect(root).toHaveAttribute('aria-expanded', 'true');
  // The root's first present entry is read through the new session.
  await expect(pane.locator('.monaco-list-row .label-name', { hasText: /^PML[45]\[\d+\] / }).first()).toBeVisible({ timeout: 30_000 });
}

test('five debug sessions in a row with the view expanded and the map open: each stop is read, no error toast', async ({ world }) => {
  test.setTimeout(300_000);
  const { page } = world;
  await stopAll(page);
  const cr3 = await oracleCr3(world.hmp);
  let pane: ReturnType<Page['locator']> | undefined;
  for (let i = 0; i < 5; i++) {
    // ptview's view and commands appear with the first debug session.
    await start(page, pane, 'QEMU x86-64 guest');
    if (!pane) {
      // The map opened while the guest runs; each filter label shows once.
      await runCommand(page, 'ptview: Show Address-Space Map');
      const map = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
      await expect(map.locator('#f-w')).toHaveAttribute('label', 'w');
      await expect(map.locator('#f-w')).toHaveText(/^\s*w\s*$/);
      await expect(map.locator('#f-findings')).toHaveText(/^\s*findings\s*$/);
      await expect(map.locator('body')).toContainText(/running|not stopped yet/);
      pane = await showView(page);
      await expect(pane.locator('.welcome-view-content')).toContainText('Pause it to inspect', { timeout: 30_000 });
    }
    if (i === 3) {
      // The status bar shows the stop's root with the Page Tables view collapsed too.
      const header = page.locator('.pane-header', { hasText: /page tables/i });
      if ((await header.getAttribute('aria-expanded')) === 'true') await header.click();
      await runCommand(page, 'Debug: Pause');
      await expect(page.locator('.statusbar-item', { hasText: /CR3 0x/ }).first()).toHaveText(new RegExp(`^\\s*CR3 ${cr3} · 4-level · `), { timeout: 30_000 });
      await header.click();
      await expect(pane!.locator('.monaco-list-row .label-name', { hasText: `CR3 ${cr3}` })).toBeVisible({ timeout: 30_000 });
    } else {
      // Sessions 1, 3, 5 with the map shown beside the view (it follows every stop).
      await pauseAndCheckTree(page, pane!, cr3, '4-level');
    }
    if (i % 2 === 0) {
      const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
      await runCommand(page, 'ptview: Show Address-Space Map');
      await frame.locator('body[data-status="ready"]').waitFor({ timeout: 60_000 });
      await expect(frame.locator('#summary')).toContainText(/\d+ ranges/);
      await showView(page);
    }
    expect(await errorNotifications(page), `session ${i + 1}`).toEqual([]);
    await stopAll(page);
    await expect(pane!.locator('.welcome-view-content')).toContainText('No debug session', { timeout: 15_000 });
  }
  await runCommand(page, 'Notifications: Show Notifications');
  expect(await errorNotifications(page)).toEqual([]);
  await runCommand(page, 'Notifications: Hide Notifications');
  await runCommand(page, 'View: Close All Editors');
});

test('two debug sessions at once (two guests): the view shows the active one, each correct, no error toast', async ({ world }) => {
  test.setTimeout(240_000);
  const { page } = world;
  await stopAll(page);
  const second = await harness.bootGuest('x86-64-5level', { gdb: true });
  try {
    const pane = await showView(page);
    const cr3a = await oracleCr3(world.hmp);
    const cr3b = await oracleCr3((c) => second.hmp(c));
    expect(cr3a).not.toBe(cr3b);

    await start(page, pane, 'QEMU x86-64 guest');
    await pauseAndCheckTree(page, pane, cr3a, '4-level');
    // A second launch configuration for the 5-level guest (VS Code picks up launch.json changes),
    // started beside the first. The second session, selected in the Call Stack, is the active one:
    // the view follows it, says to pause it, and reads its first stop through its own adapter.
    await withGdbConfig(world, 'QEMU 5-level guest', second.gdbPort, async () => {
      const callStackHeader = page.locator('.pane-header', { hasText: /^call stack/i }).first();
      if ((await callStackHeader.getAttribute('aria-expanded')) !== 'true') await callStackHeader.click();
      const sessionRow = (name: string) => page.locator('.debug-call-stack .monaco-list-row', { hasText: name }).first();
      // Selects a session in the Call Stack until VS Code focuses it (the debug toolbar's session
      // picker names it): a click on a session still starting selects the row but not the session.
      const focusSession = async (name: string) => {
        const picker = page.locator('.debug-toolbar select.monaco-select-box').first();
        await expect(async () => {
          await sessionRow(name).click();
          await expect.poll(() => picker.evaluate((e) => { const sel = e as HTMLSelectElement; return sel.options[sel.selectedIndex]?.text ?? ''; }), { timeout: 3_000 }).toContain(name);
        }).toPass({ timeout: 30_000 });
      };
      // Focused and paused together: once (1 of ~10 full runs) VS Code gave the focus back to the
      // paused first session between the two, and Pause then paused nothing (cause not found).
      await expect(async () => {
        await focusSession('QEMU 5-level guest');
        await expect(pane.locator('.welcome-view-content')).toContainText('Pause it to inspect', { timeout: 10_000 });
        await runCommand(page, 'Debug: Pause');
        await expect(sessionRow('QEMU 5-level guest')).toContainText(/paused/i, { timeout: 10_000 });
      }).toPass({ timeout: 60_000 });
      await pauseAndCheckTree(page, pane, cr3b, '5-level', false);
      await shot(page, 'two-sessions');
      // Back to the first session: the view shows its tables again.
      await focusSession('QEMU x86-64 guest');
      const root = treeRow(pane, /^CR3 /);
      await expect(root.locator('.label-name')).toHaveText(`CR3 ${cr3a}`, { timeout: 30_000 });
      expect(await errorNotifications(page)).toEqual([]);
      await stopAll(page);
    });
  } finally {
    await second.kill();
  }
});
