// The CLI on QEMU's own dumps of x86-64-4level in every core format: plain ELF, kdump-zlib
// (flattened, as QEMU writes it; and unflattened, as `makedumpfile -R` would), and the same
// dump with LZO and snappy pages (Debian's QEMU 7.2 has no -l/-s: see test/harness/kdump.ts).
// Every leaf must be equal across formats and equal to QEMU's `info tlb` and `gva2gpa` at the
// moment of the dump; excluded, corrupt and truncated pages are errors for those pages only.
import assert from 'node:assert/strict';
import { recursiveWindows, outside } from '../../support/recursiveWindows';
import { openQemuCore } from '../../../src/core/sources/elfCore';
import { spaceFromRegisters } from '../../../src/core/formats';
import { TableStore } from '../../../src/core/walker';
import fs from 'node:fs';
import path from 'node:path';
import { parseGva2gpa, parseInfoRegisters, parseInfoTlb } from '../../harness/oracles';
import { asLinuxVmcore, layout, recompress, unflatten } from '../../harness/kdump';
import { GuestRun, bootGuest } from '../../harness/qemu';
import { ptview } from '../../support/cli';


interface Leaf {
  va: string;
  pa: string;
  entryPa: string;
  size: number;
}

describe('QEMU cores of x86-64-4level in every format (ELF, kdump zlib/LZO/snappy, flattened and plain)', function () {
  this.timeout(240000);
  let run: GuestRun;
  let efer: string;
  let cr3: bigint;
  const files: Record<string, string> = {};
  let tlb: ReturnType<typeof parseInfoTlb>;
  const probes = ['0xffffffff80001234', '0x80001234', '0x8000a05010', '0x1000'];
  const gpa = new Map<string, bigint | undefined>();
  const leavesOf = (file: string) => {
    const r = ptview(['dump', '--leaves', '--json', '--core', file, '--reg', `EFER=${efer}`]);
    assert.equal(r.code, 0, `${file}: ${r.err}`);
    return { text: r.out, leaves: r.out.trim().split('\n').map((l) => JSON.parse(l) as Leaf), err: r.err };
  };

  before(async () => {
    run = await bootGuest('x86-64-4level');
    await run.stop();
    const regs = parseInfoRegisters(await run.hmp('info registers'));
    efer = '0x' + regs.get('efer')!.toString(16);
    cr3 = regs.get('cr3')!;
    tlb = parseInfoTlb(await run.hmp('info tlb'));
    for (const va of probes) gpa.set(va, parseGva2gpa(await run.hmp(`gva2gpa ${va}`)));
    files.elf = await run.dump(path.join(run.dir, 'core.elf'));
    {
      // ptview does not descend a recursive slot (QEMU does): compare outside those windows.
      const core = await openQemuCore(files.elf);
      const windows = await recursiveWindows(spaceFromRegisters(core.arch, new Map([...core.registers, ['efer', BigInt(efer)]])), new TableStore(core.memory));
      await core.memory.close();
      assert.ok(windows.length === 0 || tlb.some((t) => !outside(windows)(t.va)), 'QEMU maps something through the recursive slot');
      tlb = tlb.filter((t) => outside(windows)(t.va));
    }
    files.zlibFlat = await run.dump(path.join(run.dir, 'core.kdump-zlib'), 'kdump-zlib');
    files.zlib = path.join(run.dir, 'plain.kdump-zlib');
    unflatten(files.zlibFlat, files.zlib);
    files.lzo = path.join(run.dir, 'core.kdump-lzo');
    recompress(files.zlib, files.lzo, 'lzo');
    files.snappy = path.join(run.dir, 'core.kdump-snappy');
    recompress(files.zlib, files.snappy, 'snappy');
  });
  after(async () => run?.kill());

  it('detects each format and lists the same CPU registers (CR3 as info registers)', () => {
    const want = { elf: 'elf', zlibFlat: 'kdump-flattened', zlib: 'kdump', lzo: 'kdump', snappy: 'kdump' } as Record<string, string>;
    for (const [k, f] of Object.entries(files)) {
      const r = ptview(['dump', '--core', f, '--list-cpus', '--json']);
      assert.equal(r.code, 0, r.err);
      const j = JSON.parse(r.out);
      assert.equal(j.format, want[k], k);
      assert.equal(j.arch, 'x86_64');
      assert.equal(j.cpus.length, 1);
      assert.equal(BigInt(j.cpus[0].registers.cr3), cr3, k);
      assert.ok('rip' in j.cpus[0].registers && 'rsp' in j.cpus[0].registers, k);
    }
    // The re-encoded dumps really hold LZO and snappy pages (flags 2 and 4), not raw ones.
    for (const [k, flag] of [['lzo', 2], ['snappy', 4]] as const) {
      const b = fs.readFileSync(files[k]);
      const l = layout(b);
      const n = l.dumped.filter((_, i) => b.readUInt32LE(l.descAt + i * 24 + 12) === flag).length;
      assert.ok(n > l.dumped.length / 2, `${k}: ${n} of ${l.dumped.length} pages compressed`);
    }
    const text = ptview(['dump', '--core', files.lzo, '--list-cpus']);
    assert.match(text.out, /kdump core, x86_64, 1 CPU\(s\)\nCPU 0 \(pr_pid 1\):\n {2}r15=/);
  });

  it('every leaf is equal across the five files and equal to info tlb', () => {
    const elf = leavesOf(files.elf);
    assert.equal(elf.leaves.length, tlb.length);
    const byVa = new Map(tlb.map((t) => ['0x' + t.va.toString(16), t]));
    for (const l of elf.leaves) assert.equal(BigInt(l.pa), byVa.get(l.va)?.pa, l.va);
    for (const k of ['zlibFlat', 'zlib', 'lzo', 'snappy']) {
      const other = leavesOf(files[k]);
      assert.equal(other.text, elf.text, `${k} gives the ELF core's leaves`);
    }
  });

  it('translate agrees with gva2gpa in every format', () => {
    for (const [k, f] of Object.entries(files)) {
      for (const va of probes) {
        const r = ptview(['translate', va, '--json', '--core', f, '--reg', `EFER=${efer}`]);
        const want = gpa.get(va);
        if (want === undefined) assert.equal(r.code, 1, `${k} ${va}`);
        else assert.equal(BigInt(JSON.parse(r.out).pa), want, `${k} ${va}`);
      }
    }
  });

  it('pages left out of the dump are "not in the dump", never zeros; the rest is still walked', () => {
    const full = leavesOf(files.elf).leaves;
    // Leave out one page table (the one holding the most 4K leaves) and nothing else.
    const counts = new Map<number, number>();
    for (const l of full) if (l.size === 4096) counts.set(Number(BigInt(l.entryPa) >> 12n), (counts.get(Number(BigInt(l.entryPa) >> 12n)) ?? 0) + 1);
    const [ptPfn, lost] = [...counts].sort((a, b) => b[1] - a[1])[0];
    const cut = path.join(run.dir, 'excluded.kdump');
    recompress(files.zlib, cut, 'lzo', (pfn) => pfn === ptPfn);
    const r = leavesOf(cut);
    assert.match(r.err, /1 RAM page\(s\) were left out of the dump/);
    assert.match(r.err, new RegExp(`not in the dump \\(page frame 0x${ptPfn.toString(16)} was excluded`));
    assert.equal(r.leaves.length, full.length - lost);
    assert.deepEqual(r.leaves, full.filter((l) => Number(BigInt(l.entryPa) >> 12n) !== ptPfn));
    const va = full.find((l) => Number(BigInt(l.entryPa) >> 12n) === ptPfn)!.va;
    const t = ptview(['translate', va, '--json', '--core', cut, '--reg', `EFER=${efer}`]);
    assert.notEqual(t.code, 0);
    assert.match(t.out + t.err, /not in the dump/);
  });

  it('a corrupt page and a truncated dump fail only their pages, with the reason', () => {
    const full = leavesOf(files.elf).leaves;
    const b = fs.readFileSync(files.zlib);
    const l = layout(b);
    const ptPfn = Number(BigInt(full.find((x) => x.size === 4096)!.entryPa) >> 12n);
    const i = l.dumped.indexOf(ptPfn);
    const off = Number(b.readBigUInt64LE(l.descAt + i * 24));
    const bad = Buffer.from(b);
    bad.fill(0xa5, off, off + 16);
    const corrupt = path.join(run.dir, 'corrupt.kdump');
    fs.writeFileSync(corrupt, bad);
    const r = leavesOf(corrupt);
    assert.match(r.err, new RegExp(`page descriptor ${i} \\(page frame 0x${ptPfn.toString(16)}\\): the zlib data is corrupt`));
    assert.ok(r.leaves.length > 0 && r.leaves.length < full.length);
    assert.ok(r.leaves.every((x) => Number(BigInt(x.entryPa) >> 12n) !== ptPfn));

    // Cut in the page data: the descriptors and early pages survive.
    const trunc = path.join(run.dir, 'truncated.kdump');
    fs.writeFileSync(trunc, b.subarray(0, off + 8));
    const t = leavesOf(trunc);
    assert.match(t.err, /past the end of the dump/);
    assert.ok(t.leaves.length > 0 && t.leaves.length < full.length, `${t.leaves.length} of ${full.length}`);
    // The flattened file cut short: its end marker is missing and that is said.
    const flat = fs.readFileSync(files.zlibFlat);
    const flatCut = path.join(run.dir, 'truncated-flat.kdump');
    fs.writeFileSync(flatCut, flat.subarray(0, Math.floor(flat.length * 0.9)));
    const ft = ptview(['dump', '--leaves', '--json', '--core', flatCut, '--reg', `EFER=${efer}`]);
    assert.equal(ft.code, 0, ft.err);
    assert.match(ft.err, /the flattened dump is truncated/);
  });

  it('corrupt kdump headers are refused with exit 3 naming the field', () => {
    const b = fs.readFileSync(files.zlib);
    const l = layout(b);
    const cases: [string, (x: Buffer) => void, RegExp][] = [
      ['block_size 0', (x) => x.writeUInt32LE(0, 428), /block_size = 0 is not a page size/],
      ['block_size 3000', (x) => x.writeUInt32LE(3000, 428), /block_size = 3000 is not a page size/],
      ['sub_hdr_size huge', (x) => x.writeUInt32LE(0x7fffffff, 432), /sub_hdr_size = 2147483647 blocks runs past the end/],
      ['bitmap_blocks huge', (x) => x.writeUInt32LE(0xfffffffe, 436), /bitmap_blocks = 4294967294 .* runs past the end/],
      ['bitmap_blocks odd', (x) => x.writeUInt32LE(3, 436), /bitmap_blocks = 3 must be a non-zero even number/],
      ['max_mapnr_64 2^62', (x) => x.writeBigUInt64LE(1n << 62n, l.blockSize + 96), /max_mapnr = 4611686018427387904 needs more bits than/],
      ['note size 2^40', (x) => x.writeBigUInt64LE(1n << 40n, l.blockSize + 56), /offset_note\/note_size .* runs past the end of the dump/],
      ['signature', (x) => x.write('KDUMQ', 0, 'latin1'), /is not a core ptview knows/],
    ];
    for (const [name, edit, re] of cases) {
      const x = Buffer.from(b.subarray(0, Math.min(b.length, 1 << 20)));
      edit(x);
      const f = path.join(run.dir, `hdr-${name.replace(/\W+/g, '-')}.kdump`);
      fs.writeFileSync(f, Buffer.concat([x, b.subarray(x.length)]));
      const r = ptview(['dump', '--core', f, '--reg', `EFER=${efer}`]);
      assert.equal(r.signal, null, name);
      assert.equal(r.code, 3, `${name}: ${r.err}`);
      assert.match(r.err, re, name);
      fs.rmSync(f);
    }
  });

  it('corrupt flattened records are refused with exit 3 naming the record', () => {
    const flat = fs.readFileSync(files.zlibFlat);
    const cases: [string, (x: Buffer) => void, RegExp][] = [
      ['buf_size 2^62', (x) => x.writeBigInt64BE(1n << 62n, 4096 + 8), /flattened record 0 at file offset 4096: offset = 0, buf_size = 4611686018427387904 is out of range/],
      ['offset -5', (x) => x.writeBigInt64BE(-5n, 4096), /flattened record 0 at file offset 4096: offset = -5/],
      ['type 7', (x) => x.writeBigInt64BE(7n, 16), /flattened-format header type = 7, expected 1/],
    ];
    for (const [name, edit, re] of cases) {
      const x = Buffer.from(flat);
      edit(x);
      const f = path.join(run.dir, `flat-${name.replace(/\W+/g, '-')}.kdump`);
      fs.writeFileSync(f, x);
      const r = ptview(['dump', '--core', f, '--reg', `EFER=${efer}`]);
      assert.equal(r.signal, null, name);
      assert.equal(r.code, 3, `${name}: ${r.err}`);
      assert.match(r.err, re, name);
      fs.rmSync(f);
    }
  });

  it('a Linux-style vmcore without control registers: the root comes from VMCOREINFO and the leaves equal info tlb', () => {
    // The guest is not Linux: its symbol values are made up, but the arithmetic is Linux's:
    // init_top_pgt's run-time VA in the kernel image mapping, minus __START_KERNEL_map, plus
    // phys_base, must be CR3's table. Here phys_base is 1 MiB (a kernel loaded 1 MiB above its
    // link address), so the symbol differs from the table's PA + __START_KERNEL_map.
    const table = cr3 & ~0xfffn;
    const physBase = 0x100000n;
    const vmcoreinfo = `OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(init_top_pgt)=${(0xffffffff80000000n + table - physBase).toString(16)}\nNUMBER(phys_base)=${physBase}\nNUMBER(pgtable_l5_enabled)=0\nKERNELOFFSET=0\n`;
    const vm = path.join(run.dir, 'linux.vmcore');
    // With a kernel-text PT_LOAD over RAM 1-3 MiB, as Linux writes it (the tables are inside).
    asLinuxVmcore(files.elf, vm, vmcoreinfo, { paddr: 0x100000n, size: 0x200000 });
    const list = JSON.parse(ptview(['dump', '--core', vm, '--list-cpus', '--json']).out);
    assert.equal(list.cpus[0].registers.cr3, undefined, 'no control registers in the vmcore');
    assert.equal(list.vmcoreinfo, true);
    const r = ptview(['dump', '--leaves', '--json', '--core', vm]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`note: root from VMCOREINFO: CR3 = SYMBOL\\(init_top_pgt\\) .* = 0x${table.toString(16)} `));
    const leaves = r.out.trim().split('\n').map((l) => JSON.parse(l) as Leaf);
    const byVa = new Map(tlb.map((t) => ['0x' + t.va.toString(16), t]));
    assert.equal(leaves.length, tlb.length);
    for (const l of leaves) assert.equal(BigInt(l.pa), byVa.get(l.va)?.pa, l.va);
    const a = ptview(['audit', '--json', '--core', vm]);
    assert.equal(a.code, 0, a.err);
    assert.match(JSON.parse(a.out).summary, /^Checked W\+X mappings/);
  });
});

// Other architectures and 32-bit x86: QEMU writes utsname.machine "Unknown" for its arm targets
// and the 64-bit header with i386 notes for a 32-bit guest of qemu-system-x86_64; the
// architecture then comes from the NT_PRSTATUS size.
for (const [name, arch] of [['x86-32', 'x86'], ['riscv-sv39', 'riscv64'], ['aarch64-4k', 'aarch64']] as const) {
  describe(`QEMU kdump-zlib of ${name} equals its ELF core`, function () {
    this.timeout(180000);
    let run: GuestRun;
    let elf: string;
    let kd: string;
    let regArgs: string[] = [];
    before(async () => {
      run = await bootGuest(name);
      await run.stop();
      const regs = parseInfoRegisters(await run.hmp('info registers'));
      if (arch === 'riscv64') regArgs = ['--reg', `satp=0x${regs.get('satp')!.toString(16)}`, '--reg', `mstatus=0x${regs.get('mstatus')!.toString(16)}`];
      elf = await run.dump(path.join(run.dir, 'core.elf'));
      kd = await run.dump(path.join(run.dir, 'core.kdump'), 'kdump-zlib');
    });
    after(async () => run?.kill());

    it(`is read as ${arch} with the same CPU registers`, () => {
      const a = JSON.parse(ptview(['dump', '--core', elf, '--list-cpus', '--json']).out);
      const b = JSON.parse(ptview(['dump', '--core', kd, '--list-cpus', '--json']).out);
      assert.equal(a.arch, arch);
      assert.equal(b.arch, arch);
      assert.equal(b.format, 'kdump-flattened');
      assert.deepEqual(b.cpus, a.cpus);
      assert.ok(Object.keys(b.cpus[0].registers).includes('pc'));
    });

    if (arch !== 'aarch64') {
      it('gives the same leaves as the ELF core', () => {
        const a = ptview(['dump', '--leaves', '--json', '--core', elf, ...regArgs]);
        const b = ptview(['dump', '--leaves', '--json', '--core', kd, ...regArgs]);
        assert.equal(a.code, 0, a.err);
        assert.ok(a.out.split('\n').length > 5);
        assert.equal(b.out, a.out);
      });
    }
  });
}

describe('a two-CPU QEMU core: --list-cpus and --cpu', function () {
  this.timeout(180000);
  let run: GuestRun;
  let cpu0: Map<string, bigint>;
  let cpu1: Map<string, bigint>;
  const files: string[] = [];
  before(async () => {
    run = await bootGuest('x86-64-4level', { extraArgs: ['-smp', '2'] });
    await run.stop();
    cpu0 = parseInfoRegisters(await run.hmp('info registers'));
    cpu1 = parseInfoRegisters(await run.hmp('info registers -a').then((t) => t.slice(t.indexOf('CPU#1'))));
    files.push(await run.dump(path.join(run.dir, 'core.elf')), await run.dump(path.join(run.dir, 'core.kdump'), 'kdump-zlib'));
  });
  after(async () => run?.kill());

  it('lists both CPUs with their own control registers, in both formats', () => {
    for (const f of files) {
      const j = JSON.parse(ptview(['dump', '--core', f, '--list-cpus', '--json']).out);
      assert.equal(j.cpus.length, 2, f);
      assert.equal(BigInt(j.cpus[0].registers.cr3), cpu0.get('cr3'));
      assert.equal(BigInt(j.cpus[1].registers.cr0), cpu1.get('cr0'));
      assert.equal(BigInt(j.cpus[1].registers.cr3), cpu1.get('cr3'));
      assert.equal(BigInt(j.cpus[1].registers.rip), cpu1.get('rip') ?? cpu1.get('eip'), 'RIP of CPU 1');
    }
  });

  it('--cpu picks the registers; a CPU without paging says so; a missing CPU is a usage error', () => {
    const efer = `EFER=0x${cpu0.get('efer')!.toString(16)}`;
    assert.equal(ptview(['dump', '--core', files[1], '--cpu', '0', '--reg', efer]).code, 0);
    const one = ptview(['dump', '--core', files[1], '--cpu', '1', '--reg', efer]);
    if ((cpu1.get('cr0')! & 0x80000000n) === 0n) {
      assert.equal(one.code, 2, one.err);
      assert.match(one.err, /paging is disabled \(CR0.PG=0\)/);
    } else assert.equal(one.code, 0, one.err);
    const two = ptview(['dump', '--core', files[1], '--cpu', '2']);
    assert.equal(two.code, 2);
    assert.match(two.err, /--cpu 2: the core holds 2 CPU\(s\)/);
  });
});
