// Driving the Page Tables view's "Changes since last stop" group in the workbench (specs 7 and 8).
import { Locator, Page } from '@playwright/test';
import { escapeRe, showView } from './fixture';

/** Run and Debug with the Page Tables view open and the other views folded. */
export function showPageTables(page: Page): Promise<Locator> {
  return showView(page, { foldOthers: true });
}

/** The first row whose label is exactly `label` (or matches it). */
export function rowByLabel(pane: Locator, label: string | RegExp): Locator {
  const re = typeof label === 'string' ? new RegExp(`^${escapeRe(label)}$`) : label;
  return pane.locator('.monaco-list-row').filter({ has: pane.page().locator('.label-name', { hasText: re }) }).first();
}

/** The decoration badge VS Code draws after a row's label (a FileDecoration), or ''. */
export async function badge(row: Locator): Promise<string> {
  const el = row.locator('[class*="monaco-decoration-itemBadge-"]');
  if ((await el.count()) === 0) return '';
  return el.first().evaluate((e) => {
    const c = getComputedStyle(e, '::after').content;
    return c && c !== 'none' && c !== 'normal' ? c.replace(/^"|"$/g, '') : '';
  });
}

/**
 * Label and description of every row directly under the Changes group, read by moving the
 * keyboard focus down from the group (the list renders only the rows in view).
 */
export async function changeRows(pane: Locator): Promise<Array<{ label: string; description: string }>> {
  const page = pane.page();
  // A stop may have unfolded Call Stack and Watch: room for the tree again.
  await showPageTables(page);
  const group = rowByLabel(pane, /^Changes since/);
  // The group opens when the user opens it (a click on a folded row opens it).
  await group.click();
  const open = async () => (await group.getAttribute('aria-expanded')) === 'true';
  for (let i = 0; i < 30 && !(await open()); i++) await page.waitForTimeout(100);
  if (!(await open())) await page.keyboard.press('ArrowRight');
  for (let i = 0; i < 30 && !(await open()); i++) await page.waitForTimeout(100);
  // Read from the group's row down.
  for (let i = 0; i < 10; i++) {
    const label = (await pane.locator('.monaco-list-row.focused .label-name').first().textContent()) ?? '';
    if (label.startsWith('Changes since')) break;
    await page.keyboard.press('ArrowUp');
  }
  const out: Array<{ label: string; description: string }> = [];
  let last = '';
  for (let i = 0; i < 2000; i++) {
    await page.keyboard.press('ArrowDown');
    const f = pane.locator('.monaco-list-row.focused').first();
    await f.waitFor({ timeout: 10_000 });
    const id = `${await f.getAttribute('data-index')}`;
    if (id === last) break; // the last row of the tree
    last = id;
    const level = Number(await f.getAttribute('aria-level'));
    if (level === 1) break;
    if (level !== 2) continue;
    out.push({
      label: ((await f.locator('.label-name').textContent()) ?? '').trim(),
      description: ((await f.locator('.label-description').textContent()) ?? '').trim(),
    });
  }
  return out;
}
