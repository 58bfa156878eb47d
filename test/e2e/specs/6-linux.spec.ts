// The extension on Debian's own x86_64 kernel (KASLR, KPTI) in QEMU, through cdt-gdb-adapter, at
// the sidebar's default width: the Page Tables view down to a page of the guest's user program
// (its PA from the program's own /proc/self/pagemap), the map with Linux's regions, the audit a
// kernel developer acts on, and no error notification. Screenshots for the README.
import path from 'node:path';
import { Page } from '@playwright/test';
import { REPO, errorNotifications, expect, runCommand, shot, stopAllSessions, test, withGdbConfig } from '../fixture';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const linux = require(path.join(REPO, 'build/test/harness/linux.js'));
// eslint-disable-next-line @typescript-eslint/no-var-requires
const oracles = require(path.join(REPO, 'build/test/harness/oracles.js'));

test.describe.configure({ mode: 'serial' });

const toolbar = (page: Page) => page.locator('.debug-toolbar');

const stopAll = (page: Page) => stopAllSessions(page);


test('a real Linux kernel: the tree reads at 300 px down to a user page, the map names Linux\'s regions, the audit is actionable', async ({ world }) => {
  test.setTimeout(420_000);
  const { page } = world;
  await stopAll(page);
  const run = await linux.bootLinux('x86_64-4level', { gdb: true });
  try {
    await run.cont();
    const anon = run.user.mappings.get('anon');
    await withGdbConfig(world, 'Debian kernel', run.gdbPort, async () => {
      await runCommand(page, 'View: Show Run and Debug');
      const header = page.locator('.pane-header', { hasText: /page tables/i });
      await header.waitFor();
      for (const name of [/^variables/i, /^watch/i, /^breakpoints/i]) {
        const h = page.locator('.pane-header', { hasText: name }).first();
        if ((await h.count()) && (await h.getAttribute('aria-expanded')) === 'true') await h.click({ force: true, timeout: 5000 }).catch(() => undefined);
      }
      if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
      const pane = page.locator('.pane', { has: header });
      await expect(pane.locator('.welcome-view-content')).toContainText('Pause it to inspect', { timeout: 30_000 });

      // Pause until the CPU is in the kernel on the user program's behalf: its kernel root holds
      // both halves (KPTI's user root maps almost nothing of the kernel).
      let cr3 = 0n;
      for (let i = 0; i < 15; i++) {
        await runCommand(page, 'Debug: Pause');
        await expect(page.locator('.debug-toolbar .codicon-debug-continue')).toBeVisible({ timeout: 30_000 });
        const regs = await run.hmp('info registers');
        cr3 = oracles.parseInfoRegisters(regs).get('cr3');
        if (/CPL=0/.test(regs) && (cr3 & 0x1000n) === 0n) break;
        await runCommand(page, 'Debug: Continue');
        await page.waitForTimeout(300);
      }
      const root = pane.locator('.monaco-list-row').filter({ has: page.locator('.label-name', { hasText: /^CR3 / }) }).first();
      await expect(root.locator('.label-name')).toHaveText(`CR3 0x${(cr3 & ~0xfffn).toString(16)}`, { timeout: 60_000 });

      // A page of the user program, revealed in the tree: its label (VA, size, rights) fits the
      // default sidebar, and the PA is the one the program read from /proc/self/pagemap.
      const p = anon.pages[3];
      await runCommand(page, 'ptview: Translate Virtual Address…');
      const input = page.locator('.quick-input-widget input');
      await input.fill('0x' + p.va.toString(16));
      await input.press('Enter');
      const toast = page.locator('.notifications-toasts .notification-list-item', { hasText: `→ 0x${p.pa.toString(16)}` }).first();
      await expect(toast).toBeVisible({ timeout: 60_000 });
      await toast.locator('a, .monaco-button', { hasText: 'Reveal in Page Tables' }).first().click();
      const leaf = pane.locator('.monaco-list-row.selected').first();
      await expect(leaf.locator('.label-name')).toHaveText(new RegExp(`^0x${p.va.toString(16)} 4K `), { timeout: 30_000 });
      await expect(leaf.locator('.label-description')).toContainText(`→ 0x${p.pa.toString(16)}`);
      const paneBox = (await pane.boundingBox())!;
      expect(paneBox.width).toBeLessThanOrEqual(340);
      const labelBox = (await leaf.locator('.label-name').boundingBox())!;
      expect(labelBox.x + labelBox.width, 'the label is not cut off at the default width').toBeLessThanOrEqual(paneBox.x + paneBox.width);
      await page.mouse.move(paneBox.x + paneBox.width + 200, paneBox.y + 10);
      const callStack = page.locator('.pane-header', { hasText: /^call stack/i }).first();
      if ((await callStack.getAttribute('aria-expanded')) === 'true') await callStack.click();
      // The tooltip (resolved lazily): hover the label until it shows (the view re-laid out when the
      // Call Stack folded).
      const tip = page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'effective rights' }).first();
      for (let i = 0; i < 5 && !(await tip.isVisible()); i++) {
        await page.mouse.move(paneBox.x + paneBox.width + 200, paneBox.y + 10);
        await pane.locator('.monaco-list-row.selected .label-name').first().hover();
        await tip.waitFor({ timeout: 3000 }).catch(() => undefined);
      }
      await expect(tip).toBeVisible();
      // The README's screenshot at a settled state: the Call Stack says the guest is paused (the
      // header reads "Running" only while the workbench catches up with a stop).
      await expect(callStack).toContainText(/paused/i, { timeout: 10_000 });
      await shot(page, 'linux-tree-leaf');
      await page.mouse.move(900, 700);
      await page.keyboard.press('Escape');
      await expect(page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'effective rights' })).toHaveCount(0, { timeout: 10_000 });

      // The map: Linux's regions named, the user program's W+X page a finding with its full text.
      await runCommand(page, 'ptview: Show Address-Space Map');
      const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
      await frame.locator('body[data-status="ready"]').waitFor({ timeout: 90_000 });
      await expect(frame.locator('#summary')).toContainText(/\d+ ranges/);
      const regionCells = frame.locator('#spacer .row:not([hidden]) span:nth-child(9)');
      await frame.locator('#f-text input').fill('Direct map');
      await expect(regionCells.first()).toContainText('Direct map', { timeout: 20_000 });
      await frame.locator('#f-text input').fill('');
      // A stock Debian kernel has no W+X; and in the kernel root KPTI marks the user half NX at the
      // PGD (arch/x86/mm/pti.c), so even the user program's W+X page is not executable through it.
      await expect(frame.locator('#summary')).toContainText('Checked W+X mappings: passed');
      await frame.locator('#f-findings').click();
      const findingRow = frame.locator('#spacer .row:not([hidden])').first();
      await expect(findingRow).toBeVisible({ timeout: 20_000 });
      const findingText = (await findingRow.locator('span').nth(8).getAttribute('title')) ?? '';
      expect(findingText.length).toBeGreaterThan(20);
      await findingRow.click();
      await expect(frame.locator('#trace')).toContainText(/audit \((info|warning|error)\): /);
      const shownFinding = findingText.split(' · ').pop()!;
      await expect(frame.locator('#trace')).toContainText(shownFinding.slice(0, 40));
      await shot(page, 'linux-map-findings');
      // Nothing on a stock kernel to act on: no warning or error among the findings.
      await expect(frame.locator('#spacer .row.finding-warning, #spacer .row.finding-error')).toHaveCount(0);

      // The audit: no W+X in the kernel half, the user program's W+X page, no user-text alias
      // warnings, device memory named as such.
      await runCommand(page, 'ptview: Audit Page Tables');
      const editor = page.locator('.editor-instance .view-lines').first();
      await expect(editor).toContainText('Checked W+X mappings', { timeout: 60_000 });
      const text = (await editor.textContent()) ?? '';
      expect(text).not.toContain('writable-alias-of-exec');
      expect(text).not.toMatch(/error\s+w\+x/);

      // Per stop, with the tree expanded to a leaf and the map open beside it: from the moment the
      // workbench shows the adapter's pause (its Continue button) to the tree's root row and to the
      // rebuilt map; and the extension's own figures (the map's body[data-timing], from the moment
      // the adapter's stopped event reached the extension): ptview's own work beside the adapter's,
      // and when the rebuilt map was on screen. Printed for the README (issue: stops cost
      // milliseconds), not asserted: timing belongs in benchmarks; what is asserted is that both
      // follow every stop and that the figures describe this stop.
      await runCommand(page, 'View: Show Run and Debug');
      await runCommand(page, 'ptview: Show Address-Space Map');
      await frame.locator('body[data-status="ready"]').waitFor({ timeout: 90_000 });
      const figures: string[] = [];
      for (let i = 0; i < 3; i++) {
        await runCommand(page, 'Debug: Continue');
        await expect(page.locator('.debug-toolbar .codicon-debug-pause')).toBeVisible({ timeout: 30_000 });
        await expect(frame.locator('body[data-status="ready"]')).toHaveCount(0, { timeout: 30_000 });
        const t0 = Date.now();
        await page.locator('.monaco-workbench').click({ position: { x: 5, y: 5 } });
        await page.keyboard.press('F6'); // Debug: Pause
        await expect(page.locator('.debug-toolbar .codicon-debug-continue')).toBeVisible({ timeout: 30_000 });
        const t1 = Date.now();
        await expect(pane.locator('.monaco-list-row .label-name', { hasText: /^CR3 0x/ }).first()).toBeVisible({ timeout: 60_000 });
        const t2 = Date.now();
        await frame.locator('body[data-status="ready"]').waitFor({ timeout: 90_000 });
        const t3 = Date.now();
        const body = frame.locator('body[data-timing]');
        await body.waitFor({ timeout: 30_000 });
        const f = JSON.parse((await body.getAttribute('data-timing'))!);
        expect(f.stoppedAt, 'the figures are of this stop').toBeGreaterThan(t0);
        expect(f.drawnAt).toBeGreaterThanOrEqual(f.stoppedAt);
        const map = f.map ? f.map.ranges + f.map.audit + f.map.rows : NaN;
        const r = (x: number) => Math.round(x);
        figures.push(`stop ${i + 1}: workbench → tree ${t2 - t1} ms, map ${t3 - t1} ms; extension: ptview's own work ${r(f.ownMs)} ms beside the adapter's ${r(f.adapterMs)} ms for ${f.requests} requests ` +
          `(open ${r(f.openMs)}, tree ${r(f.treeMs)}, map ${r(map)}${f.map?.reused ? ', no table changed: the last map reused' : `: ranges and audit ${r(f.map?.ranges + f.map?.audit)}, rows ${r(f.map?.rows)}${f.map?.fold === undefined ? '' : `, fold alone ${r(f.map.fold)}${f.map.foldCpu === undefined ? '' : ` (CPU ${r(f.map.foldCpu)})`}`}`}), ` +
          `host CPU ${r(f.hostCpuMs)} ms; map sent ${f.postedAt - f.stoppedAt} ms, received ${f.receivedAt - f.stoppedAt} ms, handled ${f.handledAt - f.stoppedAt} ms and drawn ${f.drawnAt - f.stoppedAt} ms after the stopped event`);
      }
      console.log(`Linux x86_64 per-stop figures (cdt-gdb-adapter, tree expanded, map open; workbench figures incl. Playwright polling):\n  ${figures.join('\n  ')}`);

      expect(await errorNotifications(page)).toEqual([]);
      await stopAll(page);
    });
  } finally {
    await run.kill();
  }
});
