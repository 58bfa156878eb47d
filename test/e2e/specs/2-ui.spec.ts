// UI tests in the real workbench: the user's path through the view, palette, map and hover.
// Expected values come from QEMU (the fixture's oracle), never from ptview.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Page } from '@playwright/test';
import { REPO, clearMapFilters, expandTo4KLeaf, expect, runCommand, shot, showView, test, toolbar, treeRow } from '../fixture';

test.describe.configure({ mode: 'serial' });

/** Scrolls the (virtualized) tree until a row with this label is rendered. */
async function scrollTo(pane: ReturnType<Page['locator']>, label: RegExp) {
  const row = treeRow(pane, label);
  const list = pane.locator('.monaco-list').first();
  for (let i = 0; i < 40 && !(await row.isVisible()); i++) {
    const box = await list.boundingBox();
    await pane.page().mouse.move(box!.x + box!.width / 2, box!.y + box!.height / 2);
    await pane.page().mouse.wheel(0, 200);
    await pane.page().waitForTimeout(100);
  }
  return row;
}

async function expand(pane: ReturnType<Page['locator']>, label: RegExp) {
  const row = await scrollTo(pane, label);
  await row.waitFor();
  if ((await row.getAttribute('aria-expanded')) !== 'true') await row.click();
  await expect(row).toHaveAttribute('aria-expanded', 'true');
}

test('the view appears with a debug session and says to pause while the guest runs', async ({ world }) => {
  const { page } = world;
  await runCommand(page, 'Debug: Start Debugging');
  await toolbar(page).waitFor({ timeout: 60_000 });
  const pane = await showView(page, { foldOthers: true });
  await expect(pane.locator('.welcome-view-content')).toContainText('Pause it to inspect', { timeout: 30_000 });
  await shot(page, 'running-welcome');
  await runCommand(page, 'Debug: Pause');
  // Paused: the view reads the tables. Status bar: the active root (CR3, the value QEMU's info
  // registers gives, without its PCID/flag bits), the paging mode and the strategy the view uses.
  const cr3 = '0x' + (BigInt(world.oracle.cr3) & ~0xfffn).toString(16);
  const root = treeRow(pane, /^CR3 /);
  await expect(root.locator('.label-name')).toHaveText(`CR3 ${cr3}`, { timeout: 30_000 });
  const strategy = /· (proc-mem|phymem-mode|monitor-xp|direct-map)$/.exec((await root.locator('.label-description').textContent()) ?? '')?.[1];
  expect(strategy).toBeTruthy();
  const status = page.locator('.statusbar-item', { hasText: /CR3 0x/ }).first();
  await expect(status).toHaveText(new RegExp(`^\\s*CR3 ${cr3} · 4-level · ${strategy}\\s*$`));
});

test('expand CR3 down to a 4 KiB leaf and check its VA → PA and flags against QEMU', async ({ world }) => {
  const { page, oracle } = world;
  const pane = await showView(page, { foldOthers: true });
  const va = 0x12c000n;
  const pa = oracle.gpa['0x12c000']!;
  const mem = oracle.mem.find((m) => BigInt(m.start) <= va && va < BigInt(m.end))!;
  const tlb = oracle.tlb.find((t) => BigInt(t.va) === va)!;
  expect(mem && tlb).toBeTruthy();
  // The label is what tells leaves apart at the sidebar's default width: VA, size, rights; the
  // description has the range end and the PA.
  const leaf = await expandTo4KLeaf(pane, va);
  const label = (await leaf.locator('.label-name').textContent()) ?? '';
  await expect(leaf.locator('.label-description')).toHaveText(new RegExp(`^–0x12cfff → ${pa} `));
  // rights v2 "rwx rwx" (privileged, then user): w from info mem's effective W, the user's r
  // from its U, x from info tlb's XD bit.
  const m = /^0x12c000 4K (r)(.)(.) (.)(.)(.)$/.exec(label);
  expect(m, label).toBeTruthy();
  expect(m![2] === 'w' || m![5] === 'w').toBe(mem.write);
  expect(m![4] === 'r').toBe(mem.user);
  if (tlb.nx) expect(m![3]).toBe('-');
  // A hover closes when its row is drawn again (the stop's decorations arriving, for one), as it
  // does for a user, who then hovers again: so does the test, a few times.
  const tooltip = page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'effective rights' }).first();
  await expect(async () => {
    await page.mouse.move(0, 0);
    await leaf.hover();
    await expect(tooltip).toBeVisible({ timeout: 6_000 });
  }).toPass({ timeout: 30_000 });
  // Reading the registers (absent ones included) must not pop the adapter's errors at the user.
  await expect(page.locator('.notifications-toasts').filter({ hasText: /Invalid cast|No symbol/ })).toHaveCount(0);
  await shot(page, 'tree-leaf');
});

/** Labels of the expanded rows from the top of the tree (the rows test 2 opened are near it). */
async function expandedLabels(pane: ReturnType<Page['locator']>): Promise<string[]> {
  await pane.locator('.monaco-list').first().focus();
  await pane.page().keyboard.press('Home');
  return pane.locator('.monaco-list-row[aria-expanded="true"] .label-name').allTextContents();
}

test('the Page Tables view keeps the nodes the user expanded across Refresh and across continue + pause', async ({ world }) => {
  const { page } = world;
  const pane = await showView(page, { foldOthers: true });
  // The previous test opened CR3 → PML4[0] → PDPT[0] → PD[0] → the chunk holding PT[300].
  const before = await expandedLabels(pane);
  expect(before.length, before.join(' | ')).toBeGreaterThanOrEqual(5);
  expect(before[0]).toMatch(/^CR3 /);
  expect(before.some((l) => /^\[\d+–\d+\]$/.test(l)), before.join(' | ')).toBe(true);

  await runCommand(page, 'ptview: Refresh Page Tables');
  await page.waitForTimeout(1500);
  await expect.poll(() => expandedLabels(pane), { timeout: 20_000 }).toEqual(before);

  // Continue: the tree empties (the view says to pause); pause: the new stop's tree is read again.
  await runCommand(page, 'Debug: Continue');
  await expect(pane.locator('.welcome-view-content')).toContainText('Pause it to inspect', { timeout: 30_000 });
  await runCommand(page, 'Debug: Pause');
  await expect(treeRow(pane, /^CR3 /)).toBeVisible({ timeout: 30_000 });
  await expect.poll(() => expandedLabels(pane), { timeout: 20_000 }).toEqual(before);
  await shot(page, 'tree-kept-expanded');

  // What the user collapsed stays collapsed at the next stop (Collapse All in the view's title).
  await pane.locator('.pane-header').hover();
  await pane.locator('.pane-header .action-label.codicon-collapse-all').click();
  await expect.poll(() => expandedLabels(pane)).toEqual([]);
  await runCommand(page, 'Debug: Continue');
  await expect(pane.locator('.welcome-view-content')).toContainText('Pause it to inspect', { timeout: 30_000 });
  await runCommand(page, 'Debug: Pause');
  await expect(treeRow(pane, /^CR3 /)).toBeVisible({ timeout: 30_000 });
  await page.waitForTimeout(1000);
  expect(await expandedLabels(pane)).toEqual([]);
});

test('Translate Virtual Address from the palette shows the PA QEMU gives', async ({ world }) => {
  const { page, oracle } = world;
  const va = Object.keys(oracle.gpa).find((k) => oracle.gpa[k] && BigInt(k) > 0x100000n)!;
  await runCommand(page, 'ptview: Translate Virtual Address…');
  const input = page.locator('.quick-input-widget input');
  await input.fill(va);
  await input.press('Enter');
  const toast = page.locator('.notifications-toasts .notification-list-item-message', { hasText: `${va} → ${oracle.gpa[va]}` });
  await expect(toast.first()).toBeVisible();
  await shot(page, 'translate');
});

test('the address-space map filtered to W+X shows exactly the W+X pages QEMU reports', async ({ world }) => {
  const { page, oracle } = world;
  await runCommand(page, 'ptview: Show Address-Space Map');
  const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  await frame.locator('body[data-status="ready"]').waitFor({ timeout: 60_000 });
  await clearMapFilters(frame);
  await frame.locator('#f-wx').click();
  const summary = frame.locator('#summary');
  await expect(summary).toContainText(/^\d+ of \d+ ranges/);
  const rows = frame.locator('#spacer .row:not([hidden])');
  const n = await rows.count();
  // Oracle: 4 KiB and large leaves whose own bits have no XD, inside an info mem range with W.
  const writable = (va: bigint) => oracle.mem.some((m) => BigInt(m.start) <= va && va < BigInt(m.end) && m.write);
  const wx = oracle.tlb.filter((t) => !t.nx && writable(BigInt(t.va)));
  expect(wx.length > 0).toBe(n > 0);
  for (let i = 0; i < n; i++) {
    const rights = await rows.nth(i).locator('span').nth(5).textContent();
    expect(rights).toMatch(/^.wx|^.w. .X/);
  }
  // Every W+X page from QEMU lies in a shown row.
  const spans: [bigint, bigint][] = [];
  for (let i = 0; i < n; i++) {
    const cells = await rows.nth(i).locator('span').allTextContents();
    spans.push([BigInt(cells[0]), BigInt(cells[1])]);
  }
  for (const t of wx.slice(0, 50)) expect(spans.some(([a, z]) => a <= BigInt(t.va) && BigInt(t.va) < z), t.va).toBe(true);
  // Click a shown range whose first VA QEMU translated: the trace below the table agrees.
  const probe = spans.findIndex(([a]) => oracle.gpa['0x' + a.toString(16)]);
  if (probe >= 0) {
    const va = '0x' + spans[probe][0].toString(16);
    await rows.nth(probe).click();
    await expect(frame.locator('#trace')).toContainText(`${va} → ${oracle.gpa[va]}`);
  }
  await shot(page, 'map-wx');
  await page.keyboard.press('Control+w');
});

/** RFC 4180 CSV (quoted cells may hold commas, quotes and newlines) → records by header. */
function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') q = false;
      else cell += c;
    } else if (c === '"') q = true;
    else if (c === ',') row.push(cell), (cell = '');
    else if (c === '\n') row.push(cell), rows.push(row), (row = []), (cell = '');
    else if (c !== '\r') cell += c;
  }
  if (cell || row.length) row.push(cell), rows.push(row);
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
}

/** Clicks an export button of the map and accepts the save dialog's default path. */
async function exportMap(page: Page, frame: ReturnType<Page['frameLocator']>, button: string, file: string): Promise<string> {
  fs.rmSync(file, { force: true });
  await frame.locator(button).click();
  // code-server's save dialog (the simple file dialog, a quick input) offers <workspace>/address-space.<ext>.
  const input = page.locator('.quick-input-widget input');
  await expect(input).toHaveValue(new RegExp(`${path.basename(file).replace('.', '\\.')}$`));
  await input.press('Enter');
  await expect.poll(() => fs.existsSync(file) && fs.statSync(file).size > 0, { timeout: 20_000 }).toBe(true);
  return fs.readFileSync(file, 'utf8');
}

test('the map exports its ranges to CSV and JSON, row for row the ranges of ptview dump on a core of the same stop', async ({ world }) => {
  const { page } = world;
  // The oracle: QEMU dumps the paused guest; the CLI merges its ranges offline (EFER from info registers).
  const core = path.join(world.dir, 'export-oracle.core');
  await world.hmp(`dump-guest-memory ${core}`);
  const efer = /EFER=([0-9a-f]+)/i.exec(await world.hmp('info registers'))![1];
  const dump = execFileSync(process.execPath, [path.join(REPO, 'out/cli.js'), 'dump', '--core', core, '--reg', `EFER=0x${efer}`, '--json'], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'] })
    .split('\n').filter(Boolean).map((l) => JSON.parse(l));
  fs.rmSync(core, { force: true });
  expect(dump.length).toBeGreaterThan(10);

  await runCommand(page, 'ptview: Show Address-Space Map');
  const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  await frame.locator('body[data-status="ready"]').waitFor({ timeout: 60_000 });
  const summary = frame.locator('#summary');
  await expect(summary).toContainText(/^\d+ of \d+ ranges/);
  const [shown, total] = /^(\d+) of (\d+)/.exec((await summary.textContent())!)!.slice(1).map(Number);
  expect(shown).toBe(total); // no filter: every range
  expect(total).toBe(dump.length);
  const firstRow = await frame.locator('#spacer .row:not([hidden])').first().locator('span').allTextContents();

  const csv = parseCsv(await exportMap(page, frame, '#export-csv', path.join(world.workspace, 'address-space.csv')));
  const json = JSON.parse(await exportMap(page, frame, '#export-json', path.join(world.workspace, 'address-space.json'))) as Record<string, unknown>[];
  expect(csv.length).toBe(dump.length);
  expect(json.length).toBe(dump.length);
  expect(BigInt(csv[0].va)).toBe(BigInt(firstRow[0]));
  expect(BigInt(csv[0].end)).toBe(BigInt(firstRow[1]));
  const fields = ['root', 'va', 'end', 'pa', 'size', 'pageSize', 'pages', 'level', 'read', 'write', 'exec', 'user', 'userExec', 'global', 'memType'];
  for (let i = 0; i < dump.length; i++) {
    const want = Object.fromEntries(fields.map((f) => [f, String(dump[i][f])]));
    expect(Object.fromEntries(fields.map((f) => [f, csv[i][f]])), `CSV row ${i}`).toEqual(want);
    expect(Object.fromEntries(fields.map((f) => [f, String(json[i][f])])), `JSON row ${i}`).toEqual(want);
  }
  await page.keyboard.press('Control+w');
});

test('hovering an address in an editor shows its translation', async ({ world }) => {
  const { page, oracle } = world;
  await runCommand(page, 'Go to File...');
  await page.locator('.quick-input-widget input').fill('notes.txt');
  await page.locator('.quick-input-list .monaco-list-row').first().click();
  const token = page.locator('.view-lines span', { hasText: '0x12c000' }).first();
  await token.waitFor();
  const want = `→ ${oracle.gpa['0x12c000']}`;
  const hover = page.locator('.monaco-hover').filter({ hasText: want });
  for (let i = 0; i < 8 && !(await hover.first().isVisible()); i++) {
    const box = await page.locator('.view-lines span', { hasText: '0x12c000' }).first().boundingBox();
    await page.mouse.move(box!.x + box!.width - 10, box!.y + box!.height / 2);
    await page.waitForTimeout(1500);
  }
  await expect(hover.first()).toBeVisible();
  await shot(page, 'hover');
});
