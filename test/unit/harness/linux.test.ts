// Pure parts of test/harness/linux.ts: the user program's console report, the privilege level
// from QEMU 7.2's `info registers` (lines as QEMU printed them on the Linux guests), and the
// newc archive layout (Documentation/driver-api/early-userspace/buffer-format.rst).
import assert from 'node:assert/strict';
import { cpioNewc, parseUserReport, privilege } from '../../harness/linux';

describe('Linux guest harness: pure parts', () => {
  it('parses the user program report among kernel lines and CRLF line ends', () => {
    const serial = [
      'PTVIEW-LINUX release 6.1.0-57-amd64 machine x86_64',
      'PTVIEW-USER pid 0x0000000000000055',
      'PTVIEW-MAP shm-a 0x00007f40ace8c000 0x0000000000000001',
      '[    3.123456] random: crng init done',
      'PTVIEW-PAGE shm-a 0x00007f40ace8c000 0xa10000000000c3ad',
      'PTVIEW-MAP ro 0x00007f40acecd000 0x0000000000000002',
      'PTVIEW-PAGE ro 0x00007f40acecd000 0xa00000000000cd0e',
      'PTVIEW-PAGE ro 0x00007f40acece000 0x0000000000000000',
      'PTVIEW-STEP 0x0000000000401300 0x0000000000401315 0x00007f40ace8c008',
      'PTVIEW-READY',
    ].join('\r\n');
    const r = parseUserReport(serial);
    assert.equal(r.pid, 0x55);
    const shm = r.mappings.get('shm-a')!;
    assert.equal(shm.pages[0].present, true);
    assert.equal(shm.pages[0].pfn, 0xc3adn); // bits 0-54; bits 61 (file/shared) and 63 (present) dropped
    assert.equal(shm.pages[0].pa, 0xc3ad000n);
    const ro = r.mappings.get('ro')!;
    assert.deepEqual(ro.pages.map((p) => p.present), [true, false]);
    assert.equal(ro.pages[1].pa, 0n);
    assert.deepEqual(r.step, { before: 0x401300n, after: 0x401315n, flag: 0x7f40ace8c008n });
    assert.throws(() => parseUserReport('PTVIEW-USER pid 0x1\r\n'), /no complete report/);
  });

  it('tells the privilege level from info registers on x86_64, AArch64 and RISC-V', () => {
    const x86 = (cpl: number, cr3: string) => `RIP=0000000000401260 RFL=00000246 [---Z-P-] CPL=${cpl} II=0 A20=1 SMM=0 HLT=0\nCR0=80050033 CR2=00007f40ace8b010 CR3=${cr3} CR4=000006f0`;
    assert.deepEqual(privilege('x86_64', x86(3, '0000000002961000')), { user: true, kernelRoot: false });
    assert.deepEqual(privilege('x86_64', x86(0, '0000000002960000')), { user: false, kernelRoot: true });
    assert.deepEqual(privilege('x86_64', x86(0, '0000000002961000')), { user: false, kernelRoot: false }); // entry code, user root still loaded
    assert.deepEqual(privilege('arm64', 'PSTATE=60000000 -ZC- EL0t     FPCR=00000000 FPSR=00000000'), { user: true, kernelRoot: false });
    assert.deepEqual(privilege('arm64', 'PSTATE=000003c5 ---- EL1h     FPCR=00000000 FPSR=00000000'), { user: false, kernelRoot: true });
    assert.deepEqual(privilege('riscv64', ' V      =   0\n pc       00000000000103b0\n mhartid  0000000000000000'), { user: true, kernelRoot: false });
    assert.deepEqual(privilege('riscv64', ' V      =   0\n pc       ffffffff80a74bc4\n'), { user: false, kernelRoot: true });
    assert.deepEqual(privilege('riscv64', ' pc       0000000080001234\n'), { user: false, kernelRoot: false }); // OpenSBI, M mode
    assert.equal(privilege('x86_64', 'no registers'), undefined);
  });

  it('writes newc headers, 4-byte alignment, device numbers and the trailer', () => {
    const buf = cpioNewc([
      { name: 'dev/console', mode: 0o020600, rdev: [5, 1] },
      { name: 'init', mode: 0o100755, data: Buffer.from('#!/bin/sh\n') },
    ]);
    const field = (hdrAt: number, i: number) => parseInt(buf.toString('latin1', hdrAt + 6 + i * 8, hdrAt + 14 + i * 8), 16);
    assert.equal(buf.toString('latin1', 0, 6), '070701');
    assert.equal(field(0, 1), 0o020600); // mode
    assert.equal(field(0, 9), 5); // rdevmajor
    assert.equal(field(0, 10), 1); // rdevminor
    assert.equal(field(0, 11), 'dev/console'.length + 1); // namesize with NUL
    // header (110) + name (12) = 122 -> padded to 124; no data
    const second = 124;
    assert.equal(buf.toString('latin1', second, second + 6), '070701');
    assert.equal(field(second, 6), 10); // filesize
    assert.equal(buf.toString('latin1', second + 110, second + 114), 'init');
    const data = second + 116; // 110 + 5 = 115 -> 116
    assert.equal(buf.toString('latin1', data, data + 10), '#!/bin/sh\n');
    const trailer = data + 12; // 10 -> 12
    assert.equal(buf.toString('latin1', trailer + 110, trailer + 120), 'TRAILER!!!');
    assert.equal(buf.length % 4, 0);
  });
});
