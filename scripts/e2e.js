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

// What each native module of the e2e tree needs from Debian to install offline. The tree is
// test/e2e/package-lock.json plus what code-server's postinstall installs from its own
// lib/vscode/npm-shrinkwrap.json and lib/vscode/extensions/npm-shrinkwrap.json (CODE_SERVER_NATIVE).
// node-gyp builds need a C++ toolchain, make and python3; prebuilt downloads fail here (only the
// npm registry is reachable), so modules that try one first fall back to a build.
const TOOLCHAIN = ['build-essential', 'python3'];
const NATIVE_MODULES = {
  argon2: TOOLCHAIN, // node-pre-gyp install --fallback-to-build
  'code-server': [], // its postinstall is an `npm install` of CODE_SERVER_NATIVE's trees
  kerberos: [...TOOLCHAIN, 'libkrb5-dev'], // includes gssapi/gssapi.h
  'node-pty': TOOLCHAIN,
  '@vscode/spdlog': TOOLCHAIN,
  '@vscode/deviceid': TOOLCHAIN,
  'native-watchdog': TOOLCHAIN,
  // binding.gyp with Windows-only sources: node-gyp still runs (and needs the toolchain).
  '@vscode/windows-process-tree': TOOLCHAIN,
  '@vscode/windows-registry': TOOLCHAIN,
  '@vscode/windows-ca-certs': [], // optional, os: win32 (never installed here)
  '@parcel/watcher': [], // prebuilt @parcel/watcher-linux-x64-glibc from npm
  esbuild: [], // prebuilt @esbuild/linux-x64 from npm
  '@vscode/ripgrep': ['ripgrep'], // its download cache is seeded with Debian's rg (e2eInstall)
};
// Packages with install scripts in code-server's nested shrinkwraps, per code-server version
// (checked after each install by checkNativeModules; bumping code-server needs a new row).
const CODE_SERVER_NATIVE = {
  '4.100.3': [
    '@parcel/watcher', '@vscode/deviceid', '@vscode/ripgrep', '@vscode/spdlog', '@vscode/windows-ca-certs',
    '@vscode/windows-process-tree', '@vscode/windows-registry', 'kerberos', 'native-watchdog', 'node-pty', 'esbuild',
  ],
};
// Debian packages the suite itself runs: the browser, code-server's search, the debugger.
const RUNTIME = ['chromium', 'ripgrep', 'gdb'];

/** Every Debian package the e2e suite needs, sorted. */
function debianPackages() {
  return [...new Set([...RUNTIME, ...Object.values(NATIVE_MODULES).flat()])].sort();
}

/** Names of the packages with install scripts in a lockfile / shrinkwrap object. */
function installScriptPackages(lock) {
  return Object.entries(lock.packages ?? {})
    .filter(([k, v]) => k && (v.hasInstallScript || v.gypfile))
    .map(([k]) => k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length));
}

/** Those of `names` that NATIVE_MODULES has no row for. */
function uncovered(names) {
  return names.filter((n) => !Object.prototype.hasOwnProperty.call(NATIVE_MODULES, n));
}

/** Native modules of the installed code-server that CODE_SERVER_NATIVE does not list. */
function checkNativeModules() {
  const cs = path.join(E2E, 'node_modules', 'code-server');
  const version = JSON.parse(fs.readFileSync(path.join(cs, 'package.json'), 'utf8')).version;
  const known = CODE_SERVER_NATIVE[version];
  if (!known) return [`code-server ${version} (no CODE_SERVER_NATIVE row)`];
  const found = [];
  for (const f of ['lib/vscode/npm-shrinkwrap.json', 'lib/vscode/extensions/npm-shrinkwrap.json']) {
    const p = path.join(cs, f);
    if (fs.existsSync(p)) found.push(...installScriptPackages(JSON.parse(fs.readFileSync(p, 'utf8'))));
  }
  return [...new Set(found)].filter((n) => !known.includes(n) || uncovered([n]).length > 0);
}

function systemPackages() {
  const pkgs = debianPackages();
  const q = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\n', ...pkgs], { encoding: 'utf8' });
  const installed = new Set(
    (q.stdout || '').split('\n').filter((l) => / install ok installed$/.test(l)).map((l) => l.split(' ')[0]),
  );
  const missing = pkgs.filter((p) => !installed.has(p));
  if (missing.length === 0) return;
  if (process.getuid && process.getuid() === 0 && have('apt-get')) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    run('apt-get', ['update'], { env });
    run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env });
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
  const unknown = checkNativeModules();
  if (unknown.length) fail(`native modules with no Debian build dependencies listed in scripts/e2e.js: ${unknown.join(', ')}`);
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

module.exports = { NATIVE_MODULES, CODE_SERVER_NATIVE, debianPackages, installScriptPackages, uncovered };
if (require.main === module) main();
