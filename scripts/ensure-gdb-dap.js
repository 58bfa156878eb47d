#!/usr/bin/env node
// A GDB with the Debug Adapter Protocol interpreter (`gdb -i=dap`, GDB >= 14) for the adapter
// tests, without changing the system: Debian 12 ships GDB 13.1, so Debian 13's `gdb` and
// `gdb-multiarch` (for the AArch64 and RISC-V guests) packages and
// the libraries it needs (its own glibc and ld.so included) are fetched with apt-get download from
// the next release of the mirror the system already uses, through a private apt config and state
// (nothing under /etc/apt or /var/lib/apt is touched), and unpacked with dpkg-deb -x into
// .cache/gdb-dap/prefix. GDB runs through that prefix's own dynamic loader:
//   <prefix>/usr/lib64/ld-linux-x86-64.so.2 --library-path <prefix libs> <prefix>/usr/bin/gdb -i=dap
// Cached: once unpacked and checked (both GDBs run, Python loads), later calls only read a marker
// file and spawn nothing, so the tests run offline after the first time.
// CLI: prints the launch recipe as JSON (exit 0), or one line why not (exit 2).
// Module: ensureGdbDap() returns the same object or throws.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const CACHE = path.join(ROOT, '.cache', 'gdb-dap');
const SUITE = 'trixie'; // Debian 13: GDB 16
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

const ARCHES = {
  amd64: { triplet: 'x86_64-linux-gnu', ld: 'ld-linux-x86-64.so.2' },
  arm64: { triplet: 'aarch64-linux-gnu', ld: 'ld-linux-aarch64.so.1' },
};

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
  return r.stdout;
}

/** The Debian mirror the system's own apt sources use (deb822 .sources or one-line sources.list). */
function systemMirror() {
  const texts = [];
  const add = (f) => {
    try {
      texts.push(fs.readFileSync(f, 'utf8'));
    } catch {
      /* absent */
    }
  };
  add('/etc/apt/sources.list');
  try {
    for (const f of fs.readdirSync('/etc/apt/sources.list.d')) if (/\.(sources|list)$/.test(f)) add(path.join('/etc/apt/sources.list.d', f));
  } catch {
    /* absent */
  }
  for (const t of texts) {
    // deb822 stanzas: URIs + Suites; skip the security archive (it has no trixie main of its own here).
    for (const stanza of t.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza);
      const suites = /^Suites:\s*(.+)$/m.exec(stanza);
      if (uri && suites && !/security/.test(suites[1]) && /^https?:/.test(uri[1])) return uri[1].replace(/\/$/, '');
    }
    for (const line of t.split('\n')) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(https?:\S+)\s+(\S+)/.exec(line);
      if (m && !/security/.test(m[2])) return m[1].replace(/\/$/, '');
    }
  }
  throw new Error('no Debian mirror found in /etc/apt/sources.list{,.d}');
}

function aptOpts() {
  const a = path.join(CACHE, 'apt');
  return [
    `-o`, `Dir::Etc::SourceList=${path.join(a, 'sources.list')}`,
    `-o`, `Dir::Etc::SourceParts=/dev/null`,
    `-o`, `Dir::Etc::Preferences=/dev/null`,
    `-o`, `Dir::Etc::PreferencesParts=/dev/null`,
    `-o`, `Dir::State=${path.join(a, 'state')}`,
    `-o`, `Dir::State::status=${path.join(a, 'state', 'status')}`,
    `-o`, `Dir::Cache=${path.join(a, 'cache')}`,
    `-o`, `Debug::NoLocking=1`,
  ];
}

function recipe(prefix, arch) {
  const a = ARCHES[arch];
  const libs = [`${prefix}/usr/lib/${a.triplet}`, `${prefix}/lib/${a.triplet}`];
  return {
    ld: [`${prefix}/usr/lib64/${a.ld}`, `${prefix}/usr/lib/${a.triplet}/${a.ld}`, `${prefix}/lib64/${a.ld}`].find((f) => fs.existsSync(f)) || `${prefix}/usr/lib/${a.triplet}/${a.ld}`,
    libraryPath: libs.join(':'),
    gdb: `${prefix}/usr/bin/gdb`,
    gdbMultiarch: `${prefix}/usr/bin/gdb-multiarch`,
    dataDirectory: `${prefix}/usr/share/gdb`,
    // The embedded Python's stdlib (libpython3.X-stdlib) is in the prefix, not the system's.
    pythonHome: `${prefix}/usr`,
    // One executable that takes GDB's own arguments (a DAP client spawns `launcher -i=dap`).
    launcher: path.join(CACHE, 'gdb'),
    multiarchLauncher: path.join(CACHE, 'gdb-multiarch'),
  };
}

function writeLauncher(r) {
  const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;
  for (const [file, gdb] of [[r.launcher, r.gdb], [r.multiarchLauncher, r.gdbMultiarch]]) {
    fs.writeFileSync(
      file,
      `#!/bin/sh\n# GDB from the private prefix, through its own loader (written by scripts/ensure-gdb-dap.js)\n` +
        `PYTHONHOME=${q(r.pythonHome)} PYTHONNOUSERSITE=1 exec ${q(r.ld)} --library-path ${q(r.libraryPath)} ${q(gdb)} --data-directory=${q(r.dataDirectory)} "$@"\n`,
      { mode: 0o755 },
    );
  }
}

/** Command line and environment that start GDB from the prefix with extra GDB arguments. */
function command(r, gdbArgs) {
  return {
    file: r.ld,
    args: ['--library-path', r.libraryPath, r.gdb, `--data-directory=${r.dataDirectory}`, ...gdbArgs],
    env: { ...process.env, PYTHONHOME: r.pythonHome, PYTHONNOUSERSITE: '1' },
  };
}

function check(r) {
  // GDB's DAP interpreter is Python: the prefix's libpython and its stdlib must load.
  const py = command(r, ['-nx', '-batch', '-ex', 'python import gdb.dap; print("python-ok")']);
  if (!/python-ok/.test(sh(py.file, py.args, { env: py.env }))) throw new Error("the unpacked GDB's Python cannot import gdb.dap");
  const c = command(r, ['--version']);
  const multi = command({ ...r, gdb: r.gdbMultiarch }, ['-nx', '-batch', '--version']);
  if (!/GNU gdb/.test(sh(multi.file, multi.args, { env: multi.env }))) throw new Error('the unpacked gdb-multiarch does not run');
  const out = sh(c.file, c.args, { env: c.env });
  const m = /GNU gdb \(.*?\) (\d+)\.(\d+)/.exec(out);
  if (!m || +m[1] < 14) throw new Error(`the unpacked GDB is not >= 14: ${out.split('\n')[0]}`);
  return `${m[1]}.${m[2]}`;
}

function ensureGdbDap(log = () => {}) {
  const prefix = path.join(CACHE, 'prefix');
  const marker = path.join(CACHE, 'ok.json');
  try {
    const m = JSON.parse(fs.readFileSync(marker, 'utf8'));
    if (m.prefix === prefix && fs.existsSync(m.recipe.gdb) && fs.existsSync(m.recipe.launcher) && fs.existsSync(m.recipe.multiarchLauncher)) return m.recipe;
  } catch {
    /* not cached yet */
  }
  const arch = sh('dpkg', ['--print-architecture']).trim();
  if (!ARCHES[arch]) throw new Error(`no recipe for architecture ${arch}`);
  const mirror = systemMirror();
  const a = path.join(CACHE, 'apt');
  for (const d of ['state/lists/partial', 'cache/archives/partial', 'debs']) fs.mkdirSync(path.join(a, d), { recursive: true });
  fs.writeFileSync(path.join(a, 'sources.list'), `deb [signed-by=${KEYRING}] ${mirror} ${SUITE} main\n`);
  fs.writeFileSync(path.join(a, 'state', 'status'), ''); // nothing installed: apt resolves the whole closure
  log(`apt-get update (${SUITE}, private state under ${path.relative(ROOT, a)})`);
  sh('apt-get', [...aptOpts(), '-q', 'update']);
  // gdb and what it links against, recursively; only library packages (maintainer-script tools
  // such as debconf or perl are never run by dpkg-deb -x).
  const deps = sh('apt-cache', [...aptOpts(), 'depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', 'gdb', 'gdb-multiarch'])
    .split('\n')
    .filter((l) => /^[a-z0-9]/.test(l))
    .map((l) => l.trim())
    .filter((p, i, all) => all.indexOf(p) === i && /^(gdb|gdb-multiarch|lib.*|zlib1g|gcc-\d+-base)$/.test(p));
  log(`apt-get download ${deps.length} packages`);
  const debs = path.join(a, 'debs');
  for (const f of fs.readdirSync(debs)) fs.rmSync(path.join(debs, f));
  sh('apt-get', [...aptOpts(), '-q', 'download', ...deps], { cwd: debs });
  fs.rmSync(prefix, { recursive: true, force: true });
  fs.mkdirSync(prefix, { recursive: true });
  for (const f of fs.readdirSync(debs)) if (f.endsWith('.deb')) sh('dpkg-deb', ['-x', path.join(debs, f), prefix]);
  const r = recipe(prefix, arch);
  const version = check(r);
  log(`GDB ${version} unpacked in ${path.relative(ROOT, prefix)}`);
  fs.rmSync(debs, { recursive: true, force: true }); // the prefix is the cache
  fs.rmSync(path.join(a, 'cache'), { recursive: true, force: true });
  writeLauncher(r);
  fs.writeFileSync(marker, JSON.stringify({ prefix, version, recipe: r }, null, 1));
  return r;
}

module.exports = { ensureGdbDap, command };

if (require.main === module) {
  try {
    const r = ensureGdbDap((m) => console.error(`[ensure-gdb-dap] ${m}`));
    console.log(JSON.stringify(r));
  } catch (e) {
    console.error(`[ensure-gdb-dap] ${e.message}`);
    process.exit(2);
  }
}
