// Runs the built CLI (out/cli.js) as a user would, for integration tests.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO } from '../harness/qemu';

export const CLI = path.join(REPO, 'out', 'cli.js');

/** `ptview ARGS`: exit code, signal, stdout and stderr. */
export function ptview(args: string[], opts: { timeoutMs?: number } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: opts.timeoutMs ?? 60000, maxBuffer: 256 << 20 });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}
