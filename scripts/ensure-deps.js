#!/usr/bin/env node
// Makes a fresh clone runnable before `npm test` / `npm run demo` / `npm run bench`: the Debian
// packages the tests use (QEMU, GDB, binutils for the guests) and the npm packages.
// - Everything present: returns in well under a second (PATH is scanned in-process, no spawns).
// - Missing and root: one `apt-get update`, then installs just the missing packages.
// - Missing and not root: exits 2 naming the packages and the exact command.
// Flags: --quiet (errors only). Env: PTVIEW_SKIP_DEPS=group,group (or "all") skips groups.
// Plain Node, no dependencies: it runs before node_modules exists.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

// [group, Debian package, binaries (any one of them proves the package)]. Add rows here, e.g.
// ['ui', 'chromium', ['chromium', 'chromium-browser']].
const DEPS = [
  ['qemu', 'qemu-system-x86', ['qemu-system-x86_64']],
  ['qemu', 'qemu-system-arm', ['qemu-system-aarch64']],
  ['qemu', 'qemu-system-misc', ['qemu-system-riscv64']],
  ['gdb', 'gdb', ['gdb']],
  ['gdb', 'gdb-multiarch', ['gdb-multiarch']],
  ['gdb', 'gdbserver', ['gdbserver']], // a real gdbstub that is not QEMU's (CLI error test)
  // LLVM's DAP adapter (lldb-vscode-16 in Debian 12; lldb-dap from LLVM 18), attached to QEMU's gdbstub.
  ['lldb', 'lldb-16', ['lldb-vscode-16', 'lldb-dap-16', 'lldb-dap']],
  ['binutils', 'binutils', ['as', 'ld']],
  ['binutils', 'binutils-aarch64-linux-gnu', ['aarch64-linux-gnu-as']],
  ['binutils', 'binutils-riscv64-linux-gnu', ['riscv64-linux-gnu-as']],
  // The bench counts qemu-system processes as gdb-pt-dump does (pgrep).
  ['bench', 'procps', ['pgrep']],
  // The kdump tests compress pages with the LZO library itself (QEMU 7.2 in Debian has no -l).
  ['kdump', 'python3-lzo', ['/usr/lib/python3/dist-packages/lzo.*.so']],
  // The Linux guests' kernel modules (qemu_fw_cfg) come .ko.xz or .ko.zst in newer Debian kernels.
  ['linux', 'xz-utils', ['xz']],
  ['linux', 'zstd', ['zstd']],
];

const quiet = process.argv.includes('--quiet');
const root = path.resolve(__dirname, '..');
const log = (m) => {
  if (!quiet) console.error(`[ensure-deps] ${m}`);
};
const fail = (m, code = 2) => {
  console.error(`[ensure-deps] ${m}`);
  process.exit(code);
};

const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean);
// Root's PATH normally has the sbin dirs; add the usual places so a trimmed PATH does not
// trigger a pointless install.
for (const d of ['/usr/local/bin', '/usr/bin', '/bin']) if (!dirs.includes(d)) dirs.push(d);
function have(bin) {
  for (const d of dirs) {
    try {
      fs.accessSync(path.join(d, bin), fs.constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

// An absolute path with a glob in its last part: a library file (no binary to look for).
function present(bin) {
  if (!bin.startsWith('/')) return have(bin);
  const dir = path.dirname(bin);
  const re = new RegExp('^' + path.basename(bin).replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$');
  try {
    return fs.readdirSync(dir).some((f) => re.test(f));
  } catch {
    return false;
  }
}

function missingPackages() {
  const skip = new Set((process.env.PTVIEW_SKIP_DEPS || '').split(',').map((s) => s.trim()).filter(Boolean));
  if (skip.has('all')) return [];
  const out = [];
  for (const [group, pkg, bins] of DEPS) {
    if (!skip.has(group) && !bins.some(present) && !out.includes(pkg)) out.push(pkg);
  }
  return out;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit', ...opts });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  return r.status === 0;
}

const missing = missingPackages();
if (missing.length) {
  const install = ['install', '-y', '--no-install-recommends', ...missing];
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    fail(
      `missing Debian packages: ${missing.join(' ')}\n` +
        `  install them (as root): apt-get update && DEBIAN_FRONTEND=noninteractive apt-get ${install.join(' ')}\n` +
        `  or skip the groups you do not need: PTVIEW_SKIP_DEPS=${[...new Set(DEPS.filter((d) => missing.includes(d[1])).map((d) => d[0]))].join(',')}`,
    );
  }
  log(`installing ${missing.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!run('apt-get', ['update', '-q'], { env })) fail('apt-get update failed');
  if (!run('apt-get', ['-q', ...install], { env })) fail(`apt-get ${install.join(' ')} failed`);
  const still = missingPackages();
  if (still.length) fail(`installed, but still missing the binaries of: ${still.join(' ')}`);
}

if (!fs.existsSync(path.join(root, 'node_modules')) || !fs.existsSync(path.join(root, 'node_modules', '.bin', 'tsc'))) {
  log('installing npm packages');
  if (!run('npm', ['install', '--no-audit', '--no-fund'], { cwd: root })) fail('npm install failed');
}
