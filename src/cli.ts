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
// x86_64's and a 526,400-leaf image's unchanged). Set before the bundle is compiled, so the code
// cache below is made and checked under the same flags.
v8.setFlagsFromString('--no-turbo-inlining');

type Main = { run(): void };

function bundled(): Main | undefined {
  const file = path.join(__dirname, 'cli.bundle.js');
  let src: string;
  try {
    // A bundle older than the modules is stale (tsc ran after webpack): not used.
    if (fs.statSync(file).mtimeMs < fs.statSync(path.join(__dirname, 'cli', 'main.js')).mtimeMs) return undefined;
    src = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const cacheFile = path.join(__dirname, 'cli.bundle.cache');
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(src), { filename: file, cachedData });
  if (cachedData === undefined || script.cachedDataRejected) {
    // After the command, so the cache holds the functions it compiled too; written whole
    // (rename) or not at all (a read-only install simply runs without it).
    process.once('exit', () => {
      const tmp = `${cacheFile}.${process.pid}`;
      try {
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, cacheFile);
      } catch {
        fs.rmSync(tmp, { force: true });
      }
    });
  }
  const m = { exports: {} as Main };
  (script.runInThisContext() as (...a: unknown[]) => void)(m.exports, require, m, file, __dirname);
  return m.exports;
}

const cli = bundled() ?? (require('./cli/main') as Main);
// Run as the command; required (a benchmark timing the load), only loaded.
if (require.main === module) cli.run();
