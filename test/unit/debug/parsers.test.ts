// Pure parts of src/debug: QEMU monitor text (QEMU 7.2 output), register values, the gdbstub
// socket owner lookup (against a real child process listening on a real port).
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findQemuPid, isLocalHost, socketInodes } from '../../../src/debug/procfs';
import { ProcMemStrategy } from '../../../src/debug/strategies/procMem';
import { mergeRanges, parseChardevGdb, parseConnection, parseGpa2hva, parseMtreeFlat, parseXpQwords } from '../../../src/debug/ram';
import { parseRegisterArray, registerArrayExpression } from '../../../src/debug/dialects';
import { parseRegisterValue } from '../../../src/debug/registerValue';
import { classifyError } from '../../../src/debug/transport';
import { MTREE } from './fakeAdapters';

// qemu-system-riscv64 -M virt, `info mtree -f` (first view, abridged).
const RISCV_MTREE = `FlatView #0
 AS "memory", root: system
 AS "cpu-memory-0", root: system
 Root memory region: system
  0000000000001000-000000000000ffff (prio 0, rom): riscv_virt_board.mrom
  0000000000100000-0000000000100fff (prio 0, i/o): riscv.sifive.test
  0000000002000000-000000000200ffff (prio 0, i/o): riscv.aclint.swi
  0000000010000000-0000000010000007 (prio 0, i/o): serial
  0000000080000000-0000000083ffffff (prio 0, ram): riscv_virt_board.ram
`;

describe('debug parsers', () => {
  it('info mtree -f: RAM of the "memory" address space only (no ROM, I/O, or other views)', () => {
    assert.deepEqual(parseMtreeFlat(MTREE).map((r) => [r.start, r.end, r.name]), [
      [0, 0xa0000, 'pc.ram'],
      [0x100000, 0x2000000, 'pc.ram'],
    ]);
    assert.deepEqual(parseMtreeFlat(RISCV_MTREE).map((r) => [r.start, r.end]), [[0x80000000, 0x84000000]]);
    assert.deepEqual(parseMtreeFlat('FlatView #0\n AS "I/O", root: io\n  0000-0007 (prio 0, ram): x\n'), []);
  });

  it('mergeRanges joins touching RAM pieces', () => {
    const m = mergeRanges([{ start: 0x100000, end: 0x200000 }, { start: 0, end: 0x100000 }, { start: 0x300000, end: 0x400000 }] as never);
    assert.deepEqual(m.map((r) => [r.start, r.end]), [[0, 0x200000], [0x300000, 0x400000]]);
  });

  it('gpa2hva, info connections', () => {
    assert.equal(parseGpa2hva('Host virtual address for 0x101000 (pc.ram) is 0x7f5179f01000\n'), 0x7f5179f01000n);
    assert.equal(parseGpa2hva('No memory is mapped at address 0xfec00000\n'), undefined);
    assert.deepEqual(parseConnection('  Num  What                    Description\n* 1    remote 127.0.0.1:36781  Remote target using gdb-specific protocol \n'), { host: '127.0.0.1', port: 36781 });
    assert.deepEqual(parseConnection('* 1    extended-remote [::1]:1234  Extended remote target\n'), { host: '::1', port: 1234 });
    assert.equal(parseConnection('No connections.\n'), undefined);
  });

  it('info chardev: the gdbstub\'s port and the connected debugger\'s end (QEMU 7.2 text)', () => {
    const text = 'parallel0: filename=vc\ngdb: filename=tcp:127.0.0.1:36819,server=on <-> 127.0.0.1:56444\ncompat_monitor0: filename=unix:/tmp/q/qmp.sock,server=on\nserial0: filename=file\n';
    assert.deepEqual(parseChardevGdb(text), { host: '127.0.0.1', port: 36819, peer: { host: '127.0.0.1', port: 56444 } });
    assert.deepEqual(parseChardevGdb('gdb: filename=disconnected:tcp:127.0.0.1:36819,server=on\n'), { host: '127.0.0.1', port: 36819 });
    assert.deepEqual(parseChardevGdb('gdb: filename=tcp:[::1]:1234,server=on <-> [::1]:40000\n'), { host: '::1', port: 1234, peer: { host: '::1', port: 40000 } });
    assert.deepEqual(parseChardevGdb('gdb: filename=tcp::1234,server=on\n'), { host: '', port: 1234 });
    assert.equal(parseChardevGdb('gdb: filename=unix:/tmp/gdb.sock,server=on\n'), undefined);
  });

  it('xp /Ngx output to little-endian bytes; a short answer is an error', () => {
    const text = '0000000000101000: 0x0000000000102003 0x8000000000000001\n0000000000101010: 0x00000000000000ff 0x0000000000000000\n';
    const b = parseXpQwords(text, 0x101000, 32);
    assert.deepEqual([...b.slice(0, 8)], [0x03, 0x20, 0x10, 0, 0, 0, 0, 0]);
    assert.equal(b[15], 0x80);
    assert.equal(b[16], 0xff);
    assert.throws(() => parseXpQwords(text, 0x101000, 64), /16 of 64|32 of 64/);
  });

  it('register values: decimal, hex, negative (signed AArch64 sysregs) cast to unsigned 64-bit; void and text are absent', () => {
    assert.equal(parseRegisterValue('1052672'), 1052672n);
    assert.equal(parseRegisterValue('0x1000b1'), 0x1000b1n);
    assert.equal(parseRegisterValue('-9223372036854775808'), 1n << 63n);
    assert.equal(parseRegisterValue('-1'), (1n << 64n) - 1n);
    assert.equal(parseRegisterValue('[ PG WP ET PE ]'), undefined);
    assert.equal(parseRegisterValue('void'), undefined);
    assert.equal(parseRegisterValue(undefined), undefined);
  });

  it('a register array (cdt-gdb-adapter, context variables): presence mask, then high and low 32 bits per register', () => {
    const names = ['cr0', 'pkru', 'pc'];
    assert.equal(
      registerArrayExpression(['cr3']),
      '{(unsigned int)(($_isvoid($cr3) ? 0u : 1u)), (unsigned int)(($_isvoid($cr3) ? 0ull : sizeof($cr3) == 4 ? (unsigned long long)(unsigned int)$cr3 : (unsigned long long)$cr3) >> 32), ' +
        '(unsigned int)($_isvoid($cr3) ? 0ull : sizeof($cr3) == 4 ? (unsigned long long)(unsigned int)$cr3 : (unsigned long long)$cr3)}',
    );
    assert.match(registerArrayExpression(names), /\(\$_isvoid\(\$pc\) \? 0u : 4u\)/);
    // As the adapter prints it: JSON with two-space indent; pkru absent; pc in the upper half.
    const got = parseRegisterArray(names, JSON.stringify([5, 0, 0x80050033, 0, 0, 0xffffffff, 0x81000218], null, 2))!;
    assert.deepEqual([...got], [['cr0', 0x80050033n], ['pkru', undefined], ['pc', 0xffffffff81000218n]]);
    // Another output radix: elements as text.
    assert.deepEqual([...parseRegisterArray(['cr3'], '["0x1", "0x0", "0x1c0a000"]')!], [['cr3', 0x1c0a000n]]);
    for (const bad of ['[1, 0]', '[1, 0, 1, 5]', 'not json', '{"a": 1}', '[1, 0, 4294967296]', '[1, 0, -1]', '[1, 0, 1.5]', '["void", 0, 0]']) {
      assert.equal(parseRegisterArray(['cr3'], bad), undefined, bad);
    }
    assert.equal(parseRegisterArray(['cr3'], undefined), undefined);
  });

  it('adapter errors: running and ended sessions are told apart from plain failures', () => {
    assert.equal(classifyError('Cannot execute this command while the target is running.'), 'running');
    assert.equal(classifyError('Unable to perform this action because the process is running.'), 'running');
    assert.equal(classifyError('Remote connection closed'), 'session-ended');
    assert.equal(classifyError('Unable to read memory. (@ 0x300000)'), undefined);
  });

  describe('socket inodes of a port (/proc/net/tcp{,6} as Linux writes them: listeners first)', () => {
    const HEAD = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
    // One line as tcp4_seq_show pads it (149 characters and a newline).
    const line = (i: number, lport: number, rport: number, state: string, inode: number) =>
      `${String(i).padStart(4)}: 0100007F:${lport.toString(16).toUpperCase().padStart(4, '0')} 0100007F:${rport.toString(16).toUpperCase().padStart(4, '0')} ${state} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0`.padEnd(149) + '\n';
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptview-procnet-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
    const write = (f: string, lines: string[]) => fs.writeFileSync(path.join(dir, f), HEAD + lines.join(''));

    it('takes the listener from the listening part and stops there (the established part is not read)', async () => {
      // Ten listeners span several of the reader's pieces; the connection on the same port after
      // them is in the established part, which the reader never gets to.
      const listening = Array.from({ length: 10 }, (_, i) => line(i, 5000 + i, 0, '0A', 100 + i));
      write('tcp', [...listening.slice(0, 7), line(7, 1234, 0, '0A', 777), ...listening.slice(8), line(10, 1234, 40000, '01', 888), line(11, 1234, 40001, '01', 999)]);
      write('tcp6', []);
      assert.deepEqual([...(await socketInodes(1234, dir))], ['777']);
    });

    it('looks at tcp6 when tcp has no listener on the port', async () => {
      write('tcp', [line(0, 22, 0, '0A', 5), line(1, 1234, 40000, '01', 888)]);
      write('tcp6', [line(0, 1234, 0, '0A', 666)]);
      assert.deepEqual([...(await socketInodes(1234, dir))], ['666']);
    });

    it('without a listener, takes the established sockets from both whole files', async () => {
      write('tcp', [line(0, 22, 0, '0A', 5), line(1, 1234, 40000, '01', 888), line(2, 40002, 1234, '01', 889), line(3, 1234, 40003, '06', 0)]);
      write('tcp6', [line(0, 1234, 40004, '01', 890)]);
      assert.deepEqual([...(await socketInodes(1234, dir))].sort(), ['888', '890']);
      assert.equal((await socketInodes(4321, dir)).size, 0);
    });
  });

  describe('gdbstub socket owner', () => {
    let child: ChildProcess;
    let port: number;
    before(async () => {
      // A real process listening on a loopback port stands in for QEMU's gdbstub.
      child = spawn(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>console.log(s.address().port))"], { stdio: ['ignore', 'pipe', 'inherit'] });
      port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    });
    after(() => {
      child?.kill();
    });

    it('finds the process from the port through /proc/net/tcp and /proc/*/fd', async () => {
      assert.deepEqual(await findQemuPid('127.0.0.1', port), { pid: child.pid });
    });

    it('/proc/<pid>/mem that cannot be opened is a reason to fall back, not an exception', () => {
      const r = ProcMemStrategy.open({ pid: 2 ** 22 + 12345, ranges: [{ start: 0, end: 4096, name: 'ram', hva: 0x1000n }] as never }, () => undefined);
      assert.ok('unavailable' in r && /\/proc\/4206649\/mem/.test(r.unavailable), JSON.stringify(r));
    });

    it('says why when nothing local serves the port', async () => {
      const r = await findQemuPid('127.0.0.1', 1);
      assert.ok('reason' in r && /no socket with local port 1/.test(r.reason));
      const remote = await findQemuPid('192.0.2.1', port);
      assert.ok('reason' in remote && /not on this machine/.test(remote.reason));
      assert.equal(isLocalHost('localhost'), true);
    });
  });
});
