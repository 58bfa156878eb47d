// Proves the x86 test guests are what their sources and expect.json say, using only QEMU's own
// answers (info registers, info tlb, info mem, gva2gpa, xp) and the raw ELF of dump-guest-memory.
// Nothing from src/ is used here: these are the facts the paging core is later compared with.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  TlbLine, parseGva2gpaResult, parseInfoMemX86, parseInfoRegisters, parseInfoTlb, x86PagingState,
} from '../../harness/oracles';
import { GUESTS, GuestRun, bootGuest, guestNames, guestSpec } from '../../harness/qemu';

interface Fact {
  va: string;
  mapped?: false;
  pa?: string;
  size?: string;
  tlb?: string;
  tlbPa?: string;
  effective?: string;
  user?: boolean;
  restrictedAt?: Record<string, string>;
  note?: string;
}
interface Expect {
  mode: string;
  registers: { name: string; mask: string; value: string }[];
  serial?: string[];
  facts: Fact[];
  aliases?: { pa: string; vas: string[] }[];
}

const x86Guests = guestNames().filter((n) => ['x86', 'x86_64'].includes(guestSpec(n).arch));
const hex = (v: bigint) => '0x' + v.toString(16);
const LARGE: Record<string, bigint[]> = {
  '32-bit': [0x400000n],
  PAE: [0x200000n],
  '4-level': [0x200000n, 0x40000000n],
  '5-level': [0x200000n, 0x40000000n],
};

/** The info tlb line whose page contains `va` (4 KiB lines, or P lines at a large-page base). */
function tlbLineFor(tlb: Map<bigint, TlbLine>, mode: string, va: bigint): TlbLine | undefined {
  const small = tlb.get(va & ~0xfffn);
  if (small && !small.pse) return small;
  for (const size of LARGE[mode]) {
    const l = tlb.get(va & ~(size - 1n));
    if (l?.pse) return l;
  }
  return undefined;
}

/** Physical-address → file-offset view of an ELF core (ELF32 or ELF64 PT_LOADs). */
function coreLayout(file: string) {
  const fd = fs.openSync(file, 'r');
  try {
    const h = Buffer.alloc(64);
    fs.readSync(fd, h, 0, 64, 0);
    const cls = h[4];
    const is64 = cls === 2;
    const type = h.readUInt16LE(16);
    const machine = h.readUInt16LE(18);
    const phoff = is64 ? Number(h.readBigUInt64LE(32)) : h.readUInt32LE(28);
    const phentsize = h.readUInt16LE(is64 ? 54 : 42);
    const phnum = h.readUInt16LE(is64 ? 56 : 44);
    const ph = Buffer.alloc(phentsize * phnum);
    fs.readSync(fd, ph, 0, ph.length, phoff);
    const loads: { paddr: bigint; offset: number; filesz: number }[] = [];
    let notes = 0;
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      const pType = ph.readUInt32LE(o);
      if (pType === 4) notes++;
      if (pType !== 1) continue;
      if (is64) {
        loads.push({ offset: Number(ph.readBigUInt64LE(o + 8)), paddr: ph.readBigUInt64LE(o + 24), filesz: Number(ph.readBigUInt64LE(o + 32)) });
      } else {
        loads.push({ offset: ph.readUInt32LE(o + 4), paddr: BigInt(ph.readUInt32LE(o + 12)), filesz: ph.readUInt32LE(o + 16) });
      }
    }
    return { magic: h.subarray(0, 4).toString('latin1'), cls, type, machine, loads, notes };
  } finally {
    fs.closeSync(fd);
  }
}

function readPhys(file: string, loads: { paddr: bigint; offset: number; filesz: number }[], pa: bigint, len: number): Buffer {
  const seg = loads.find((s) => s.paddr <= pa && pa + BigInt(len) <= s.paddr + BigInt(s.filesz));
  assert.ok(seg, `no PT_LOAD covers ${hex(pa)}`);
  const buf = Buffer.alloc(len);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, buf, 0, len, seg.offset + Number(pa - seg.paddr));
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

function ramBytes(qemuArgs: string[]): number {
  const m = /^(\d+)([MG])$/i.exec(qemuArgs[qemuArgs.indexOf('-m') + 1] ?? '');
  assert.ok(m, 'guest.json gives -m <n>M');
  return Number(m[1]) * (m[2].toUpperCase() === 'G' ? 1024 : 1) * 1024 * 1024;
}

describe('x86 test guests (checked against QEMU only)', function () {
  this.timeout(120000);
  it('finds the five x86 guests, each with an expect.json', () => {
    assert.deepEqual(x86Guests, ['x86-32', 'x86-64-4level', 'x86-64-5level', 'x86-64-changes', 'x86-pae']);
    for (const n of x86Guests) assert.ok(fs.existsSync(path.join(GUESTS, n, 'expect.json')), n);
  });
});

for (const name of x86Guests) {
  describe(`guest ${name}`, function () {
    this.timeout(120000);
    const expect = JSON.parse(fs.readFileSync(path.join(GUESTS, name, 'expect.json'), 'utf8')) as Expect;
    const mapped = expect.facts.filter((f) => f.mapped !== false);
    const unmapped = expect.facts.filter((f) => f.mapped === false);
    let run: GuestRun;
    let regs: Map<string, bigint>;
    let tlb: Map<bigint, TlbLine>;

    before(async () => {
      run = await bootGuest(name);
      regs = parseInfoRegisters(await run.hmp('info registers'));
      const lines = parseInfoTlb(await run.hmp('info tlb'));
      tlb = new Map(lines.map((l) => [l.va, l]));
      assert.equal(tlb.size, lines.length, 'info tlb prints each VA once');
    });
    after(async () => {
      await run?.kill();
    });

    it('prints PTVIEW-READY and the lines expect.json names on its serial port', () => {
      const serial = run.serial();
      assert.match(serial, /^PTVIEW-READY\r?$/m);
      for (const line of expect.serial ?? []) assert.ok(serial.split(/\r?\n/).includes(line), `serial lacks ${line}: ${serial}`);
    });

    it(`runs with paging on in ${expect.mode} mode (info registers)`, () => {
      const s = x86PagingState(regs);
      assert.equal(s.mode, expect.mode);
      assert.ok(s.paging && s.wp);
      for (const r of expect.registers) {
        const v = regs.get(r.name);
        assert.ok(v !== undefined, `info registers has ${r.name}`);
        assert.equal(hex(v & BigInt(r.mask)), hex(BigInt(r.value)), `${r.name} & ${r.mask}`);
      }
      assert.equal(regs.get('hlt'), 1n, 'the CPU idles in hlt');
    });

    it('info tlb lists every mapped fact with its PA and exact leaf bits, and no unmapped one', () => {
      assert.ok(tlb.size >= mapped.length);
      for (const f of mapped) {
        const va = BigInt(f.va);
        const size = BigInt(f.size!);
        const line = tlb.get(va & ~(size - 1n));
        assert.ok(line, `info tlb has no leaf at ${hex(va & ~(size - 1n))} (${f.note})`);
        assert.equal(line.flags, f.tlb, `${f.va}: leaf bits (${f.note})`);
        assert.equal(line.pse, size > 0x1000n, `${f.va}: page size`);
        assert.equal(hex(line.frame + (va & (size - 1n))), f.tlbPa ?? f.pa, `${f.va}: PA (${f.note})`);
      }
      for (const f of unmapped) assert.equal(tlbLineFor(tlb, expect.mode, BigInt(f.va)), undefined, `${f.va} should be unmapped (${f.note})`);
    });

    it('gva2gpa translates every fact and alias, and reports the holes as unmapped', async () => {
      for (const f of mapped) {
        const r = parseGva2gpaResult(await run.hmp(`gva2gpa ${f.va}`));
        assert.deepEqual(r, { kind: 'mapped', pa: BigInt(f.pa!) }, `gva2gpa ${f.va} (${f.note})`);
      }
      for (const f of unmapped) {
        assert.deepEqual(parseGva2gpaResult(await run.hmp(`gva2gpa ${f.va}`)), { kind: 'unmapped' }, `gva2gpa ${f.va}`);
      }
      for (const a of expect.aliases ?? []) {
        assert.ok(a.vas.length >= 2);
        for (const va of a.vas) {
          assert.deepEqual(parseGva2gpaResult(await run.hmp(`gva2gpa ${va}`)), { kind: 'mapped', pa: BigInt(a.pa) }, `alias ${va}`);
        }
      }
    });

    // Not registered for 5-level: QEMU 7.2's info mem prints nothing for LA57 (and needs ~30 s to
    // do so); test/integration/x86/oracle.test.ts asserts that emptiness, so a QEMU that fixes it
    // fails there and this can be turned on. Effective rights of the 5-level layout are the same
    // facts as the 4-level twin's, which this test checks.
    (expect.mode === '5-level' ? () => undefined : it)('info mem gives each fact its effective user and write rights', async function () {
      const mem = parseInfoMemX86(await run.hmp('info mem'));
      assert.ok(mem.length > 5);
      for (const f of expect.facts) {
        const va = BigInt(f.va);
        const r = mem.find((m) => m.start <= va && va < m.end);
        if (f.mapped === false) {
          assert.equal(r, undefined, `${f.va} unmapped`);
          continue;
        }
        assert.ok(r, `info mem covers ${f.va}`);
        assert.equal(r.user, f.user, `${f.va} effective U (${f.note})`);
        assert.equal(r.write, f.effective![1] === 'w', `${f.va} effective W (${f.note})`);
        if (f.restrictedAt?.write) assert.equal(tlbLineFor(tlb, expect.mode, va)!.write, true, `${f.va}: the leaf itself is writable`);
        if (f.restrictedAt?.user) assert.equal(tlbLineFor(tlb, expect.mode, va)!.user, true, `${f.va}: the leaf itself is user`);
      }
    });

    it('dump() writes a plausible ELF core holding the same page tables as guest memory', async () => {
      const file = await run.dump();
      const st = fs.statSync(file);
      const ram = ramBytes(run.spec.qemu);
      assert.ok(st.size > ram && st.size < ram + 8 * 1024 * 1024, `core is ${st.size} bytes for ${ram} bytes of RAM`);
      const core = coreLayout(file);
      const longMode = expect.mode.endsWith('level');
      assert.equal(core.magic, '\x7fELF');
      assert.equal(core.type, 4, 'ET_CORE');
      // QEMU picks the machine from EFER.LMA at dump time (EM_X86_64 / EM_386) and ELFCLASS64 for
      // long mode or when a block ends above 4 GiB - with q35 the BIOS ROM ends exactly at 4 GiB,
      // so our 32-bit guests also give ELFCLASS64 cores with e_machine EM_386.
      assert.equal(core.cls, 2);
      assert.equal(core.machine, longMode ? 62 : 3);
      assert.ok(core.notes >= 1, 'a PT_NOTE with the CPU state');
      const dumped = core.loads.reduce((s, l) => s + l.filesz, 0);
      assert.ok(dumped >= ram, `PT_LOADs hold ${dumped} bytes`);
      // The root table in the core equals what the (paused) guest has in memory.
      const cr3 = regs.get('cr3')!;
      const root = expect.mode === 'PAE' ? cr3 & ~0x1fn : cr3 & ~0xfffn;
      const words = (await run.hmp(`xp /8wx ${hex(root)}`))
        .split(/\r?\n/)
        .flatMap((l) => [...l.replace(/^[^:]*:/, '').matchAll(/0x([0-9a-f]+)/g)].map((m) => parseInt(m[1], 16)));
      assert.equal(words.length, 8);
      const bytes = readPhys(file, core.loads, root, 32);
      assert.deepEqual(Array.from({ length: 8 }, (_, i) => bytes.readUInt32LE(i * 4)), words);
      assert.ok(words[0] & 1, 'the first root entry is present');
    });
  });
}
