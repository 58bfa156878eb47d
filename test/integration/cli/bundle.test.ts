// The CLI's one-file bundle (webpack.cli.js): out/cli.js runs it only while it is newer than tsc's
// modules, and tsc rewrites every module at every build, so a build whose sources did not change
// must still write the bundle again (webpack leaves an identical file alone unless told not to).
// Built into a temporary directory with the project's own webpack config, twice. And the V8 code
// cache beside it (out/cli.bundle.cache): made for one bundle only, and kept per kind of command.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO } from '../../harness/qemu';

describe('the CLI bundle build', function () {
  this.timeout(120000);

  it('a second build of unchanged sources writes the bundle again (it stays newer than the modules)', async () => {
    assert.ok(fs.existsSync(path.join(REPO, 'out', 'cli', 'main.js')), 'out/ is not built (npm run build)');
    const webpack = require(path.join(REPO, 'node_modules', 'webpack')) as (c: object, cb: (err: Error | null, stats?: { hasErrors(): boolean; toString(): string }) => void) => void;
    const config = require(path.join(REPO, 'webpack.cli.js')) as { output: object };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptview-bundle-'));
    const build = () =>
      new Promise<number>((resolve, reject) =>
        webpack({ ...config, context: REPO, output: { ...config.output, path: dir } }, (err, stats) => {
          if (err || !stats || stats.hasErrors()) return reject(err ?? new Error(stats?.toString() ?? 'no stats'));
          resolve(fs.statSync(path.join(dir, 'cli.bundle.js')).mtimeMs);
        }),
      );
    try {
      const first = await build();
      await new Promise((r) => setTimeout(r, 20));
      const second = await build();
      assert.ok(second > first, `bundle mtime ${first} -> ${second}: not written again`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('production output (the bundle and tsc\'s modules in out/) requires no devDependency (test libraries included)', () => {
    const dev = Object.keys((JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies);
    assert.ok(dev.includes('@vscode/debugadapter-testsupport') && dev.includes('mocha'));
    const files = (fs.readdirSync(path.join(REPO, 'out'), { recursive: true }) as string[]).filter((f) => f.endsWith('.js'));
    assert.ok(files.includes('cli.bundle.js') && files.includes(path.join('debug', 'gdbAttach.js')), files.join(' '));
    const found: string[] = [];
    for (const f of files) {
      for (const m of fs.readFileSync(path.join(REPO, 'out', f), 'utf8').matchAll(/require\(["']([^"']+)["']\)/g)) {
        const pkg = m[1].split('/').slice(0, m[1].startsWith('@') ? 2 : 1).join('/');
        if (dev.includes(pkg)) found.push(`${f}: ${m[1]}`);
      }
    }
    assert.deepEqual(found, []);
  });

  it('ptview --version / -V prints package.json\'s version and exits 0', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    assert.match(version, /^\d+\.\d+\.\d+/);
    for (const flag of ['--version', '-V']) {
      const r = spawnSync(process.execPath, [path.join(REPO, 'out', 'cli.js'), flag], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${version}\n`);
    }
  });

  describe('the code cache', () => {
    let dir: string;
    const bundle = () => path.join(dir, 'cli.bundle.js');
    const cache = () => path.join(dir, 'cli.bundle.cache');
    // A 16 KiB image of zeros: an empty x86_64 address space, enough for a command to complete.
    const raw = (cmd: string[]) => [...cmd, '--raw', path.join(dir, 'zero.img'), '--base', '0', '--arch', 'x86_64', '--reg', 'CR3=0x1000', '--reg', 'EFER=0xd01', '--reg', 'CR0=0x80000001', '--reg', 'CR4=0x20'];
    const ptview = (args: string[]) => spawnSync(process.execPath, [path.join(dir, 'cli.js'), ...args], { encoding: 'utf8' }).status;
    const header = () => (fs.existsSync(cache()) ? fs.readFileSync(cache(), 'latin1').split('\n', 1)[0] : undefined);

    before(() => {
      // The built CLI in a directory of its own: cli.js, its bundle, and the module the bundle
      // must be newer than.
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptview-cache-'));
      fs.mkdirSync(path.join(dir, 'cli'));
      fs.copyFileSync(path.join(REPO, 'out', 'cli', 'main.js'), path.join(dir, 'cli', 'main.js'));
      fs.copyFileSync(path.join(REPO, 'out', 'cli.js'), path.join(dir, 'cli.js'));
      fs.copyFileSync(path.join(REPO, 'out', 'cli.bundle.js'), bundle());
      fs.writeFileSync(path.join(dir, 'zero.img'), Buffer.alloc(16384));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('is written by a command that completes, names its bundle and the commands it holds, and V8 takes it', () => {
      assert.equal(ptview(['--help']), 0);
      assert.equal(ptview(raw(['dump', '--reg', 'CR4=x'])), 2);
      assert.equal(header(), undefined, 'help and a usage error write no cache');
      assert.equal(ptview(raw(['dump'])), 0);
      const st = fs.statSync(bundle());
      assert.equal(header(), `ptview-v8-cache ${st.size} ${st.mtimeMs} dump:raw`);
      // V8 rejects a cache made under other flags: check it in a process with the loader's flags.
      const flags = /setFlagsFromString\('([^']*)'\)/.exec(fs.readFileSync(path.join(dir, 'cli.js'), 'utf8'))?.[1] ?? '';
      const check = `
        require('v8').setFlagsFromString(${JSON.stringify(flags)});
        const fs = require('fs'), vm = require('vm'), Module = require('module');
        const data = fs.readFileSync(${JSON.stringify(cache())});
        const script = new vm.Script(Module.wrap(fs.readFileSync(${JSON.stringify(bundle())}, 'utf8')), { filename: ${JSON.stringify(bundle())}, cachedData: data.subarray(data.indexOf(10) + 1) });
        process.stdout.write(String(script.cachedDataRejected));`;
      assert.equal(spawnSync(process.execPath, ['-e', check], { encoding: 'utf8' }).stdout, 'false');
    });

    it('is written again only by a kind of command it does not hold yet, with that command added', () => {
      const before = fs.readFileSync(cache());
      assert.equal(ptview(raw(['dump'])), 0);
      assert.ok(fs.readFileSync(cache()).equals(before), 'the same command again leaves it as it is');
      assert.equal(ptview(raw(['translate', '0x1000'])), 1); // unmapped: completed, exit 1
      assert.match(header()!, / dump:raw,translate:raw$/);
      assert.ok(fs.statSync(cache()).size > before.length);
      assert.equal(ptview(['diff', '--raw', path.join(dir, 'zero.img'), ...raw([])]), 0); // two images, no changes
      assert.match(header()!, / dump:raw,translate:raw,diff:offline$/);
    });

    it('node modules of rare paths (child_process, zlib) are not loaded by a command that does not use them', () => {
      // Which of node's own modules the process loaded, at its exit.
      const probe = path.join(dir, 'loaded.js');
      fs.writeFileSync(probe, "process.on('exit', () => process.stderr.write('LOADED ' + process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).join(',') + '\\n'));\n");
      const r = spawnSync(process.execPath, ['-r', probe, path.join(dir, 'cli.js'), ...raw(['dump'])], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const loaded = /^LOADED (.*)$/m.exec(r.stderr)![1].split(',');
      assert.ok(loaded.includes('NativeModule fs/promises'), 'a raw image is read with fs/promises: loaded when used');
      assert.ok(!loaded.includes('NativeModule zlib') && !loaded.includes('NativeModule child_process'), loaded.join(' '));
    });

    it('the leaf loops and the line writer are small enough for the optimising compiler under the loader\'s limit', () => {
      // cli.js lets V8 optimise only functions under a bytecode size: the functions a walk
      // spends its time in must stay under it (a 526,400-leaf image ran ~30% slower without).
      const limit = Number(/--max-optimized-bytecode-size=(\d+)/.exec(fs.readFileSync(path.join(dir, 'cli.js'), 'utf8'))![1]);
      // PML4 at 0x1000 -> PDPT -> PD -> PT with 4 leaves: every function below runs.
      const img = Buffer.alloc(5 * 4096);
      img.writeUInt32LE(0x2003, 0x1000);
      img.writeUInt32LE(0x3003, 0x2000);
      img.writeUInt32LE(0x4003, 0x3000);
      for (let i = 0; i < 4; i++) img.writeUInt32LE(0x10003 + i * 0x1000, 0x4000 + 8 * i);
      const file = path.join(dir, 'leaves.img');
      fs.writeFileSync(file, img);
      for (const fn of ['leaves', 'countLeaves', 'putLeafLine']) {
        const args = ['dump', '--leaves', '--json', '--raw', file, '--base', '0', '--arch', 'x86_64', '--reg', 'CR3=0x1000', '--reg', 'EFER=0xd01', '--reg', 'CR0=0x80000001', '--reg', 'CR4=0x20'];
        const r = spawnSync(process.execPath, ['--print-bytecode', `--print-bytecode-filter=${fn}`, path.join(dir, 'cli.js'), ...args], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        const len = /Bytecode length: (\d+)/.exec(r.stdout);
        assert.ok(len, `no bytecode printed for ${fn}`);
        assert.ok(Number(len[1]) < limit, `${fn}: ${len[1]} bytes of bytecode, the loader optimises under ${limit}`);
      }
    });

    it("another bundle of the same length does not use it (V8 would: it checks the length only)", () => {
      const later = new Date(fs.statSync(bundle()).mtimeMs + 5000);
      fs.utimesSync(bundle(), later, later);
      assert.equal(ptview(raw(['dump'])), 0);
      assert.equal(header(), `ptview-v8-cache ${fs.statSync(bundle()).size} ${fs.statSync(bundle()).mtimeMs} dump:raw`);
    });
  });
});
