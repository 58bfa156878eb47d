// ptview's gdbstub client: RSP framing (GDB manual, "Overview": checksums, `}` escapes, `*`
// run-length encoding), target descriptions with includes, and the client against tiny fake TCP
// stubs for what a real QEMU cannot be made to do on demand: a non-QEMU stub, a description
// without paging registers, a stub that accepts and closes (QEMU serving another debugger), a
// stub that never answers, E replies, O output packets and a retransmit request.
import assert from 'node:assert/strict';
import { GdbStubClient, GdbStubError } from '../../../src/debug/gdbstub/client';
import { FrameReader, checksum, decodeBody, encodePacket, littleEndianHex } from '../../../src/debug/gdbstub/rsp';
import { NAK, RAW, fakeStub } from '../../support/fakeStub';
import { StubRegisters, openStubTarget } from '../../../src/debug/gdbstub/session';
import { loadTargetDescription } from '../../../src/debug/gdbstub/targetXml';
import { LiveAccessError } from '../../../src/debug/api';
import { RegisterFamily, RegisterSource, readTargetRegisters } from '../../../src/debug/registers';

describe('gdbstub RSP framing', () => {
  it('checksums and escapes as the manual says', () => {
    assert.equal(checksum('OK'), '9a'); // QEMU's "$OK#9a"
    assert.equal(encodePacket('qSupported'), '$qSupported#37');
    // `$ # } *` are escaped as `}` + (byte ^ 0x20), and the checksum covers the escaped form.
    const p = encodePacket('a}b#c');
    assert.equal(p.slice(0, p.indexOf('#', 1 + 5)), '$a}]b}\u0003c');
    assert.equal(decodeBody('a}]b}\u0003c'), 'a}b#c');
  });

  it('decodes run-length encoding: "0* " is four zeros, "x}" escapes inside runs survive', () => {
    // "c*n": c repeated n-29 more times (GDB manual example: "0* " means "0000").
    assert.equal(decodeBody('0* '), '0000');
    assert.equal(decodeBody('ab*"'), 'a' + 'b'.repeat(6));
    assert.equal(decodeBody('}]*!'), '}' + '}'.repeat(4));
  });

  it('splits a stream into acks, packets (split across chunks) and flags bad checksums', () => {
    const r = new FrameReader();
    assert.deepEqual(r.push('+$T02thread:01;#04+$Pack'), [{ kind: 'ack' }, { kind: 'packet', data: 'T02thread:01;', checksumOk: true }, { kind: 'ack' }]);
    assert.deepEqual(r.push('et#00-'), [{ kind: 'packet', data: 'Packet', checksumOk: false }, { kind: 'nak' }]);
  });

  it('reads register values in target (little-endian) byte order', () => {
    assert.equal(littleEndianHex('0030200000000000'), 0x203000n);
    assert.equal(littleEndianHex('ffffffffffffffff'), (1n << 64n) - 1n);
  });
});

describe('gdbstub target descriptions', () => {
  it('follows includes in order and numbers registers across features', async () => {
    const files: Record<string, string> = {
      'target.xml': '<?xml version="1.0"?><target><architecture>aarch64</architecture><xi:include href="core.xml"/><xi:include href="sys.xml"/></target>',
      'core.xml': '<feature name="org.gnu.gdb.aarch64.core"><reg name="x0" bitsize="64"/><!-- <reg name="ghost" bitsize="8"/> --><reg name="pc" bitsize="64" type="code_ptr"/><reg name="cpsr" bitsize="32"/></feature>',
      'sys.xml': '<feature name="org.qemu.gdb.arm.sys.regs"><reg name="TTBR0_EL1" bitsize="64" regnum="86"/><reg name="TCR_EL1" bitsize="64"/></feature>',
    };
    const d = await loadTargetDescription(async (f) => files[f]);
    assert.equal(d.architecture, 'aarch64');
    assert.deepEqual(d.features, ['org.gnu.gdb.aarch64.core', 'org.qemu.gdb.arm.sys.regs']);
    assert.deepEqual([...d.registers.values()].map((r) => `${r.name}:${r.regnum}:${r.bitsize}`), ['x0:0:64', 'pc:1:64', 'cpsr:2:32', 'TTBR0_EL1:86:64', 'TCR_EL1:87:64']);
    assert.equal(d.registers.get('ttbr0_el1')?.feature, 'org.qemu.gdb.arm.sys.regs');
  });
});

const hex = (s: string) => Buffer.from(s).toString('hex');

describe('paging registers in one round trip when the description names the family', () => {
  // A register source over fixed values: what a target would answer to `p`, and the family its
  // description (if any) names.
  const source = (values: Record<string, bigint>, family?: RegisterFamily) => {
    const calls: string[][] = [];
    const r: RegisterSource = {
      readAll: async (names) => (calls.push([...names]), new Map(names.filter((n) => n.toLowerCase() in values).map((n) => [n.toLowerCase(), values[n.toLowerCase()]]))),
      pcBytes: async () => 8n,
      ...(family ? { expectedFamily: () => family } : {}),
    };
    return { r, calls };
  };
  const X86 = { cr0: 0x80050033n, cr3: 0x1234000n, cr4: 0x3006f0n, efer: 0xd01n, eflags: 0x46n };

  it('reads the expected family with the probes, and gives what the probe-then-family order gives', async () => {
    const plain = source(X86);
    const hinted = source(X86, 'x86');
    const a = await readTargetRegisters(plain.r);
    const b = await readTargetRegisters(hinted.r);
    assert.deepEqual(b, a);
    assert.equal(a.arch, 'x86_64');
    assert.equal(plain.calls.length, 2);
    assert.equal(hinted.calls.length, 1);
    assert.equal(new Set(hinted.calls[0]).size, hinted.calls[0].length, 'no register asked twice');
  });

  it('a wrong expectation still ends in the family the probes found', async () => {
    const regs = { ttbr0_el1: 0x4000n, ttbr1_el1: 0x5000n, tcr_el1: 0x35b5503510n, cpsr: 0x3c5n };
    const r = await readTargetRegisters(source(regs, 'x86').r);
    assert.equal(r.arch, 'aarch64');
    assert.equal(r.registers.get('ttbr1_el1'), 0x5000n);
    assert.equal(r.registers.get('el'), 1n);
    await assert.rejects(readTargetRegisters(source({}, 'riscv').r), (e: Error) => e instanceof LiveAccessError && e.kind === 'no-registers');
  });
});

describe('gdbstub client against fake stubs', function () {
  this.timeout(10000);

  it('a stub that is not QEMU (no qqemu.* packets) is refused by name, and nothing is written', async () => {
    const stub = await fakeStub((q) => (q.startsWith('qSupported') ? 'PacketSize=4000;qXfer:features:read+' : ''));
    try {
      await assert.rejects(openStubTarget(`127.0.0.1:${stub.port}`), (e: Error) => e instanceof GdbStubError && /is not QEMU's \(no answer to qqemu\.sstepbits\)/.test(e.message));
      assert.ok(stub.requests.every((r) => !/^[MGXPcCsSvDk]/.test(r) || r.startsWith('qSupported')), stub.requests.join(' '));
    } finally {
      stub.close();
    }
  });

  it('a target description without paging registers gets a no-registers error naming the features', async () => {
    const stub = await fakeStub((q) => {
      if (q.startsWith('qSupported')) return 'PacketSize=1000;qXfer:features:read+';
      if (q === 'qqemu.sstepbits') return 'ENABLE=1,NOIRQ=2,NOTIMER=4';
      if (q.startsWith('qXfer:features:read:target.xml:')) return 'l<target><architecture>m68k</architecture><feature name="org.gnu.gdb.m68k.core"><reg name="d0" bitsize="32"/><reg name="pc" bitsize="32"/></feature></target>';
      return '';
    });
    try {
      await assert.rejects(openStubTarget(`127.0.0.1:${stub.port}`), (e: Error) => e instanceof LiveAccessError && e.kind === 'no-registers' && /m68k; features org\.gnu\.gdb\.m68k\.core\) has none of CR3/.test(e.message));
      assert.ok(!stub.requests.includes('D'), 'no detach: it would resume a QEMU guest');
    } finally {
      stub.close();
    }
  });

  it('reads a long qXfer object with chunks asked for ahead (past the end ignored), and one at a time when chunk lengths vary', async () => {
    const doc = Array.from({ length: 700 }, (_, i) => `<reg name="r${i}" bitsize="64"/>`).join('');
    // QEMU: at most `cap` bytes per reply ('m' + data, 'l' on the last), E00 past the end.
    const xferStub = (cap: (offset: number) => number) => fakeStub((q) => {
      if (q.startsWith('qSupported')) return 'PacketSize=1000;qXfer:features:read+';
      const m = /^qXfer:features:read:big\.xml:([0-9a-f]+),([0-9a-f]+)$/.exec(q);
      if (!m) return '';
      const off = parseInt(m[1], 16);
      if (off > doc.length) return 'E00';
      const part = doc.slice(off, off + Math.min(parseInt(m[2], 16), cap(off)));
      return (off + part.length >= doc.length ? 'l' : 'm') + part;
    });
    for (const [name, cap] of [['fixed', () => 2045], ['varying', (off: number) => 1000 + (off % 7)]] as const) {
      const stub = await xferStub(cap);
      try {
        const client = await GdbStubClient.connect('127.0.0.1', stub.port);
        assert.equal(await client.readXfer('features', 'big.xml'), doc, name);
        const asked = stub.requests.filter((r) => r.startsWith('qXfer')).length;
        const chunks = Math.ceil(doc.length / (name === 'fixed' ? 2045 : 1000));
        if (name === 'fixed') assert.ok(asked >= chunks && asked < chunks + 8, `${asked} requests for ${chunks} chunks`);
        client.destroy();
      } finally {
        stub.close();
      }
    }
  });

  it('a stub that accepts and closes at once (QEMU busy with another debugger) is reported as busy', async () => {
    const stub = await fakeStub(() => undefined, (s) => (s.end(), false));
    try {
      await assert.rejects(GdbStubClient.connect('127.0.0.1', stub.port), (e: Error) => e instanceof GdbStubError && e.kind === 'busy' && /serves one debugger at a time/.test(e.message));
    } finally {
      stub.close();
    }
  });

  it('a connection that never gets a byte (QEMU leaves a second client unaccepted) is reported as busy', async () => {
    const stub = await fakeStub(() => undefined, () => false);
    try {
      await assert.rejects(GdbStubClient.connect('127.0.0.1', stub.port, { timeoutMs: 300 }), (e: Error) => e instanceof GdbStubError && e.kind === 'busy' && /sent nothing within 300 ms: QEMU serves one debugger at a time/.test(e.message));
    } finally {
      stub.close();
    }
  });

  it('a stub that acks but never answers times out naming the packet', async () => {
    const stub = await fakeStub(() => undefined);
    try {
      await assert.rejects(GdbStubClient.connect('127.0.0.1', stub.port, { timeoutMs: 300 }), (e: Error) => e instanceof GdbStubError && e.kind === 'timeout' && /did not answer 'qSupported/.test(e.message));
    } finally {
      stub.close();
    }
  });

  it('a pipelined queue times out on no progress, not on age: steady answers pass, a stall names the packet stalled on', async () => {
    // Six reads sent at once, answered one every 150 ms (the last 900 ms after it was sent, more
    // than the 400 ms timeout); then a stub that stops after the second answer.
    const steady = (stallAfter: number) => {
      let n = 0;
      return fakeStub((q) => {
        if (q.startsWith('qSupported')) return 'PacketSize=1000';
        const i = n++;
        if (i >= stallAfter) return undefined;
        return new Promise<string>((r) => setTimeout(() => r('00'.repeat(8)), 150 * (i + 1)));
      });
    };
    const reads = (c: GdbStubClient) => Array.from({ length: 6 }, (_, i) => c.request(`m${(0x1000 + 8 * i).toString(16)},8`));
    let stub = await steady(Infinity);
    try {
      const c = await GdbStubClient.connect('127.0.0.1', stub.port, { timeoutMs: 400 });
      assert.deepEqual(await Promise.all(reads(c)), Array(6).fill('00'.repeat(8)));
      await c.close();
    } finally {
      stub.close();
    }
    stub = await steady(2);
    try {
      const c = await GdbStubClient.connect('127.0.0.1', stub.port, { timeoutMs: 400 });
      const all = reads(c);
      await assert.rejects(all[2], (e: Error) => e instanceof GdbStubError && e.kind === 'timeout' && /did not answer 'm1010,8' within 400 ms/.test(e.message));
      assert.equal(await all[1], '00'.repeat(8));
    } finally {
      stub.close();
    }
  });

  it('nothing listening is "connection refused" with the QEMU option to use', async () => {
    const stub = await fakeStub(() => undefined);
    const port = stub.port;
    stub.close();
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(GdbStubClient.connect('127.0.0.1', port), (e: Error) => e instanceof GdbStubError && e.kind === 'refused' && /nothing is listening.*-gdb tcp::/.test(e.message));
  });

  it('skips the unasked stop reply, collects qRcmd O packets, decodes RLE memory, turns E replies into errors, retransmits on a nak', async () => {
    let nakked = false;
    const stub = await fakeStub((q) => {
      if (q.startsWith('qSupported')) return 'PacketSize=1000';
      if (q.startsWith('qRcmd,')) return ['O' + hex('Host virtual address for 0x1000 '), 'O' + hex('(pc.ram) is 0x7f00\n'), 'OK'];
      if (q === 'm1000,8' && !nakked) return (nakked = true), NAK;
      if (q === 'm1000,8') return RAW + '000*"11223344'; // "000" and 5 more zeros: RLE inside a memory reply
      if (q === 'm2000,8') return 'E14';
      return '';
    }, (s) => {
      s.write(encodePacket('T02thread:01;')); // QEMU's notification of the stop our connect caused
      return true;
    });
    try {
      const c = await GdbStubClient.connect('127.0.0.1', stub.port);
      assert.equal(c.features.get('PacketSize'), '1000');
      assert.equal(c.maxRead, 0x800);
      assert.equal(await c.monitor('gpa2hva 0x1000'), 'Host virtual address for 0x1000 (pc.ram) is 0x7f00\n');
      assert.deepEqual([...(await c.readMemory(0x1000n, 8))], [0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44]);
      await assert.rejects(c.readMemory(0x2000n, 8), (e: Error) => e instanceof GdbStubError && e.kind === 'error-reply' && /E14/.test(e.message));
      assert.ok(nakked);
      assert.equal(stub.requests.filter((r) => r === 'm1000,8').length, 1, 'retransmitted once after the nak');
      await c.close();
      assert.ok(!stub.requests.includes('D'));
    } finally {
      stub.close();
    }
  });

  it('switches to no-ack mode when the stub offers QStartNoAckMode, and stops acking', async () => {
    let acksAfter = 0;
    let noAck = false;
    const stub = await fakeStub(
      (q) => {
        if (q.startsWith('qSupported')) return 'PacketSize=1000;QStartNoAckMode+';
        if (q === 'QStartNoAckMode') return (noAck = true), 'OK';
        return 'E01';
      },
      (s) => {
        s.on('data', (d: Buffer) => {
          if (noAck) acksAfter += [...d.toString('latin1')].filter((c) => c === '+').length;
        });
        return true;
      },
    );
    try {
      const c = await GdbStubClient.connect('127.0.0.1', stub.port);
      assert.equal(c.noAckMode, true);
      await assert.rejects(c.command('qfoo'), /E01/);
      await new Promise((r) => setTimeout(r, 50));
      // The OK of QStartNoAckMode is the last packet acknowledged.
      assert.ok(acksAfter <= 1, String(acksAfter));
      await c.close();
    } finally {
      stub.close();
    }
  });

  it('reads registers from the g packet when the stub has no p packet', async () => {
    const le = (v: bigint, bytes: number) => Buffer.from(new BigUint64Array([v]).buffer).subarray(0, bytes).toString('hex');
    const stub = await fakeStub((q) => {
      if (q.startsWith('qSupported')) return 'PacketSize=1000';
      if (q === 'g') return le(0x1111n, 8) + le(0x80000011n, 4) + le(0x203000n, 8);
      return '';
    });
    try {
      const c = await GdbStubClient.connect('127.0.0.1', stub.port);
      const desc = await loadTargetDescription(async () => '<target><feature name="x"><reg name="rip" bitsize="64"/><reg name="eflags" bitsize="32"/><reg name="cr3" bitsize="64"/></feature></target>');
      const regs = await new StubRegisters(c, desc).readAll(['cr3', 'eflags', 'efer']);
      assert.deepEqual([...regs], [['cr3', 0x203000n], ['eflags', 0x80000011n]]);
      await c.close();
    } finally {
      stub.close();
    }
  });

  it('close() switches a PhyMemMode left on back to 0 before closing', async () => {
    const stub = await fakeStub((q) => (q.startsWith('qSupported') ? 'PacketSize=1000' : q.startsWith('Qqemu.PhyMemMode:') ? 'OK' : ''));
    try {
      const c = await GdbStubClient.connect('127.0.0.1', stub.port);
      await c.setPhyMemMode(true);
      await c.close();
      assert.deepEqual(stub.requests.slice(-2), ['Qqemu.PhyMemMode:1', 'Qqemu.PhyMemMode:0']);
    } finally {
      stub.close();
    }
  });
});
