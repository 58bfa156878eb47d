// The worker-scoped world of the e2e tests: one QEMU test guest with its gdbstub, its oracles
// (QEMU's own info mem / info tlb / gva2gpa / info registers), a throw-away code-server with the
// packaged .vsix and the gdbtarget launcher installed, and one page on it.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FrameLocator, Locator, Page, test as base, expect } from '@playwright/test';
import type { Oracle } from './host/oracle';

export const REPO = path.resolve(__dirname, '../..');
export const ARTIFACTS = path.join(REPO, 'test-artifacts');
const CODE_SERVER = path.join(__dirname, 'node_modules/code-server/out/node/entry.js');
const VSIX = process.env.PTVIEW_VSIX ?? path.join(REPO, 'ptview.vsix');
// The gdbtarget launcher, packaged by scripts/e2e.js (a folder copy is ignored once
// --install-extension has written extensions.json).
const HELPER_VSIX = process.env.PTVIEW_E2E_HELPER_VSIX ?? path.join(REPO, 'build', 'e2e', 'gdbtarget-e2e.vsix');
export const GUEST = 'x86-64-4level';

// The harness is compiled by the main test build (tsc -p tsconfig.test.json).
// eslint-disable-next-line @typescript-eslint/no-var-requires
const harness = require(path.join(REPO, 'build/test/harness/qemu.js'));
// eslint-disable-next-line @typescript-eslint/no-var-requires
const oracles = require(path.join(REPO, 'build/test/harness/oracles.js'));

export type { Oracle };

export interface World {
  page: Page;
  url: string;
  workspace: string;
  dir: string;
  oracle: Oracle;
  hmp(cmd: string): Promise<string>;
  /** Opens a fresh page (own extension host) with extra payload entries; for the host tests. */
  openPayloadPage(payload: [string, string][], expose: Record<string, (...a: any[]) => unknown>): Promise<Page>;
}

function settings(): Record<string, unknown> {
  return {
    'workbench.startupEditor': 'none', 'telemetry.telemetryLevel': 'off', 'security.workspace.trust.enabled': false,
    'extensions.autoCheckUpdates': false, 'extensions.autoUpdate': false, 'update.mode': 'none', 'workbench.tips.enabled': false,
    'debug.openDebug': 'openOnDebugBreak', 'window.commandCenter': false, 'debug.internalConsoleOptions': 'neverOpen',
    // code-server's extension host is a remote one: it looks for ports to forward by listing every
    // process's sockets and command line (`ls -l /proc/*/fd`, `ps`) every few seconds, tens of ms
    // of the host's CPU each time on a busy machine, counted in the per-stop figures. A desktop
    // VS Code's local extension host does not.
    'remote.autoForwardPorts': false,

  };
}

async function waitHealthy(url: string, proc: ChildProcess, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (proc.exitCode !== null) throw new Error(`code-server exited with ${proc.exitCode}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`code-server did not answer ${url}/healthz within ${ms} ms`);
}

const hexs = (v: bigint) => '0x' + v.toString(16);

/** A launch.json configuration: its name, type, request and the debugger's own attributes. */
export type LaunchConfig = { name: string; type: string; request: string } & Record<string, unknown>;

/** A gdbtarget (cdt-gdb-adapter) configuration attaching GDB to a QEMU gdbstub on this host's `port`. */
export function gdbConfig(name: string, port: number): LaunchConfig {
  return { name, type: 'gdbtarget', request: 'attach', gdb: 'gdb', target: { type: 'remote', parameters: [`127.0.0.1:${port}`] } };
}

export const test = base.extend<{ world: World }, { worldW: World }>({
  worldW: [async ({ browser }, use, info) => {
    if (!fs.existsSync(VSIX)) throw new Error(`${VSIX} is missing: run npm run package first`);
    if (!fs.existsSync(CODE_SERVER)) throw new Error('code-server is not installed in test/e2e: run node scripts/e2e.js');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptview-e2e-'));
    const guest = await harness.bootGuest(GUEST, { gdb: true });
    let server: ChildProcess | undefined;
    try {
      const kernel = await harness.buildGuest(GUEST);
      const mem = oracles.parseInfoMemX86(await guest.hmp('info mem')) as { start: bigint; end: bigint; user: boolean; write: boolean }[];
      const tlb = oracles.parseInfoTlb(await guest.hmp('info tlb')) as { va: bigint; frame: bigint; nx: boolean; user: boolean; write: boolean; pse: boolean }[];
      const regs = oracles.parseInfoRegisters(await guest.hmp('info registers')) as Map<string, bigint>;
      const gpa: Record<string, string | null> = {};
      for (const va of [0x12c000n, 0x12d000n, 0x1000n, 0x0n, ...tlb.slice(0, 40).map((t) => t.va)]) {
        const r = oracles.parseGva2gpa(await guest.hmp(`gva2gpa ${hexs(va)}`)) as bigint | undefined;
        gpa[hexs(va)] = r === undefined ? null : hexs(r);
      }
      const oracle: Oracle = {
        port: guest.gdbPort, kernel, cr3: hexs(regs.get('cr3')!),
        mem: mem.map((m) => ({ start: hexs(m.start), end: hexs(m.end), user: m.user, write: m.write })),
        tlb: tlb.map((t) => ({ va: hexs(t.va), frame: hexs(t.frame), nx: t.nx, user: t.user, write: t.write, pse: t.pse })),
        gpa,
      };
      const workspace = path.join(dir, 'ws');
      fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
      fs.writeFileSync(path.join(workspace, '.vscode', 'launch.json'), JSON.stringify({
        version: '0.2.0', configurations: [gdbConfig('QEMU x86-64 guest', guest.gdbPort)],
      }, null, 2));
      fs.writeFileSync(path.join(workspace, 'notes.txt'), `Kernel page under test:\n  user_data = 0x12c000\n  table root = ${oracle.cr3}\n`);
      const oracleFile = path.join(dir, 'oracle.json');
      fs.writeFileSync(oracleFile, JSON.stringify(oracle, null, 2));

      const ud = path.join(dir, 'ud');
      const exts = path.join(dir, 'exts');
      fs.mkdirSync(path.join(ud, 'User'), { recursive: true });
      fs.writeFileSync(path.join(ud, 'User', 'settings.json'), JSON.stringify(settings(), null, 2));
      fs.writeFileSync(path.join(dir, 'config.yaml'), 'auth: none\n');
      const env = {
        ...process.env, XDG_DATA_HOME: path.join(dir, 'xdg-data'), XDG_CONFIG_HOME: path.join(dir, 'xdg-config'), EXTENSIONS_GALLERY: '{}',
        PTVIEW_E2E_CDT_ADAPTER: path.join(REPO, 'node_modules/cdt-gdb-adapter/dist/debugTargetAdapter.js'),
        PTVIEW_E2E_ORACLE: oracleFile,
      };
      const common = ['--config', path.join(dir, 'config.yaml'), '--user-data-dir', ud, '--extensions-dir', exts];
      execFileSync(process.execPath, [CODE_SERVER, ...common, '--install-extension', VSIX, '--install-extension', HELPER_VSIX], { env, stdio: 'pipe' });

      // Another checkout's suite may run beside this one: PTVIEW_E2E_PORT_BASE moves the ports.
      const port = (Number(process.env.PTVIEW_E2E_PORT_BASE) || 9100) + info.workerIndex;
      const url = `http://127.0.0.1:${port}`;
      server = spawn(process.execPath, [CODE_SERVER, ...common, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry',
        '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', '--ignore-last-opened', workspace],
      { env, detached: true, stdio: ['ignore', fs.openSync(path.join(dir, 'code-server.log'), 'a'), fs.openSync(path.join(dir, 'code-server.log'), 'a')] });
      await waitHealthy(url, server);
      const page = await browser.newPage();
      await page.goto(`${url}/?folder=${encodeURIComponent(workspace)}`);
      await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
      const world: World = {
        page, url, workspace, dir, oracle, hmp: (c) => guest.hmp(c),
        async openPayloadPage(payload, expose) {
          const p = await browser.newPage();
          for (const [name, fn] of Object.entries(expose)) await p.exposeFunction(name, fn);
          const full = payload.map(([k, v]) => [k, v]);
          await p.goto(`${url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(full))}`);
          return p;
        },
      };
      await use(world);
      await page.close();
    } finally {
      if (server?.pid) {
        try {
          process.kill(-server.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        await new Promise((r) => setTimeout(r, 500));
        try {
          process.kill(-server.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await guest.kill();
      if (process.env.PTVIEW_E2E_KEEP) console.log(`kept ${dir}`);
      else fs.rmSync(dir, { recursive: true, force: true });
    }
  }, { scope: 'worker', timeout: 180_000 }],
  world: async ({ worldW }, use) => use(worldW),
});

export { expect };

// ---- UI helpers (selectors for Code 1.100, see shared/notes/vscode-e2e.md) -----------------

/** Runs a palette command by its exact title, retrying until the extension registered it. */
export async function runCommand(page: Page, title: string, tries = 12): Promise<void> {
  for (let i = 0; i < tries; i++) {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    try {
      await input.waitFor({ timeout: 5000 });
      // An editor opening meanwhile (e.g. a debug stop's source) takes the focus and closes the palette.
      await input.fill('>' + title, { timeout: 5000 });
    } catch {
      continue;
    }
    const row = page.locator('.quick-input-list .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${escapeRe(title)}$`) }) });
    try {
      await row.first().waitFor({ timeout: 2500 });
      await row.first().click();
      return;
    } catch {
      await page.keyboard.press('Escape');
    }
  }
  throw new Error(`command '${title}' never appeared in the palette`);
}

/**
 * Picks an item of the open context menu with the mouse. VS Code's menu items listen for the
 * mouse-up only from 100 ms after the menu is drawn (BaseMenuActionViewItem in
 * src/vs/base/browser/ui/menu/menu.ts: the release of the right-click that opened the menu must
 * not pick an item), later still when the workbench is busy; a click before that does nothing and
 * the menu stays open. So: click until the menu closes (the item ran, or it failed and said so).
 */
export async function clickMenuItem(page: Page, label: string): Promise<void> {
  const item = page.locator('.context-view .action-label', { hasText: label });
  await item.waitFor({ timeout: 15_000 });
  await expect(async () => {
    if (await item.isVisible()) await item.click({ timeout: 5_000 });
    await expect(item).toBeHidden({ timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
}

/** A GDB command typed into the Debug Console (cdt-gdb-adapter runs `>`-prefixed input as CLI). */
export async function gdbCommand(page: Page, cmd: string, expectOutput?: RegExp) {
  // The view-focus command's category is the view's container.
  await runCommand(page, 'Debug Console: Focus on Debug Console View', 3).catch(() => runCommand(page, 'View: Focus on Debug Console View', 3));
  const input = page.locator('.repl-input-wrapper textarea').first();
  await input.waitFor({ timeout: 15_000 });
  await input.focus();
  await page.keyboard.type(`>${cmd}`);
  await page.keyboard.press('Enter');
  if (expectOutput) await expect(page.locator('.repl .monaco-list-rows')).toContainText(expectOutput, { timeout: 30_000 });
}

export function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export async function shot(page: Page, name: string): Promise<string> {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** The debug toolbar: visible while a debug session exists. */
export function toolbar(page: Page): Locator {
  return page.locator('.debug-toolbar');
}

/** Ends every debug session (Shift+F5 is Stop or, for attach sessions, Disconnect). */
export async function stopAllSessions(page: Page): Promise<void> {
  for (let i = 0; i < 4 && (await toolbar(page).isVisible()); i++) {
    await page.locator('.monaco-workbench').click({ position: { x: 5, y: 5 } }).catch(() => undefined);
    await page.keyboard.press('Shift+F5');
    await toolbar(page).waitFor({ state: 'hidden', timeout: 15_000 }).catch(() => undefined);
  }
}

/** Shows Run and Debug with the Page Tables view expanded and returns its pane; `foldOthers`
 * folds Variables, Watch, Call Stack and Breakpoints to give the tree room. */
export async function showView(page: Page, opts: { foldOthers?: boolean } = {}): Promise<Locator> {
  await runCommand(page, 'View: Show Run and Debug');
  const header = page.locator('.pane-header', { hasText: /page tables/i });
  await header.waitFor();
  for (const name of opts.foldOthers ? [/^variables/i, /^watch/i, /^call stack/i, /^breakpoints/i] : []) {
    const h = page.locator('.pane-header', { hasText: name }).first();
    if ((await h.count()) && (await h.getAttribute('aria-expanded')) === 'true') await h.click({ force: true, timeout: 5000 }).catch(() => undefined);
  }
  if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
  return page.locator('.pane', { has: header });
}

/** The first tree row of a pane whose label matches. */
export function treeRow(pane: Locator, label: RegExp): Locator {
  return pane.locator('.monaco-list-row').filter({ has: pane.page().locator('.label-name', { hasText: label }) }).first();
}

/** What a row's label must pass: a RegExp, or any test of the label's text. */
export type LabelTest = Pick<RegExp, 'test'>;

/** Moves the tree's keyboard focus down until the focused row's label matches (the list scrolls itself). */
export async function focusDown(pane: Locator, label: LabelTest, max = 400): Promise<Locator> {
  const page = pane.page();
  for (let i = 0; i < max; i++) {
    const f = pane.locator('.monaco-list-row.focused').first();
    const text = (await f.count()) ? await f.locator('.label-name').textContent() : null;
    if (text && label.test(text)) return f;
    await page.keyboard.press('ArrowDown');
  }
  throw new Error(`no row ${label} below the focus`);
}

/** Focuses the row below the focus whose label matches, expands it and waits for its children. */
export async function expandFocused(pane: Locator, label: LabelTest): Promise<void> {
  const row = await focusDown(pane, label);
  if ((await row.getAttribute('aria-expanded')) !== 'true') await pane.page().keyboard.press('ArrowRight');
  const focused = pane.locator('.monaco-list-row.focused').first();
  await expect(focused).toHaveAttribute('aria-expanded', 'true');
  // Children load asynchronously: an ArrowDown before they are rendered would pass them by.
  const level = Number(await focused.getAttribute('aria-level'));
  await pane.locator(`.monaco-list-row[aria-level="${level + 1}"]`).first().waitFor({ timeout: 20_000 });
}

/**
 * Expands the Page Tables tree from its CR3 root down to the 4 KiB leaf of `va` under 4-level
 * paging and returns the leaf's row, focused. The entries on the way are those VA bits 47:39,
 * 38:30, 29:21 and 20:12 index (Intel SDM vol. 3 §4.5.4); a PT's entries sit in chunks of 100
 * (by present entries, labelled "[first–last]"), and the chunk holding the PT index is opened.
 */
export async function expandTo4KLeaf(pane: Locator, va: bigint): Promise<Locator> {
  const index = (shift: bigint) => Number((va >> shift) & 511n);
  await treeRow(pane, /^CR3 /).click();
  await expandFocused(pane, /^CR3 /);
  await expandFocused(pane, new RegExp(`^PML4\\[${index(39n)}\\] `));
  await expandFocused(pane, new RegExp(`^PDPT\\[${index(30n)}\\] `));
  await expandFocused(pane, new RegExp(`^PD\\[${index(21n)}\\] `));
  const pt = index(12n);
  await expandFocused(pane, {
    test: (text: string) => {
      const m = /^\[(\d+)–(\d+)\]$/.exec(text);
      return m !== null && Number(m[1]) <= pt && pt <= Number(m[2]);
    },
    toString: () => `the chunk holding PT[${pt}]`,
  } as LabelTest);
  return focusDown(pane, new RegExp(`^0x${va.toString(16)} 4K `));
}

/**
 * Runs a compiled mocha entry of test/e2e/host (e.g. `index.js`) inside the remote extension host
 * of a page of its own (extensionTestsPath payload, with the helper extension as the development
 * extension) and expects its run to pass; its log is printed either way.
 */
export async function runHostTests(world: World, entry: string, timeoutMs = 170_000): Promise<void> {
  const logs: string[] = [];
  let exit!: (code: number) => void;
  const exited = new Promise<number>((r) => (exit = r));
  const remote = (p: string) => `vscode-remote://127.0.0.1:${new URL(world.url).port}${p}`;
  const page = await world.openPayloadPage(
    [
      ['extensionDevelopmentPath', remote(path.join(__dirname, 'helper-ext'))],
      ['extensionTestsPath', remote(path.join(__dirname, 'host', 'out', entry))],
    ],
    {
      codeAutomationLog: (_type: string, args: unknown[]) => logs.push(args.map(String).join(' ')),
      codeAutomationExit: (code: number) => exit(code),
    },
  );
  const code = await Promise.race([exited, new Promise<number>((r) => setTimeout(() => r(-1), timeoutMs))]);
  console.log(logs.join('\n'));
  await page.close();
  expect(code, logs.join('\n')).toBe(0);
}

/** Texts of every error notification shown so far (toasts and the notification center). */
export async function errorNotifications(page: Page): Promise<string[]> {
  const items = page.locator('.notifications-toasts .notification-list-item, .notifications-center .notification-list-item');
  const out: string[] = [];
  for (let i = 0; i < (await items.count()); i++) {
    const it = items.nth(i);
    if (await it.locator('.codicon-error').count()) out.push(((await it.locator('.notification-list-item-message').textContent()) ?? '').trim());
  }
  return out;
}

/** Starts the launch configuration `name` (retrying while VS Code has not yet read a launch.json
 * written a moment ago) and waits for the debug toolbar. */
export async function startConfiguration(page: Page, name: string): Promise<void> {
  for (let i = 0; ; i++) {
    await runCommand(page, 'Debug: Select and Start Debugging');
    const pick = page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first();
    try {
      await pick.waitFor({ timeout: 5000 });
      await pick.click();
      break;
    } catch (e) {
      await page.keyboard.press('Escape');
      if (i >= 5) throw e;
    }
  }
  await toolbar(page).waitFor({ timeout: 60_000 });
}

/**
 * Runs `body` with `config` in the workspace's launch.json (in place of one of the same name) and
 * started; launch.json is restored afterwards, so no configuration outlives its guest.
 */
export async function withLaunchConfig(world: Pick<World, 'page' | 'workspace'>, config: LaunchConfig, body: () => Promise<void>): Promise<void> {
  const launch = path.join(world.workspace, '.vscode', 'launch.json');
  const saved = fs.readFileSync(launch, 'utf8');
  try {
    const cfg = JSON.parse(saved) as { configurations: LaunchConfig[] };
    cfg.configurations = [...cfg.configurations.filter((c) => c.name !== config.name), config];
    fs.writeFileSync(launch, JSON.stringify(cfg, null, 2));
    await startConfiguration(world.page, config.name);
    await body();
  } finally {
    fs.writeFileSync(launch, saved);
  }
}

/** withLaunchConfig with a gdbtarget configuration `name` on the gdbstub at `port` (a guest of the test's own). */
export function withGdbConfig(world: Pick<World, 'page' | 'workspace'>, name: string, port: number, body: () => Promise<void>): Promise<void> {
  return withLaunchConfig(world, gdbConfig(name, port), body);
}

/** withLaunchConfig with a ptview-core configuration (launch: a core file, optional registers). */
export function withCoreConfig(world: Pick<World, 'page' | 'workspace'>, config: { name: string; core: string; registers?: Record<string, string> }, body: () => Promise<void>): Promise<void> {
  return withLaunchConfig(world, { type: 'ptview-core', request: 'launch', ...config }, body);
}

/**
 * Turns every map filter off. The map keeps its filters in the webview's state (as a user
 * expects across stops and reloads), so a spec that filters starts from none: the workbench,
 * and with it the map, is shared by the specs of a worker.
 */
export async function clearMapFilters(frame: FrameLocator): Promise<void> {
  for (const id of ['f-w', 'f-x', 'f-u', 'f-wx', 'f-findings', 'f-changed']) {
    const box = frame.locator(`#${id}`);
    const checked = () => box.evaluate((e) => (e as unknown as { checked?: boolean }).checked === true);
    if (await checked()) await box.click();
    await expect.poll(checked).toBe(false);
  }
  for (const id of ['f-va', 'f-pa', 'f-text']) await frame.locator(`#${id} input`).fill('');
}
