#!/usr/bin/env node
// End-to-end tests of the extension in a real VS Code: installs what they need (Debian chromium
// and ripgrep when root, code-server 4.100.3 + Playwright in test/e2e, offline apart from the npm
// registry), packages the .vsix, builds the in-extension-host tests, runs Playwright, and prints
// "e2e: N passed, M failed". See docs/e2e.md for what each step does and why.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..');
const E2E = path.join(REPO, 'test', 'e2e');
const CODE_SERVER = path.join(E2E, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
// From code-server 4.100.3's lib/vscode/npm-shrinkwrap.json (@vscode/ripgrep) and its postinstall.
const RG_PKG_VERSION = '1.15.11';
const RG_ASSET = 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz';

function fail(msg) {
  console.error(`e2e: ${msg}`);
  process.exit(2);
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: REPO, ...opts });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
}

function systemPackages() {
  const missing = [['chromium', 'chromium'], ['rg', 'ripgrep'], ['gdb', 'gdb']].filter(([c]) => !have(c)).map(([, p]) => p);
  if (missing.length === 0) return;
  if (process.getuid && process.getuid() === 0 && have('apt-get')) {
    run('apt-get', ['update']);
    run('apt-get', ['install', '-y', '--no-install-recommends', ...missing]);
  } else {
    fail(`missing Debian packages: run  sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`);
  }
}

function e2eInstall() {
  const ok = () => fs.existsSync(CODE_SERVER) &&
    fs.existsSync(path.join(E2E, 'node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg')) &&
    fs.existsSync(path.join(E2E, 'node_modules/code-server/lib/vscode/node_modules/node-pty/build/Release/pty.node')) &&
    fs.existsSync(path.join(E2E, 'node_modules/@playwright/test'));
  if (ok()) return;
  // @vscode/ripgrep downloads rg from GitHub unless its cache holds the asset: seed it with Debian's rg.
  const cache = path.join(os.tmpdir(), `vscode-ripgrep-cache-${RG_PKG_VERSION}`);
  fs.mkdirSync(cache, { recursive: true });
  if (!fs.existsSync(path.join(cache, RG_ASSET))) {
    const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'rg-'));
    fs.copyFileSync(execFileSync('sh', ['-c', 'command -v rg']).toString().trim(), path.join(stage, 'rg'));
    fs.chmodSync(path.join(stage, 'rg'), 0o755);
    run('tar', ['czf', path.join(cache, RG_ASSET), '-C', stage, 'rg']);
  }
  console.log('e2e: installing code-server 4.100.3 and Playwright into test/e2e (about 90 s)...');
  const env = { ...process.env, npm_config_unsafe_perm: 'true', npm_config_yes: 'true', npm_config_nodedir: '/usr' };
  run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: E2E, env });
  if (!ok()) fail('code-server installed incompletely (ripgrep or node-pty missing); see the npm output above');
}

function main() {
  if (process.platform !== 'linux') fail('the e2e suite runs on Linux (code-server + Debian chromium)');
  systemPackages();
  e2eInstall();
  const t0 = Date.now();
  const argv = process.argv.slice(2);
  // npm test has just compiled out/ and build/ (the harness the fixture uses).
  const built = argv.includes('--built');
  if (!built) {
    run('npx', ['tsc', '-p', '.']);
    run('npx', ['tsc', '-p', 'tsconfig.test.json']);
  }
  run('npm', ['run', 'package', '--silent']);
  run('npx', ['tsc', '-p', 'test/e2e/tsconfig.host.json']);
  fs.mkdirSync(path.join(REPO, 'build', 'e2e'), { recursive: true });
  run('npx', ['vsce', 'package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '-o', path.join(REPO, 'build', 'e2e', 'gdbtarget-e2e.vsix')], { cwd: path.join(E2E, 'helper-ext') });
  const results = path.join(REPO, 'test-artifacts', 'e2e-results.json');
  fs.mkdirSync(path.dirname(results), { recursive: true });
  const args = ['playwright', 'test', '--reporter=list,json', ...argv.filter((a) => a !== '--built')];
  const r = spawnSync('npx', args, { cwd: E2E, stdio: 'inherit', env: { ...process.env, PLAYWRIGHT_JSON_OUTPUT_NAME: results, PTVIEW_VSIX: path.join(REPO, 'ptview.vsix') } });
  let line = 'e2e: no results';
  try {
    const s = JSON.parse(fs.readFileSync(results, 'utf8')).stats;
    line = `e2e: ${s.expected + s.flaky} passed, ${s.unexpected} failed (${((Date.now() - t0) / 1000).toFixed(0)} s)`;
  } catch {
    /* playwright did not write results */
  }
  console.log(line);
  process.exit(r.status ?? 1);
}

main();
