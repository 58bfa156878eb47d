#!/usr/bin/env node
// The `ptview` command. Node's start is part of every command's time, so this file only picks
// what to run: the one-file bundle of ./cli/main (out/cli.bundle.js, built by `npm run build`
// with webpack: no module resolution, one file read) compiled with a V8 code cache kept beside
// it (out/cli.bundle.cache: no parsing or bytecode generation after the first run), or, when no
// bundle was built after the modules were (a plain `tsc -p .`), ./cli/main itself.
import fs from 'node:fs';
import path from 'node:path';
import Module from 'node:module';
import v8 from 'node:v8';
import vm from 'node:vm';

// A one-shot command pays for V8's optimising compiler on a background thread as CPU time: without
// inlining, its compilations of the walk and the line writer cost less (a cold `dump --leaves
// --json` of a Debian arm64 kernel's 62,577 leaves: 181 -> 160 ms of process CPU, median of 15;
// x86_64's and a 526,400-leaf image's unchanged). Nor are functions of more than 800 bytes of
// bytecode optimised: each optimisation of the descent's table scan (~1.5 KB), the walk's child
// callback and the line copier's replay (~0.85 KB each) cost 5-15 ms of compiling for the few
// thousand calls or entries they handle, while the leaf loops (Descent.leaves ~0.73 KB,
// countLeaves) and the line writer are still optimised (cold dump --leaves --json, CPU ms,
// medians of 5-13 interleaved: x86_64 stop 146 -> 126, arm64 stop 139 -> 125, the 526,400-leaf
// image 431 -> 358). Set before the bundle is compiled, so the code cache below is made and
// checked under the same flags.
v8.setFlagsFromString('--no-turbo-inlining --max-optimized-bytecode-size=800');

type Main = { run(): void; cacheKind?(): string | undefined };

/**
 * The cache file: one header line, then V8's data. V8 checks a cache against its source by length
 * only, so the header names the bundle it was made from (size and mtime; any other bundle's cache
 * is not used), and the commands whose code it holds (`dump:gdbstub`, `audit:core`…): V8 caches
 * the functions compiled so far, so a cache written after `--help` would leave a walk to compile
 * its code at every run. A command that completes and is not listed writes the cache again, with
 * what it compiled added.
 */
const CACHE_MAGIC = 'ptview-v8-cache';

function bundled(): Main | undefined {
  const file = path.join(__dirname, 'cli.bundle.js');
  let src: string;
  let made: string;
  try {
    // A bundle older than the modules is stale (tsc ran after webpack): not used.
    const st = fs.statSync(file);
    if (st.mtimeMs < fs.statSync(path.join(__dirname, 'cli', 'main.js')).mtimeMs) return undefined;
    made = `${st.size} ${st.mtimeMs}`;
    src = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const cacheFile = path.join(__dirname, 'cli.bundle.cache');
  let cachedData: Buffer | undefined;
  let kinds: string[] = [];
  try {
    const buf = fs.readFileSync(cacheFile);
    const nl = buf.indexOf(10);
    const head = nl > 0 ? buf.toString('latin1', 0, nl).split(' ') : [];
    if (head[0] === CACHE_MAGIC && `${head[1]} ${head[2]}` === made) {
      cachedData = buf.subarray(nl + 1);
      kinds = head[3] ? head[3].split(',') : [];
    }
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(src), { filename: file, cachedData });
  if (cachedData !== undefined && script.cachedDataRejected) kinds = [];
  const m = { exports: {} as Main };
  // After the command, so the cache holds the functions it compiled too; written whole (rename)
  // or not at all (a read-only install simply runs without it).
  process.once('exit', () => {
    const kind = m.exports.cacheKind?.();
    if (kind === undefined || kinds.includes(kind)) return;
    const tmp = `${cacheFile}.${process.pid}`;
    try {
      fs.accessSync(__dirname, fs.constants.W_OK); // a read-only install: not even serialized
      fs.writeFileSync(tmp, Buffer.concat([Buffer.from(`${CACHE_MAGIC} ${made} ${[...kinds, kind].join(',')}\n`, 'latin1'), script.createCachedData()]));
      fs.renameSync(tmp, cacheFile);
    } catch {
      fs.rmSync(tmp, { force: true });
    }
  });
  (script.runInThisContext() as (...a: unknown[]) => void)(m.exports, require, m, file, __dirname);
  return m.exports;
}

const cli = bundled() ?? (require('./cli/main') as Main);
// Run as the command; required (a benchmark timing the load), only loaded.
if (require.main === module) cli.run();
