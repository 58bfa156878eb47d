#!/usr/bin/env node
// Makes a fresh clone runnable: npm packages, and the Debian packages the tests and the demo
// use (QEMU, GDB, cross binutils). Installs with apt-get when root; otherwise names the command.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const quiet = process.argv.includes('--quiet');
const root = path.resolve(__dirname, '..');
const log = (m) => { if (!quiet) console.error(`[ensure-deps] ${m}`); };

// group → [binary that proves it, Debian package]. PTVIEW_SKIP_DEPS=group,group skips groups.
const GROUPS = {
  qemu: [['qemu-system-x86_64', 'qemu-system-x86'], ['qemu-system-aarch64', 'qemu-system-arm'], ['qemu-system-riscv64', 'qemu-system-misc']],
  gdb: [['gdb', 'gdb'], ['gdb-multiarch', 'gdb-multiarch']],
  binutils: [['as', 'binutils'], ['aarch64-linux-gnu-as', 'binutils-aarch64-linux-gnu'], ['riscv64-linux-gnu-as', 'binutils-riscv64-linux-gnu']],
};
const skip = new Set((process.env.PTVIEW_SKIP_DEPS || '').split(',').filter(Boolean));

function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

const missing = [];
for (const [group, list] of Object.entries(GROUPS)) {
  if (skip.has(group)) continue;
  for (const [bin, pkg] of list) if (!have(bin)) missing.push(pkg);
}

if (missing.length) {
  const cmd = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid && process.getuid() === 0) {
    log(`installing ${missing.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: quiet ? 'ignore' : 'inherit', env });
    execFileSync('sh', ['-c', cmd + ' -qq'], { stdio: quiet ? 'ignore' : 'inherit', env });
  } else {
    console.error(`ptview needs these Debian packages: ${missing.join(' ')}\nRun as root: ${cmd}`);
    process.exit(2);
  }
}

if (!fs.existsSync(path.join(root, 'node_modules', 'typescript'))) {
  log('installing npm packages');
  execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: quiet ? 'ignore' : 'inherit' });
}
