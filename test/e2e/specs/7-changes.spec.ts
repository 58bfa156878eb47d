// What changed between two stops, in real VS Code through cdt-gdb-adapter, on the x86-64-changes
// guest (test/guests/README.md): it stops once with its first tables, and after an NMI maps,
// unmaps, protects, upgrades, splits a 2 MiB block, moves a PA and switches CR3 to a copy with
// PCID 6. The Page Tables view's "Changes since last stop" group must list exactly what
// `ptview diff --json` finds between QEMU cores of the same two stops (and the guest's documented
// changes), with the TLB maintenance each one required; the changed rows carry their decoration
// badge, unchanged ones none; the map marks and filters the changed ranges; Pin / Unpin move the
// baseline.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Locator, Page } from '@playwright/test';
import { badge, changeRows, rowByLabel, showPageTables } from '../changesView';
import { REPO, clearMapFilters, errorNotifications, expect, gdbCommand, runCommand, shot, stopAllSessions, test, withGdbConfig } from '../fixture';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const harness = require(path.join(REPO, 'build/test/harness/qemu.js'));
// eslint-disable-next-line @typescript-eslint/no-var-requires
const oracles = require(path.join(REPO, 'build/test/harness/oracles.js'));
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { sizeLabel } = require(path.join(REPO, 'build/src/core/addr.js'));

test.describe.configure({ mode: 'serial' });

// The guest's own changes (test/guests/README.md, x86-64-changes), as the group's row labels.
const DOCUMENTED = [
  'CR3 0x200000 → 0x211000',
  '+ 0xffffffff80008000 4K',
  '− 0x12d000 4K',
  '~ 0xffffffff80006000 4K write',
  '~ 0x130000 4K write',
  '~ 0xffffffff80007000 4K pa',
  '~ 0xa00000 2M size',
  'split PD[5] 0xa00000 2M',
  'table 0x210000 PT allocated',
  'table 0x211000 PML4 allocated',
  'table 0x200000 PML4 freed',
];

type Rec = {
  kind: string; root: string; va?: string; end?: string; size?: number; fields?: string[]; what?: string; level?: string; index?: number; pa?: string;
  before?: { tablePa: string } | null; after?: { tablePa: string } | null; tlb?: Array<{ insn: string }>;
};

const adOnly = (r: Rec) => r.kind === 'changed' && r.fields!.length > 0 && r.fields!.every((f) => f === 'accessed' || f === 'dirty');

/** The label the view gives a `diff --json` record (changeModel.ts), and the TLB part of its description. */
function expectedRow(r: Rec): { label: string; tlb?: string } {
  const tlb = r.tlb === undefined ? undefined : r.tlb.length === 0 ? 'no TLB maintenance required' : `required: ${r.tlb[0].insn}`;
  switch (r.kind) {
    case 'root': return { label: `${r.root.toUpperCase()} ${r.before!.tablePa} → ${r.after!.tablePa}` };
    case 'table': return { label: `table ${r.pa} ${r.level} ${r.what}` };
    case 'entry': return { label: `${r.what} ${r.level}[${r.index}] ${r.va} ${sizeLabel(Number(BigInt(r.end!) - BigInt(r.va!)))}`, tlb };
    default: {
      const sign = r.kind === 'added' ? '+' : r.kind === 'removed' ? '−' : '~';
      return { label: `${sign} ${r.va} ${sizeLabel(r.size)}${r.kind === 'changed' ? ' ' + r.fields!.join(', ') : ''}`, tlb };
    }
  }
}

async function pauseAndWait(page: Page, pane: Locator, cr3: string) {
  await page.locator('.monaco-workbench').click({ position: { x: 5, y: 5 } });
  await runCommand(page, 'Debug: Pause');
  await expect(page.locator('.debug-toolbar .codicon-debug-continue')).toBeVisible({ timeout: 30_000 });
  await expect(rowByLabel(pane, `CR3 ${cr3}`)).toBeVisible({ timeout: 60_000 });
}

test('continuing over the guest\'s page-table edits: the view lists exactly ptview diff\'s changes with the TLB maintenance required, marks the changed rows, and the map filters them', async ({ world }) => {
  test.setTimeout(360_000);
  const { page } = world;
  await stopAllSessions(page);
  const run = await harness.bootGuest('x86-64-changes', { gdb: true });
  try {
    await withGdbConfig(world, 'changes guest', run.gdbPort, async () => {
      const pane = await showPageTables(page);

      // Stop 1: the first tables. Nothing to compare with yet: no Changes group.
      await pauseAndWait(page, pane, '0x200000');
      const core1 = await run.dump(path.join(run.dir, 'stop1.elf'));
      const efer = '0x' + oracles.parseInfoRegisters(await run.hmp('info registers')).get('efer').toString(16);
      await expect(pane.locator('.label-name', { hasText: /^Changes since/ })).toHaveCount(0);

      // Run the guest over its edits (the NMI ends its first stop), then stop 2.
      await runCommand(page, 'Debug: Continue');
      await expect(page.locator('.debug-toolbar .codicon-debug-pause')).toBeVisible({ timeout: 30_000 });
      await run.qmp('inject-nmi');
      await expect.poll(() => /^PTVIEW-STAGE2\r?$/m.test(run.serial()), { timeout: 60_000 }).toBe(true);
      await pauseAndWait(page, pane, '0x211000');
      const core2 = await run.dump(path.join(run.dir, 'stop2.elf'));

      // The oracle: ptview diff over QEMU's cores of the same two stops.
      const cli = spawnSync(process.execPath, [path.join(REPO, 'out', 'cli.js'), 'diff', '--core', core1, '--core', core2, '--reg', `EFER=${efer}`, '--json'], { encoding: 'utf8' });
      expect(cli.status, cli.stderr).toBe(0);
      const recs: Rec[] = cli.stdout.trim().split('\n').map((l) => JSON.parse(l));
      const want = recs.filter((r) => !adOnly(r)).map(expectedRow);
      expect(want.map((w) => w.label).sort()).toEqual([...DOCUMENTED].sort());

      const group = rowByLabel(pane, 'Changes since last stop');
      await expect(group).toBeVisible({ timeout: 60_000 });
      await expect(group.locator('.label-description')).not.toContainText('comparing', { timeout: 60_000 });
      const shown = await changeRows(pane);
      const main = shown.filter((r) => !r.label.startsWith('accessed/dirty only'));
      expect(main.map((r) => r.label).sort()).toEqual(want.map((w) => w.label).sort());
      for (const w of want) {
        const r = main.find((x) => x.label === w.label)!;
        if (w.tlb) expect(r.description, w.label).toContain(w.tlb);
        expect(r.description).not.toMatch(/\bdone\b/);
      }
      // The documented verdicts (Intel SDM vol. 3 §4.10.4): not present → present and a rights
      // upgrade need none; a removal, a lost W and a moved PA need INVLPG of that page.
      const desc = (label: string) => main.find((r) => r.label === label)!.description;
      expect(desc('+ 0xffffffff80008000 4K')).toMatch(/no TLB maintenance required$/);
      expect(desc('~ 0x130000 4K write')).toMatch(/no TLB maintenance required$/);
      expect(desc('− 0x12d000 4K')).toMatch(/required: invlpg \[0x12d000\]$/);
      expect(desc('~ 0xffffffff80006000 4K write')).toMatch(/required: invlpg \[0xffffffff80006000\]$/);
      expect(desc('~ 0xffffffff80007000 4K pa')).toMatch(/⇒ .*→ 0x107000 · required: invlpg \[0xffffffff80007000\]$/);
      expect(desc('CR3 0x200000 → 0x211000')).toBe('PCID 5 → 6');
      // The CPU's own A/D updates: as many as the CLI finds, apart.
      const ad = recs.filter(adOnly).length;
      if (ad) await expect(rowByLabel(pane, `accessed/dirty only (${ad})`)).toBeVisible();
      else expect(shown.some((r) => r.label.startsWith('accessed/dirty only'))).toBe(false);

      // A change's tooltip: before → after and the maintenance required.
      await rowByLabel(pane, '~ 0xffffffff80006000 4K write').hover();
      const tip = page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'TLB maintenance required' }).first();
      await expect(tip).toBeVisible({ timeout: 15_000 });
      await expect(tip).toContainText('invlpg [0xffffffff80006000]');
      await expect(tip).toContainText(/before: rw- --- .*→ 0x106000/);
      await expect(tip).toContainText(/after: r-- --- .*→ 0x106000/);
      await shot(page, 'changes-group');
      await page.mouse.move(900, 700);
      await page.keyboard.press('Escape');

      // Decorations: the root switched (M); clicking a change reveals its row, which carries the
      // change's badge; the ancestors show that changes lie below; an unchanged neighbour has none.
      expect(await badge(rowByLabel(pane, 'CR3 0x211000'))).toBe('M');
      await rowByLabel(pane, '+ 0xffffffff80008000 4K').click();
      const added = pane.locator('.monaco-list-row.selected').first();
      await expect(added.locator('.label-name')).toHaveText(/^0xffffffff80008000 4K /, { timeout: 30_000 });
      await expect.poll(() => badge(added)).toBe('A');
      // Decorated rows keep the tree's own glyphs (not the file icon theme's blank for our URIs).
      await expect(added.locator('.codicon-file-text')).toHaveCount(1);
      await expect(rowByLabel(pane, /^PML4\[511\] /).locator('.codicon-symbol-folder')).toHaveCount(1);
      await expect.poll(() => badge(rowByLabel(pane, /^PML4\[511\] /))).toBe('•');
      await expect.poll(() => badge(rowByLabel(pane, /^0xffffffff80006000 4K /))).toBe('M');
      await expect.poll(() => badge(rowByLabel(pane, /^0xffffffff80007000 4K /))).toBe('M');
      await expect(rowByLabel(pane, /^0xffffffff80004000 4K /)).toBeVisible();
      expect(await badge(rowByLabel(pane, /^0xffffffff80004000 4K /)), 'kernel rodata did not change').toBe('');
      await shot(page, 'changes-decorations');

      // The map: the changed ranges marked, and the filter keeps exactly them.
      await runCommand(page, 'ptview: Show Address-Space Map');
      const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
      await frame.locator('body[data-status="ready"]').waitFor({ timeout: 90_000 });
      await expect(frame.locator('body')).toHaveAttribute('data-changes', String(want.length), { timeout: 60_000 });
      await expect(frame.locator('#summary')).toContainText(`${want.length} changes since the last stop (#1)`);
      await expect(frame.locator('#summary')).toContainText('1 removed');
      await clearMapFilters(frame);
      await frame.locator('#f-changed').click();
      const visible = frame.locator('#spacer .row:not([hidden])');
      await expect(visible.first()).toBeVisible({ timeout: 20_000 });
      const n = await visible.count();
      expect(n).toBeGreaterThan(0);
      for (let i = 0; i < n; i++) await expect(visible.nth(i)).toHaveClass(/change-(added|changed)/);
      const vas = await visible.locator('span:nth-child(1)').allTextContents();
      for (const va of ['0xffffffff80008000', '0x130000', '0xa00000']) expect(vas, va).toContain(va);
      await expect(visible.filter({ has: frame.locator('span:nth-child(1)', { hasText: /^0xffffffff80008000$/ }) })).toHaveClass(/change-added/);
      await visible.filter({ has: frame.locator('span:nth-child(1)', { hasText: /^0x130000$/ }) }).click();
      await expect(frame.locator('#trace')).toContainText('changed since the last stop (#1): ~ 0x130000 4K write', { timeout: 30_000 });
      await frame.locator('#f-changed').click();
      await shot(page, 'changes-map');

      // Pin this stop: nothing changed since; a further stop compares with it; Unpin goes back.
      await runCommand(page, 'View: Show Run and Debug');
      await runCommand(page, 'ptview: Pin This Stop as Baseline');
      const pinned = rowByLabel(pane, 'Changes since pinned stop #2');
      await expect(pinned).toBeVisible({ timeout: 30_000 });
      await expect(pinned.locator('.label-description')).toContainText('this is the pinned stop');
      await runCommand(page, 'Debug: Continue');
      await expect(page.locator('.debug-toolbar .codicon-debug-pause')).toBeVisible({ timeout: 30_000 });
      await pauseAndWait(page, pane, '0x211000');
      await expect(pinned.locator('.label-description')).toHaveText('no changes', { timeout: 60_000 });
      await runCommand(page, 'ptview: Unpin Baseline');
      await expect(rowByLabel(pane, 'Changes since last stop').locator('.label-description')).toHaveText('no changes', { timeout: 60_000 });

      // A write during the stop (a user trying an edit from the Debug Console: 0x130000's PTE
      // cleared through its physical address), then Refresh: the group compares the re-read with
      // the previous stop, so it shows what the tree now shows.
      const tr = spawnSync(process.execPath, [path.join(REPO, 'out', 'cli.js'), 'translate', '--core', core2, '--reg', `EFER=${efer}`, '0x130000', '--json'], { encoding: 'utf8' });
      expect(tr.status, tr.stderr).toBe(0);
      const pte: string = JSON.parse(tr.stdout).trace.at(-1).entryPa;
      await gdbCommand(page, 'maintenance packet Qqemu.PhyMemMode:1', /received: "OK"/);
      await gdbCommand(page, `set {unsigned long long}${pte} = 0`);
      await gdbCommand(page, 'maintenance packet Qqemu.PhyMemMode:0');
      await runCommand(page, 'ptview: Refresh Page Tables');
      const removed = rowByLabel(pane, '− 0x130000 4K');
      await expect(removed).toBeVisible({ timeout: 60_000 });
      await expect(removed.locator('.label-description')).toContainText(/required: invlpg \[0x130000\]$/);
      await expect(rowByLabel(pane, 'Changes since last stop').locator('.label-description')).not.toHaveText('no changes');

      expect(await errorNotifications(page)).toEqual([]);
      await stopAllSessions(page);
    });
  } finally {
    await run.kill();
  }
});
