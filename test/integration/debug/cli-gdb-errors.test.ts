// `ptview --gdb` failures a user meets first: nothing listening (both clients), a gdbstub that is
// not QEMU's (a real one: gdbserver), bad HOST:PORT, bad strategy or client.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO, freePort } from '../../harness/qemu';

const CLI = path.join(REPO, 'out', 'cli.js');
const ptview = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

describe('ptview --gdb errors', function () {
  this.timeout(60000);

  it('nothing listening: exit 3 with what to start, no stack trace', async () => {
    const r = ptview(['dump', '--gdb', `127.0.0.1:${await freePort()}`]);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /^ptview: nothing is listening on 127\.0\.0\.1:\d+ \(connection refused\): start QEMU with -gdb tcp::\d+/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('nothing listening, --via gdb: the GDB error, exit 3, no stack trace', async () => {
    const r = ptview(['dump', '--via', 'gdb', '--gdb', `127.0.0.1:${await freePort()}`]);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /^ptview: gdb(-multiarch)? could not attach to 127\.0\.0\.1:\d+: .*(refused|timed out)/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it("a real gdbstub that is not QEMU's (gdbserver on a Linux process): exit 3 naming it", async () => {
    const port = await freePort();
    // gdbserver stops the program at its first instruction and waits for one client.
    const server = spawn('gdbserver', ['--once', `127.0.0.1:${port}`, '/bin/sleep', '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        const onData = (d: Buffer) => {
          out += d;
          if (/Listening on port/.test(out)) resolve();
        };
        server.stdout!.on('data', onData);
        server.stderr!.on('data', onData);
        server.on('exit', (c) => reject(new Error(`gdbserver exited ${c}: ${out}`)));
      });
      const r = ptview(['dump', '--gdb', `127.0.0.1:${port}`]);
      assert.equal(r.status, 3, r.stderr);
      assert.match(r.stderr, /^ptview: the gdbstub at 127\.0\.0\.1:\d+ is not QEMU's \(no answer to qqemu\.sstepbits\)/m);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('usage errors exit 2 before starting GDB', () => {
    for (const [args, msg] of [
      [['dump', '--gdb', 'nonsense'], /expected HOST:PORT/],
      [['translate', '0x1000', '--gdb', '127.0.0.1:1234', '--strategy', 'fast'], /unknown --strategy 'fast'/],
      [['audit', '--gdb', '127.0.0.1:1234', '--strategy', 'direct-map', '--direct-map', '0xffff88800000000z'], /--direct-map/],
      [['dump', '--gdb', '127.0.0.1:1234', '--core', 'x.core'], /exactly one of/],
      [['dump', '--gdb', '127.0.0.1:1234', '--via', 'lldb'], /--via/],
      [['dump', '--gdb', '127.0.0.1:1234', '--via', 'gdb', '--resume'], /--resume works with ptview's own gdbstub client only/],
    ] as [string[], RegExp][]) {
      const r = ptview(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
    }
  });
});
