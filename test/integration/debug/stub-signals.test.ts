// Ctrl-C in the middle of a PhyMemMode read: the CLI switches the mode back to 0 and closes the
// connection (no detach) before it exits 130. A real QEMU answers a 4 KiB read in a tenth of a
// millisecond, so no signal can be aimed inside one; this stub holds its first `m` reply
// instead, and answers everything else as QEMU 7.2 does (replies in order).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fakeStub } from '../../support/fakeStub';
import { CLI } from './support';

const hex = (s: string) => Buffer.from(s).toString('hex');
/** A register value as `p` sends it: little-endian hex. */
const le64 = (v: bigint) => Buffer.from(new BigUint64Array([v]).buffer).toString('hex');

const TARGET_XML =
  'l<target><architecture>i386:x86-64</architecture><feature name="org.gnu.gdb.i386.core">' +
  '<reg name="rip" bitsize="64" regnum="0"/><reg name="cr0" bitsize="64"/><reg name="cr3" bitsize="64"/><reg name="cr4" bitsize="64"/><reg name="efer" bitsize="64"/></feature></target>';
const MTREE = 'FlatView #0\n AS "memory", root: system\n Root memory region: system\n  0000000000000000-0000000001ffffff (prio 0, ram): pc.ram\n';
// CR0.PG|PE, CR3 = 0x1000, CR4.PAE, EFER.LME|LMA: x86-64 4-level paging.
const REGS = [0xffffffff81000000n, 0x80000011n, 0x1000n, 0x20n, 0x500n];

describe('ptview --gdb and SIGINT', function () {
  this.timeout(30000);

  it('SIGINT during a PhyMemMode read: mode back to 0 (queued behind the read), no detach, exit 130', async () => {
    let mode = 0;
    let firstRead!: () => void;
    const reading = new Promise<void>((r) => (firstRead = r));
    let reads = 0;
    const stub = await fakeStub((q) => {
      if (q.startsWith('qSupported')) return 'PacketSize=1000;qXfer:features:read+;vContSupported+';
      if (q === 'qqemu.sstepbits') return 'ENABLE=1,NOIRQ=2,NOTIMER=4';
      if (q.startsWith('qXfer:features:read:target.xml:')) return TARGET_XML;
      if (q === `qRcmd,${hex('info mtree -f')}`) return ['O' + hex(MTREE), 'OK'];
      if (q === 'qqemu.PhyMemMode') return String(mode);
      const m = /^Qqemu\.PhyMemMode:([01])$/.exec(q);
      if (m) return (mode = Number(m[1])), 'OK';
      const p = /^p([0-9a-f]+)$/.exec(q);
      if (p) return le64(REGS[parseInt(p[1], 16)]);
      const mem = /^m([0-9a-f]+),([0-9a-f]+)$/.exec(q);
      if (mem) {
        const zeros = '00'.repeat(parseInt(mem[2], 16));
        if (++reads > 1) return zeros;
        firstRead();
        return new Promise((r) => setTimeout(() => r(zeros), 1500));
      }
      return '';
    });
    try {
      const child = spawn(process.execPath, [CLI, 'dump', '--gdb', `127.0.0.1:${stub.port}`, '--strategy', 'phymem-mode'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
      await reading;
      assert.equal(mode, 1, 'the read runs with the mode on');
      child.kill('SIGINT');
      assert.equal(await exited, 130, stderr);
      assert.match(stderr, /SIGINT: switching PhyMemMode back and closing the gdbstub connection/);
      assert.equal(mode, 0);
      assert.equal(stub.requests[stub.requests.length - 1], 'Qqemu.PhyMemMode:0');
      assert.ok(!stub.requests.some((r) => r === 'D' || /^[cCsS]|^vCont|^[MXGP]/.test(r)), `nothing resumes or writes: ${stub.requests.join(' ')}`);
    } finally {
      stub.close();
    }
  });
});
