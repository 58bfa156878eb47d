// The CLI's one-file bundle (webpack.cli.js): out/cli.js runs it only while it is newer than tsc's
// modules, and tsc rewrites every module at every build, so a build whose sources did not change
// must still write the bundle again (webpack leaves an identical file alone unless told not to).
// Built into a temporary directory with the project's own webpack config, twice.
import assert from 'node:assert/strict';
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
});
