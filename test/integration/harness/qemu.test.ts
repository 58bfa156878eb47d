// The harness itself on real QEMU: cached builds, boot, gdbstub on loopback, QMP/HMP, dump,
// failure reports, and that no QEMU or temp dir survives a kill, a forgotten guest or a crash.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseInfoRegisters } from '../../harness/oracles';
import { CACHE, GuestRun, bootGuest, buildGuest, guestHash } from '../../harness/qemu';

const GUEST = 'x86-64-4level';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};
async function gone(pid: number, dir: string, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid) && !fs.existsSync(dir)) return true;
    await sleep(50);
  }
  return false;
}

/** One GDB remote-protocol exchange: sends `$cmd#xx`, returns the first reply packet body. */
function rsp(port: number, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sum = [...cmd].reduce((s, c) => (s + c.charCodeAt(0)) & 0xff, 0);
    const s = net.createConnection(port, '127.0.0.1', () => s.write(`$${cmd}#${sum.toString(16).padStart(2, '0')}`));
    let buf = '';
    const t = setTimeout(() => reject(new Error(`no RSP reply: ${JSON.stringify(buf)}`)), 5000);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const m = /\$([^#]*)#[0-9a-f]{2}/.exec(buf);
      if (m) {
        clearTimeout(t);
        s.end('+');
        resolve(m[1]);
      }
    });
    s.on('error', reject);
  });
}

describe('QEMU harness', function () {
  this.timeout(60000);

  it('builds a guest once into .cache/guests/<name> and reuses it while the sources are unchanged', async () => {
    const k1 = await buildGuest(GUEST);
    assert.equal(k1, path.join(CACHE, GUEST, 'kernel.elf'));
    assert.equal(fs.readFileSync(path.join(CACHE, GUEST, '.hash'), 'utf8'), guestHash(GUEST));
    const m1 = fs.statSync(k1).mtimeMs;
    const k2 = await buildGuest(GUEST);
    assert.equal(k2, k1);
    assert.equal(fs.statSync(k2).mtimeMs, m1);
    assert.equal(fs.readFileSync(k1).subarray(0, 4).toString('latin1'), '\x7fELF');
  });

  describe('a running guest with the gdbstub', () => {
    let run: GuestRun;
    before(async () => {
      run = await bootGuest(GUEST, { gdb: true });
    });
    after(async () => {
      await run?.kill();
    });

    it('is the QEMU process we started, named after the guest', () => {
      assert.equal(run.name, GUEST);
      assert.equal(run.arch, 'x86_64');
      const cmdline = fs.readFileSync(`/proc/${run.pid}/cmdline`, 'utf8').split('\0');
      assert.match(cmdline[0], /qemu-system-x86_64$/);
      assert.ok(cmdline.includes(run.kernel));
      assert.ok(cmdline.includes('-no-reboot'));
      assert.ok(fs.existsSync(run.qmpSocket) && run.qmpSocket.startsWith(run.dir));
    });

    it('serves the gdbstub on 127.0.0.1 only', async () => {
      assert.ok(run.gdbPort && run.gdbPort > 1024);
      const portHex = run.gdbPort.toString(16).toUpperCase().padStart(4, '0');
      const listening = fs
        .readFileSync('/proc/net/tcp', 'utf8')
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f[1]?.endsWith(`:${portHex}`) && f[3] === '0A'); // 0A = LISTEN
      assert.deepEqual(listening.map((f) => f[1]), [`0100007F:${portHex}`]);
      const v6 = fs.existsSync('/proc/net/tcp6') ? fs.readFileSync('/proc/net/tcp6', 'utf8') : '';
      assert.ok(!v6.includes(`:${portHex} `), 'not on IPv6 either');
      assert.match(await rsp(run.gdbPort, '?'), /^[ST][0-9a-f]{2}/);
      await run.cont(); // a gdb connection stops the VM
    });

    it('runs HMP commands through QMP and returns their text, errors included', async () => {
      assert.match(await run.hmp('info status'), /VM status: running/);
      assert.match(await run.hmp('no-such-command'), /unknown command/);
      assert.equal(parseInfoRegisters(await run.hmp('info registers')).get('hlt'), 1n);
    });

    it('stops and continues the guest', async () => {
      await run.stop();
      assert.match(await run.hmp('info status'), /paused/);
      await run.cont();
      assert.match(await run.hmp('info status'), /running/);
    });

    it('dumps to a chosen file, leaving the guest paused', async () => {
      const file = path.join(run.dir, 'other.core');
      assert.equal(await run.dump(file), file);
      assert.ok(fs.statSync(file).size > 32 * 1024 * 1024);
      assert.deepEqual(await run.qmp('query-status').then((s) => (s as { status: string }).status), 'paused');
      await run.cont();
    });
  });

  it('kill() ends QEMU and removes the temp dir, and is idempotent', async () => {
    const run = await bootGuest(GUEST);
    assert.ok(alive(run.pid));
    await run.kill();
    assert.ok(await gone(run.pid, run.dir, 1000));
    await run.kill();
  });

  it('fails pending and later commands (not hangs) when QEMU dies under it', async () => {
    const run = await bootGuest(GUEST);
    try {
      process.kill(run.pid, 'SIGKILL');
      await assert.rejects(run.hmp('info registers'), /QMP|closed|QEMU exited/);
      await assert.rejects(run.hmp('info registers'));
    } finally {
      await run.kill();
    }
    assert.ok(await gone(run.pid, run.dir, 1000));
  });

  it('reports a guest that never gets ready with the command line, serial log and registers', async () => {
    // -S: the CPU never starts, so READY never comes.
    const err = await bootGuest(GUEST, { extraArgs: ['-S'], timeoutMs: 1500 }).then(
      () => assert.fail('booted'),
      (e: Error) => e,
    );
    assert.match(err.message, /did not print PTVIEW-READY: timeout after 1500 ms/);
    assert.match(err.message, /qemu: qemu-system-x86_64 .* -S/);
    assert.match(err.message, /serial: ""/);
    assert.match(err.message, /info registers:[\s\S]*EIP=0000fff0/); // reset vector
    const dir = /-serial file:(\S+)\/serial\.log/.exec(err.message)![1];
    assert.ok(!fs.existsSync(dir), 'temp dir removed');
    // Neither QEMU nor its watchdog shell (which exits once it sees QEMU gone) stays.
    const leftovers = () =>
      fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir) && alive(Number(p));
        } catch {
          return false;
        }
      });
    for (let i = 0; i < 40 && leftovers().length; i++) await sleep(50);
    assert.deepEqual(leftovers(), []);
  });

  for (const how of ['forgets to kill the guest', 'is killed with SIGKILL'] as const) {
    it(`leaves no QEMU behind when the test process ${how}`, async () => {
      const qemuJs = require.resolve('../../harness/qemu');
      const script = `
        const { bootGuest } = require(${JSON.stringify(qemuJs)});
        bootGuest(${JSON.stringify(GUEST)}).then((r) => {
          console.log(JSON.stringify({ pid: r.pid, dir: r.dir }));
          ${how === 'is killed with SIGKILL' ? "setTimeout(() => process.kill(process.pid, 'SIGKILL'), 100);" : ''}
        });`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const code = await new Promise<number | null>((r) => child.on('exit', (c, sig) => r(sig ? -1 : c)));
      const { pid, dir } = JSON.parse(out) as { pid: number; dir: string };
      assert.equal(code, how === 'is killed with SIGKILL' ? -1 : 0);
      assert.ok(await gone(pid, dir), `QEMU ${pid} or ${dir} survived`);
    });
  }
});
