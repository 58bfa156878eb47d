// Driving the Page Tables view's "Changes since last stop" group in the workbench (specs 7 and 8).
import { Locator, Page } from '@playwright/test';
import { escapeRe, runCommand } from './fixture';

/** Run and Debug with the Page Tables view open and the other views folded. */
export async function showPageTables(page: Page): Promise<Locator> {
  await runCommand(page, 'View: Show Run and Debug');
  const header = page.locator('.pane-header', { hasText: /page tables/i });
  await header.waitFor();
  for (const name of [/^variables/i, /^watch/i, /^call stack/i, /^breakpoints/i]) {
    const h = page.locator('.pane-header', { hasText: name }).first();
    if ((await h.count()) && (await h.getAttribute('aria-expanded')) === 'true') await h.click({ force: true, timeout: 5000 }).catch(() => undefined);
  }
  if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
  return page.locator('.pane', { has: header });
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

/** Label and description of every row directly under the Changes group (it opens expanded). */
export async function changeRows(pane: Locator): Promise<Array<{ label: string; description: string }>> {
  const rows = pane.locator('.monaco-list-row');
  const out: Array<{ label: string; description: string }> = [];
  let inGroup = false;
  for (let i = 0; i < (await rows.count()); i++) {
    const r = rows.nth(i);
    const label = ((await r.locator('.label-name').textContent()) ?? '').trim();
    const level = Number(await r.getAttribute('aria-level'));
    if (level === 1) {
      inGroup = label.startsWith('Changes since');
      continue;
    }
    if (inGroup && level === 2) out.push({ label, description: ((await r.locator('.label-description').textContent()) ?? '').trim() });
  }
  return out;
}
