// Hostile core files: a real QEMU core of x86-64-4level with one field corrupted at a time, a
// directory and a FIFO. Each must be refused with exit 3 and a message naming the field, never an
// internal error (70), a native abort (134) or a hang (spawnSync's timeout catches a hang).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GuestRun, REPO, bootGuest } from '../../harness/qemu';

const CLI = path.join(REPO, 'out', 'cli.js');

function ptview(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

/** Where the fields of an ELF64 core are (read from the core, not assumed). */
function layout(file: string) {
  const b = Buffer.alloc(4096);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, b, 0, b.length, 0);
  fs.closeSync(fd);
  const phoff = Number(b.readBigUInt64LE(32));
  const phnum = b.readUInt16LE(56);
  const ph = (i: number) => phoff + i * 56;
  let note = -1;
  let load = -1;
  for (let i = 0; i < phnum; i++) {
    const t = b.readUInt32LE(ph(i));
    if (t === 4 && note < 0) note = i;
    if (t === 1 && load < 0) load = i;
  }
  return { phoff, note: ph(note), noteData: Number(b.readBigUInt64LE(ph(note) + 8)), load: ph(load), loadIndex: load, noteIndex: note };
}

describe('hostile core files are refused with exit 3 and the field named', function () {
  this.timeout(180000);
  let run: GuestRun;
  let core: string;
  let efer: string;

  before(async () => {
    run = await bootGuest('x86-64-4level');
    core = await run.dump();
    const m = /EFER=([0-9a-f]+)/.exec(await run.hmp('info registers'));
    efer = '0x' + m![1];
  });
  after(async () => run?.kill());

  const corrupt = (name: string, edit: (fd: number, l: ReturnType<typeof layout>) => void): string => {
    const out = path.join(run.dir, `${name}.core`);
    fs.copyFileSync(core, out);
    fs.chmodSync(out, 0o600);
    const fd = fs.openSync(out, 'r+');
    try {
      edit(fd, layout(core));
    } finally {
      fs.closeSync(fd);
    }
    return out;
  };
  const put16 = (fd: number, off: number, v: number) => fs.writeSync(fd, Buffer.from([v & 0xff, v >> 8]), 0, 2, off);
  const put32 = (fd: number, off: number, v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    fs.writeSync(fd, b, 0, 4, off);
  };
  const put64 = (fd: number, off: number, v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    fs.writeSync(fd, b, 0, 8, off);
  };

  const cases: [string, (fd: number, l: ReturnType<typeof layout>) => void, RegExp][] = [
    ['phentsize 0', (fd) => put16(fd, 54, 0), /e_phentsize = 0 is too small/],
    ['phentsize 8', (fd) => put16(fd, 54, 8), /e_phentsize = 8 is too small/],
    ['phnum 65535', (fd) => put16(fd, 56, 0xffff), /e_phnum = 0xffff \(PN_XNUM\)/],
    ['phoff past the end', (fd) => put64(fd, 32, 1n << 40n), /e_phoff = 0x10000000000 is past the end of the file/],
    ['note filesz 2 GiB', (fd, l) => put64(fd, l.note + 32, 1n << 31n), /PT_NOTE\): p_filesz = 0x80000000 .*runs past the end of the file/],
    ['note filesz 2^40', (fd, l) => put64(fd, l.note + 32, 1n << 40n), /PT_NOTE\): p_filesz = 0x10000000000 .*runs past the end of the file/],
    ['note namesz 0xffff', (fd, l) => put32(fd, l.noteData, 0xffff), /n_namesz = 65535 \(0xffff\) runs past the end of the note segment/],
    ['PT_LOAD paddr 2^63', (fd, l) => put64(fd, l.load + 24, 1n << 63n), /PT_LOAD\): p_paddr = 0x8000000000000000 is above 2\^53/],
    ['PT_LOAD filesz 2^53', (fd, l) => put64(fd, l.load + 32, 1n << 53n), /PT_LOAD\): p_filesz = 0x20000000000000 is larger than p_memsz/],
    ['PT_LOAD filesz 2^62', (fd, l) => put64(fd, l.load + 32, 1n << 62n), /PT_LOAD\): p_filesz = 0x4000000000000000 is larger than p_memsz/],
    ['PT_LOAD filesz and memsz 2^62', (fd, l) => (put64(fd, l.load + 32, 1n << 62n), put64(fd, l.load + 40, 1n << 62n)), /PT_LOAD\): p_paddr 0x0 \+ p_filesz 0x4000000000000000 ends above 2\^53/],
    ['PT_LOAD offset + filesz past 2^64', (fd, l) => (put64(fd, l.load + 8, 2n ** 64n - 4096n), put64(fd, l.load + 32, 1n << 40n), put64(fd, l.load + 40, 1n << 40n)), /PT_LOAD\): p_offset 0xfffffffffffff000 \+ p_filesz 0x10000000000 overflows 64 bits/],
  ];
  for (const [name, edit, re] of cases) {
    it(name, () => {
      const file = corrupt(name.replace(/\W+/g, '-'), edit);
      const r = ptview(['dump', '--core', file, '--reg', `EFER=${efer}`]);
      assert.equal(r.signal, null, `killed by ${r.signal} (a hang?)`);
      assert.equal(r.code, 3, r.err);
      assert.match(r.err, re);
      fs.rmSync(file);
    });
  }

  it('a core cut inside its headers or notes names what is cut', () => {
    const l = layout(core);
    for (const [len, re] of [[40, /the ELF header .* runs past the end of the file/], [l.phoff + 20, /program headers .* run past the end of the file/], [l.noteData + 100, /PT_NOTE\): p_filesz = .* runs past the end of the file/]] as const) {
      const file = path.join(run.dir, `cut-${len}.core`);
      const buf = Buffer.alloc(len);
      const fd = fs.openSync(core, 'r');
      fs.readSync(fd, buf, 0, len, 0);
      fs.closeSync(fd);
      fs.writeFileSync(file, buf);
      const r = ptview(['dump', '--core', file, '--reg', `EFER=${efer}`]);
      assert.equal(r.code, 3, `${len}: ${r.err}`);
      assert.match(r.err, re);
    }
  });

  it('a directory, a FIFO and a device are refused before any read', () => {
    const fifo = path.join(run.dir, 'core.fifo');
    execFileSync('mkfifo', [fifo]);
    for (const [file, re] of [[run.dir, /is a directory, not a core file/], [fifo, /is a FIFO \(named pipe\), not a core file/], ['/dev/zero', /is a character device, not a core file/]] as const) {
      const r = ptview(['dump', '--core', file, '--reg', `EFER=${efer}`]);
      assert.equal(r.signal, null, `${file}: killed by ${r.signal} (a hang?)`);
      assert.equal(r.code, 3, `${file}: ${r.err}`);
      assert.match(r.err, re);
    }
    const raw = ptview(['dump', '--raw', fifo, '--base', '0', '--arch', 'x86_64', '--reg', 'CR0=0x80000011', '--reg', 'CR3=0x1000', '--reg', 'CR4=0x20', '--reg', `EFER=${efer}`]);
    assert.equal(raw.code, 3, raw.err);
    assert.match(raw.err, /is a FIFO \(named pipe\), not a raw image/);
  });
});
