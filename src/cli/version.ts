// ptview's version for --version: from the package.json above this file (out/, the bundle in
// out/, build/src/cli/ for tests all sit below the package root), read when the parser is built.
import fs from 'node:fs';
import path from 'node:path';

export function packageVersion(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ptview' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no package.json here (or not ours): look further up
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}
