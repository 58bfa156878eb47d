// Post-mortem in the real workbench: QEMU dumps the stopped x86-64-4level guest (ELF and
// kdump-zlib), then a user opens the dumps as `ptview-core` sessions, with "ptview: Open Core
// File…" (file picker; a register the core lacks and ptview cannot assume is prompted for) and
// with a launch.json configuration. Expected
// values come from QEMU at the moment of the dump (info registers / info cpus / info tlb /
// gva2gpa / xp / info memory_size_summary) and from `ptview dump --core --json` (the CLI).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Page } from '@playwright/test';
import type { CoreOracle } from '../host/oracle';
import {
  REPO, errorNotifications, expandFocused, expandTo4KLeaf, expect, runCommand, runHostTests, shot, stopAllSessions, test, toolbar, treeRow, withCoreConfig,
} from '../fixture';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const oracles = require(path.join(REPO, 'build/test/harness/oracles.js'));
// eslint-disable-next-line @typescript-eslint/no-var-requires
const harness = require(path.join(REPO, 'build/test/harness/qemu.js'));

/** Each CPU's PC (RIP, or EIP outside long mode) and CR3 from `info registers -a`. */
function perCpu(text: string): { pc: string; cr3: string }[] {
  return text.split(/^CPU#\d+\s*$/m).slice(1).map((block) => ({
    pc: '0x' + BigInt('0x' + /\b[RE]IP=([0-9a-f]+)/i.exec(block)![1]).toString(16),
    cr3: '0x' + BigInt('0x' + /\bCR3=([0-9a-f]+)/i.exec(block)![1]).toString(16),
  }));
}

test.describe.configure({ mode: 'serial' });

const hexs = (v: bigint) => '0x' + v.toString(16);
let core: CoreOracle;

/** Ends every session and checks that none is left. */
async function stopAll(page: Page) {
  await stopAllSessions(page);
  await expect(toolbar(page)).toBeHidden();
}

async function showPane(page: Page, name: RegExp) {
  const header = page.locator('.pane-header', { hasText: name }).first();
  await header.waitFor();
  if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
  await expect(header).toHaveAttribute('aria-expanded', 'true');
  return page.locator('.pane', { has: header });
}

/** What a user sees of a stopped core session: Call Stack, Registers, Page Tables, map, Translate. */
async function checkCoreSession(page: Page, format: 'elf' | 'kdump-zlib', sessionName: string) {
  await toolbar(page).waitFor({ timeout: 60_000 });
  // The focused frame's page (the adapter's text about the CPU) opens in an editor, taking the
  // focus (a palette opened before would close): wait for it first.
  await expect(page.locator('.tabs-container .tab', { hasText: /· CPU 0/ }).first()).toBeVisible({ timeout: 30_000 });
  await page.waitForTimeout(500);
  await runCommand(page, 'View: Show Run and Debug');
  // Call Stack: one thread per CPU, paused, its frame at QEMU's RIP. (With one session of one
  // thread VS Code shows the frames alone, and the stop reason in the view's header.)
  const stack = await showPane(page, /^call stack/i);
  const frameRow = stack.locator('.monaco-list-row', { hasText: `CPU 0 @ ${core.rip}` }).first();
  await expect(frameRow).toBeVisible({ timeout: 30_000 });
  if (core.cpus > 1) {
    for (let cpu = 0; cpu < core.cpus; cpu++) await expect(stack.locator('.monaco-list-row', { hasText: new RegExp(`CPU ${cpu}\\b.*paused`, 'i') }).first()).toBeVisible();
  } else {
    await expect(page.locator('.pane-header', { hasText: /^call stack/i }).first()).toContainText(/core file/i);
    await expect(stack.locator('.monaco-list-row')).toHaveCount(1);
  }
  // Variables: the Registers scope of the focused frame, CR3 as QEMU's info registers.
  const vars = await showPane(page, /^variables/i);
  const scope = vars.locator('.monaco-list-row', { hasText: /^Registers/ }).first();
  await scope.waitFor({ timeout: 30_000 });
  if ((await scope.getAttribute('aria-expanded')) !== 'true') await scope.click();
  // The list is virtualized: scroll until the cr3 row is rendered.
  const cr3Row = vars.locator('.monaco-list-row', { hasText: /^cr3 =/ }).first();
  await vars.locator('.monaco-list-row', { hasText: /^[a-z][a-z0-9_]* =/ }).first().waitFor({ timeout: 20_000 });
  for (let i = 0; i < 40 && !(await cr3Row.isVisible()); i++) {
    const box = await vars.locator('.monaco-list').first().boundingBox();
    await page.mouse.move(box!.x + box!.width / 2, box!.y + box!.height / 2);
    await page.mouse.wheel(0, 100);
    await page.waitForTimeout(100);
  }
  await expect(cr3Row).toHaveText(new RegExp(`^cr3 =\\s*${core.cr3}$`));
  await shot(page, `core-${format}-stack-registers`);
  // Fold them again: room for the Page Tables view.
  for (const name of [/^variables/i, /^watch/i, /^call stack/i, /^breakpoints/i]) {
    const h = page.locator('.pane-header', { hasText: name }).first();
    // On the twistie: the header's middle may be under its actions.
    for (let i = 0; i < 3 && (await h.count()) && (await h.getAttribute('aria-expanded')) === 'true'; i++) {
      await h.click({ position: { x: 12, y: 10 }, force: true, timeout: 5000 }).catch(() => undefined);
      await page.waitForTimeout(200);
    }
  }
  // Page Tables: CR3's root, down to the 4 KiB leaf of 0x12c000, whose PA is QEMU's gva2gpa.
  const pane = await showPane(page, /page tables/i);
  const cr3 = hexs(BigInt(core.cr3) & ~0xfffn);
  const root = treeRow(pane, /^CR3 /);
  await expect(root.locator('.label-name')).toHaveText(`CR3 ${cr3}`, { timeout: 30_000 });
  await expect(root.locator('.label-description')).toContainText('core-file');
  // From the root down, whatever an earlier session left expanded (the view keeps it).
  await pane.locator('.pane-header').hover();
  await pane.locator('.pane-header .action-label.codicon-collapse-all').click();
  await expect(pane.locator('.monaco-list-row[aria-expanded="true"]')).toHaveCount(0);
  // Leaf rows: VA, size and rights in the label; range end and PA in the description.
  const leaf = await expandTo4KLeaf(pane, 0x12c000n);
  await expect(leaf.locator('.label-description')).toHaveText(new RegExp(`^–0x12cfff → ${core.gpa['0x12c000']} `));
  await expect(page.locator('.statusbar-item', { hasText: /CR3 0x/ }).first()).toHaveText(new RegExp(`^\\s*CR3 ${cr3} · 4-level · core-file\\s*$`));
  await shot(page, `core-${format}-tree`);
  // The map: every merged range of ptview dump --core --json.
  await runCommand(page, 'ptview: Show Address-Space Map');
  const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  await frame.locator('body[data-status="ready"]').waitFor({ timeout: 60_000 });
  const summary = frame.locator('#summary');
  await expect(summary).toContainText(/^\d+ of \d+ ranges/);
  const [shown, total] = /^(\d+) of (\d+)/.exec((await summary.textContent())!)!.slice(1).map(Number);
  expect(shown).toBe(total);
  expect(total).toBe(core.ranges[format].length);
  const first = await frame.locator('#spacer .row:not([hidden])').first().locator('span').allTextContents();
  expect([BigInt(first[0]), BigInt(first[1])]).toEqual([BigInt(core.ranges[format][0].va), BigInt(core.ranges[format][0].end)]);
  await shot(page, `core-${format}-map`);
  await page.keyboard.press('Control+w');
  // Translate from the palette: QEMU's gva2gpa.
  const va = Object.keys(core.gpa).find((k) => core.gpa[k] && BigInt(k) > 0x100000n)!;
  await runCommand(page, 'ptview: Translate Virtual Address…');
  const input = page.locator('.quick-input-widget input');
  await input.fill(va);
  await input.press('Enter');
  await expect(page.locator('.notifications-toasts .notification-list-item-message', { hasText: `${va} → ${core.gpa[va]}` }).first()).toBeVisible();
  expect(await errorNotifications(page)).toEqual([]);
}

test('QEMU dumps the stopped guest (ELF, kdump-zlib); its oracles are taken at that moment', async ({ world }) => {
  test.setTimeout(180_000);
  await world.hmp('stop');
  try {
    const regs = oracles.parseInfoRegisters(await world.hmp('info registers')) as Map<string, bigint>;
    const cpus = (await world.hmp('info cpus')).split('\n').filter((l) => /CPU #\d+/.test(l)).length;
    const ramSize = BigInt(/base memory:\s*(\d+)/.exec(await world.hmp('info memory_size_summary'))![1]);
    const tlb = oracles.parseInfoTlb(await world.hmp('info tlb')) as { va: bigint }[];
    const gpa: Record<string, string | null> = {};
    for (const va of [0x12c000n, 0x12d000n, 0x1000n, 0x0n, ...tlb.filter((_, i) => i % 7 === 0).slice(0, 40).map((t) => t.va)]) {
      const r = oracles.parseGva2gpa(await world.hmp(`gva2gpa ${hexs(va)}`)) as bigint | undefined;
      gpa[hexs(va)] = r === undefined ? null : hexs(r);
    }
    const xpPa = gpa['0x12c000']!;
    const xp = (await world.hmp(`xp /64xb ${xpPa}`)).split('\n').flatMap((l) => (l.split(':')[1] ?? '').trim().split(/\s+/).filter(Boolean)).map((b) => b.replace(/^0x/, '').padStart(2, '0')).join('');
    expect(xp.length).toBe(128);
    const files = { elf: path.join(world.workspace, 'guest.core'), 'kdump-zlib': path.join(world.workspace, 'guest.kdump') };
    for (const f of Object.values(files)) fs.rmSync(f, { force: true });
    await world.hmp(`dump-guest-memory ${files.elf}`);
    await world.hmp(`dump-guest-memory -z ${files['kdump-zlib']}`);
    const efer = hexs(regs.get('efer')!);
    const ranges = Object.fromEntries(Object.entries(files).map(([k, f]) => [k,
      execFileSync(process.execPath, [path.join(REPO, 'out/cli.js'), 'dump', '--core', f, '--reg', `EFER=${efer}`, '--json'], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'] })
        .split('\n').filter(Boolean).map((l) => JSON.parse(l)).map((r) => ({ va: r.va, end: r.end, pa: r.pa }))])) as CoreOracle['ranges'];
    core = {
      files, cpus, efer, cr3: hexs(regs.get('cr3')!), rip: hexs(regs.get('rip')!), gpa, xp: { va: '0x12c000', pa: xpPa, bytes: xp }, pastRam: hexs(ramSize + 0x1000n), ranges,
      mtimes: { elf: fs.statSync(files.elf).mtimeMs, 'kdump-zlib': fs.statSync(files['kdump-zlib']).mtimeMs },
      sizes: { elf: fs.statSync(files.elf).size, 'kdump-zlib': fs.statSync(files['kdump-zlib']).size },
    };
    // A second guest with two vCPUs (the second halted in the firmware, paging off): a core with
    // two CPUs of different states.
    const smp = await harness.bootGuest('x86-64-4level', { extraArgs: ['-smp', '2'] });
    try {
      await smp.stop();
      const cpus2 = perCpu(await smp.hmp('info registers -a'));
      expect(cpus2.length).toBe(2);
      const file = path.join(world.workspace, 'smp.core');
      fs.rmSync(file, { force: true });
      await smp.hmp(`dump-guest-memory ${file}`);
      core.smp = { file, cpus: cpus2 };
    } finally {
      await smp.kill();
    }
    fs.writeFileSync(path.join(world.dir, 'core-oracle.json'), JSON.stringify(core, null, 2));
    expect(cpus).toBeGreaterThanOrEqual(1);
    expect(ranges.elf.length).toBeGreaterThan(10);
    expect(ranges['kdump-zlib']).toEqual(ranges.elf);
    console.log(`two-CPU core: ${core.smp!.cpus.map((c, i) => `CPU ${i} PC ${c.pc} CR3 ${c.cr3}`).join(', ')}`);
    console.log(`core oracle: ${cpus} CPU(s), CR3 ${core.cr3}, RIP ${core.rip}, EFER ${efer}, ${Object.keys(gpa).length} gva2gpa probes, ${ranges.elf.length} merged ranges; ELF ${core.sizes.elf} bytes, kdump-zlib ${core.sizes['kdump-zlib']} bytes`);
  } finally {
    await world.hmp('cont');
  }
});

test('in-extension-host: launch-configured ptview-core sessions on both dumps (threads, registers, Translate, map, readMemory, continue refused)', async ({ world }) => {
  test.setTimeout(180_000);
  await runHostTests(world, 'core-index.js');
});

test('ptview: Open Core File… on the ELF dump: picker, no prompt (EFER assumed as Linux runs), then every view agrees with QEMU', async ({ world }) => {
  test.setTimeout(240_000);
  const { page } = world;
  await stopAll(page);
  await runCommand(page, 'ptview: Open Core File…');
  // code-server's open dialog is the simple file dialog (a quick input holding a path).
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(core.files.elf);
  await input.press('Enter');
  // The core carries no EFER (QEMU writes none): ptview assumes long mode and NXE=1 as Linux runs
  // (the status bar's tooltip says so), which is what this guest runs with, and asks nothing.
  expect(BigInt(core.efer) & 0xc00n, 'the guest runs with EFER.LMA and EFER.NXE').toBe(0xc00n);
  await checkCoreSession(page, 'elf', 'core: guest.core');
  await expect(page.locator('.quick-input-widget')).toBeHidden();
  // Continue and Step Over from the debug toolbar are refused with the adapter's reason (VS Code
  // posts it as a warning notification, no modal); the session stays, stopped, and still reads.
  await runCommand(page, 'Notifications: Clear All Notifications');
  const refusals = page.locator('.notifications-center .notification-list-item', { hasText: /core file cannot run/ });
  for (const button of ['.codicon-debug-continue', '.codicon-debug-step-over']) {
    await toolbar(page).locator(button).first().click();
    await runCommand(page, 'Notifications: Show Notifications');
    await expect(refusals.first()).toBeVisible({ timeout: 10_000 });
    await expect(refusals.first().locator('.codicon-error')).toHaveCount(0);
    await page.waitForTimeout(1000); // the views re-read the stop the refusal left: no error from them either
    expect(await errorNotifications(page)).toEqual([]);
    await runCommand(page, 'Notifications: Clear All Notifications');
  }
  await expect(page.locator('.monaco-dialog-box')).toHaveCount(0);
  await page.waitForTimeout(1000);
  await expect(toolbar(page)).toBeVisible();
  await expect(toolbar(page).locator('.codicon-debug-continue').first()).toBeVisible(); // still stopped: Continue, not Pause
  const pane = page.locator('.pane', { has: page.locator('.pane-header', { hasText: /page tables/i }) });
  await expect(treeRow(pane, /^CR3 /)).toBeVisible();
  await expect(treeRow(pane, /^0x12c000 4K /)).toBeVisible();
  await expect(pane.locator('.welcome-view-content')).toHaveCount(0);
  expect(await errorNotifications(page)).toEqual([]);
  await shot(page, 'core-elf-continue-refused');
  await stopAll(page);
  // The CPU page (served by the adapter) closes with the session.
  await expect(page.locator('.tabs-container .tab', { hasText: /guest\.core · CPU 0/ })).toHaveCount(0, { timeout: 10_000 });
  await runCommand(page, 'Notifications: Clear All Notifications');
});

test('a launch.json ptview-core configuration on the kdump-zlib dump: every view agrees with QEMU', async ({ world }) => {
  test.setTimeout(240_000);
  const { page } = world;
  await stopAll(page);
  await withCoreConfig(world, { name: 'Guest kdump', core: '${workspaceFolder}/guest.kdump', registers: { EFER: core.efer } }, async () => {
    await checkCoreSession(page, 'kdump-zlib', 'Guest kdump');
    await stopAll(page);
  });
});

test('a core with two CPUs: a thread per CPU at its own PC; selecting a CPU shows its own tables (none with paging off)', async ({ world }) => {
  test.setTimeout(240_000);
  const { page } = world;
  await stopAll(page);
  const smp = core.smp!;
  await withCoreConfig(world, { name: 'Two-CPU core', core: '${workspaceFolder}/smp.core', registers: { EFER: core.efer } }, async () => {
    await toolbar(page).waitFor({ timeout: 60_000 });
    await expect(page.locator('.tabs-container .tab', { hasText: /smp\.core · CPU 0/ }).first()).toBeVisible({ timeout: 30_000 });
    await page.waitForTimeout(500);
    await runCommand(page, 'View: Show Run and Debug');
    const stack = await showPane(page, /^call stack/i);
    // Two threads, both stopped (the one the stop names shows its description "core file", the other "Paused"); each one's frame at the PC info registers -a gives.
    const thread = (i: number) => stack.locator('.monaco-list-row', { hasText: new RegExp(`^\\s*CPU ${i} \\(pid`) }).first();
    for (let i = 0; i < 2; i++) await expect(thread(i)).toContainText(/core file|paused/i, { timeout: 30_000 });
    // Other threads' frames load when the thread is expanded.
    if ((await thread(1).getAttribute('aria-expanded')) !== 'true') {
      await thread(1).click();
      await page.keyboard.press('ArrowRight');
    }
    for (let i = 0; i < 2; i++) await expect(stack.locator('.monaco-list-row', { hasText: `CPU ${i} @ ${smp.cpus[i].pc}` }).first()).toBeVisible({ timeout: 20_000 });
    const pane = await showPane(page, /page tables/i);
    const root = treeRow(pane, /^CR3 /);
    // CPU 0 (selected: its frame): its tables.
    await stack.locator('.monaco-list-row', { hasText: `CPU 0 @ ${smp.cpus[0].pc}` }).first().click();
    await expect(root.locator('.label-name')).toHaveText(`CR3 ${hexs(BigInt(smp.cpus[0].cr3) & ~0xfffn)}`, { timeout: 30_000 });
    // CPU 1 (paging off per its CR0/CR3): the view says so, in the view, not as an error toast.
    await stack.locator('.monaco-list-row', { hasText: `CPU 1 @ ${smp.cpus[1].pc}` }).first().click();
    await expect(pane).toContainText(/paging is disabled/, { timeout: 30_000 });
    await expect(root).toHaveCount(0);
    await shot(page, 'core-smp-cpu1');
    // Back to CPU 0: its tables again.
    await stack.locator('.monaco-list-row', { hasText: `CPU 0 @ ${smp.cpus[0].pc}` }).first().click();
    await expect(root.locator('.label-name')).toHaveText(`CR3 ${hexs(BigInt(smp.cpus[0].cr3) & ~0xfffn)}`, { timeout: 30_000 });
    expect(await errorNotifications(page)).toEqual([]);
    await stopAll(page);
  });
});

test('a Linux vmcore from launch.json with no registers (arm64, QEMU -z): the root from VMCOREINFO is TTBR1_EL1 and the tree shows it', async ({ world }) => {
  test.setTimeout(300_000);
  const { page } = world;
  await stopAll(page);
  // Debian's arm64 kernel with -device vmcoreinfo (its qemu_fw_cfg hands QEMU the note); QEMU's
  // arm64 dump carries no TTBR, so VMCOREINFO is the only way to the root.
  const linux = require(path.join(REPO, 'build/test/harness/linux.js'));
  const { gdbRegisters } = require(path.join(REPO, 'build/test/integration/aarch64/gdbRegisters.js'));
  const file = path.join(world.workspace, 'linux.kdump');
  fs.rmSync(file, { force: true });
  const run = await linux.bootLinux('arm64-max', { gdb: true });
  let ttbr1 = 0n;
  try {
    expect(run.kernelInfo.fwCfgVmcoreinfo).toBe(true);
    // TTBR1_EL1's table is swapper_pg_dir at every stop (only its ASID bits change).
    ttbr1 = ((await gdbRegisters(run.gdbPort, ['TTBR1_EL1'])).get('ttbr1_el1') as bigint) & 0xfffffffffffen;
    await run.stop();
    await run.hmp(`dump-guest-memory -z ${file}`);
  } finally {
    await run.kill();
  }
  try {
    await withCoreConfig(world, { name: 'Linux vmcore', core: '${workspaceFolder}/linux.kdump' }, async () => {
      await toolbar(page).waitFor({ timeout: 60_000 });
      await expect(page.locator('.tabs-container .tab', { hasText: /linux\.kdump · CPU 0/ }).first()).toBeVisible({ timeout: 30_000 });
      await page.waitForTimeout(500);
      await runCommand(page, 'View: Show Run and Debug');
      const pane = await showPane(page, /page tables/i);
      const root = treeRow(pane, /^TTBR1_EL1 /);
      await expect(root.locator('.label-name')).toHaveText(`TTBR1_EL1 ${hexs(ttbr1)}`, { timeout: 30_000 });
      await expect(root.locator('.label-description')).toContainText('core-file');
      await pane.locator('.pane-header').hover();
      await pane.locator('.pane-header .action-label.codicon-collapse-all').click();
      await root.click();
      await expandFocused(pane, /^TTBR1_EL1 /);
      expect(await errorNotifications(page)).toEqual([]);
      await shot(page, 'core-linux-arm64-tree');
      await stopAll(page);
    });
  } finally {
    fs.rmSync(file, { force: true });
  }
});
