// The CLI on real Linux vmcores: QEMU's own dump-guest-memory of Debian's kernels (the guests of
// test/harness/linux.ts), plain ELF and kdump-zlib (flattened, as QEMU 7.2 writes it, and
// unflattened), plus the same dump with LZO and snappy pages (Debian's QEMU 7.2 offers only elf,
// kdump-zlib and win-dmp: `query-dump-guest-memory-capability`, so those two are re-encoded from
// the zlib dump: test/harness/kdump.ts). No register is given: the root must come from the
// kernel's VMCOREINFO note.
// - x86_64 and arm64: `-device vmcoreinfo`; the guest's qemu_fw_cfg driver hands the note to QEMU
//   (drivers/firmware/qemu_fw_cfg.c), which writes it into the dump (QEMU dump/dump.c). QEMU's x86
//   CPU-state note (CR0-CR4) is hidden, as a kdump kernel's /proc/vmcore has none.
// - riscv64: QEMU 7.2 refuses -device vmcoreinfo on virt ("requires fw_cfg with DMA": the machine
//   creates its fw_cfg only when the machine is done, after -device realizes, and the device is not
//   hot-pluggable), so the note is read from the guest's RAM where /sys/kernel/vmcoreinfo says it
//   is and added as kexec-tools / makedumpfile would (a PT_NOTE; the kdump sub-header's
//   offset_vmcoreinfo).
// Oracles, all at the moment of the dump: `info registers` (CR3, satp), gdb-multiarch on QEMU's
// gdbstub (TTBR1_EL1), `info tlb`, `gva2gpa`, `xp`, /proc/kallsyms as the guest printed it.
// Why the root is not the CPU's root register itself: CR3 / satp hold the current process's
// top-level table (x86 KPTI: its kernel PGD in the kernel, + 4 KiB in user mode), whose kernel half
// is a copy of init_top_pgt's / swapper_pg_dir's (x86 pgd_ctor, riscv pgd_alloc), so the tests
// check that VMCOREINFO names the table at the symbol's PA and that the two kernel halves hold the
// same entries. On arm64 TTBR1_EL1 is swapper_pg_dir itself, except under KPTI at EL0 and in the
// trampoline (its own table), so there it is read at EL1 with the kernel's table loaded.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { hex } from '../../../src/core/addr';
import { addKdumpVmcoreinfo, asLinuxVmcore, hideQemuNotes, layout, recompress, unflatten, vmcoreinfoText } from '../../harness/kdump';
import { LinuxRun, bootLinux, sharedLinux } from '../../harness/linux';
import { ptview as runCli } from '../../support/cli';
import { gva2gpaMany, lcg, leafProbeOffsets, parseGva2gpa, parseInfoRegisters, parseInfoTlb, probesAround } from '../../harness/oracles';
import { gdbRegisters } from '../aarch64/gdbRegisters';

const M64 = (1n << 64n) - 1n;
const kernelHalf = (va: bigint) => va >> 63n === 1n;

const ptview = (args: string[]) => runCli(args, { timeoutMs: 300000 });

interface Leaf {
  va: string;
  pa: string;
  entryPa: string;
  size: number;
  read: boolean;
  user: boolean;
}

type Format = 'elf' | 'zlibFlat' | 'zlib' | 'lzo' | 'snappy';
const FORMAT: Record<Format, string> = { elf: 'elf', zlibFlat: 'kdump-flattened', zlib: 'kdump', lzo: 'kdump', snappy: 'kdump' };

function leavesOf(file: string): { text: string; leaves: Leaf[]; err: string } {
  const r = ptview(['dump', '--leaves', '--json', '--core', file]);
  assert.equal(r.code, 0, `${file}: ${r.err}`);
  return { text: r.out, leaves: r.out.trim().split('\n').map((l) => JSON.parse(l) as Leaf), err: r.err };
}

function listCpus(file: string) {
  const r = ptview(['dump', '--core', file, '--list-cpus', '--json']);
  assert.equal(r.code, 0, `${file}: ${r.err}`);
  return JSON.parse(r.out) as { format: string; arch: string; cpus: { registers: Record<string, string> }[]; vmcoreinfo: boolean; vmcoreinfoRoot?: string };
}

/** The root table's PA in --list-cpus' `vmcoreinfoRoot` note (src/core/sources/vmcoreinfo.ts). */
function rootPa(note: string): bigint {
  const m = /CR3 = .* = (0x[0-9a-f]+) \(|TTBR1_EL1 = .* = (0x[0-9a-f]+);|with root .* = (0x[0-9a-f]+)/.exec(note);
  assert.ok(m, note);
  return BigInt(m[1] ?? m[2] ?? m[3]);
}

/** What the leaves map `vas` to ('unmapped' outside every leaf), by binary search on sorted VAs. */
function translateAll(leaves: readonly Leaf[], vas: readonly bigint[]): string[] {
  const ls = leaves.map((l) => ({ va: BigInt(l.va), pa: BigInt(l.pa), size: BigInt(l.size) })).sort((a, b) => (a.va < b.va ? -1 : a.va > b.va ? 1 : 0));
  return vas.map((v) => {
    let lo = 0;
    let hi = ls.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (ls[mid].va + ls[mid].size <= v) lo = mid + 1;
      else if (ls[mid].va > v) hi = mid - 1;
      else return hex(ls[mid].pa + (v - ls[mid].va));
    }
    return 'unmapped';
  });
}

/** `xp /Ngx PA`: N 64-bit words as QEMU reads them. */
async function xp(run: LinuxRun, pa: bigint, n: number): Promise<string[]> {
  const out: string[] = [];
  for (const m of (await run.hmp(`xp /${n}gx 0x${pa.toString(16)}`)).matchAll(/0x[0-9a-f]{16}/g)) out.push(m[0]);
  assert.equal(out.length, n);
  return out;
}

/**
 * The paused guest dumped in every format, into <run.dir>/vmcore-<tag>.*: QEMU writes ELF and
 * kdump-zlib (and LZO/snappy when it can), the rest is derived; `finish` turns each QEMU dump into
 * the Linux vmcore under test.
 */
async function dumpFormats(run: LinuxRun, tag: string, finish: (f: Format, src: string, dst: string) => void): Promise<{ qemu: Record<Format, string>; vmcore: Record<Format, string>; all: string[] }> {
  const at = (n: string) => path.join(run.dir, `vmcore-${tag}.${n}`);
  const caps = ((await run.qmp('query-dump-guest-memory-capability')) as { formats: string[] }).formats;
  const qemu = {} as Record<Format, string>;
  qemu.elf = await run.dump(at('qemu.elf'));
  qemu.zlibFlat = await run.dump(at('qemu.kdump-zlib-flat'), 'kdump-zlib');
  qemu.zlib = at('qemu.kdump-zlib');
  unflatten(qemu.zlibFlat, qemu.zlib);
  for (const [k, codec] of [['lzo', 'kdump-lzo'], ['snappy', 'kdump-snappy']] as const) {
    qemu[k] = at(`qemu.${codec}`);
    if (caps.includes(codec)) unflatten(await run.dump(at(`qemu.${codec}-flat`), codec), qemu[k]);
    else recompress(qemu.zlib, qemu[k], k);
  }
  const vmcore = {} as Record<Format, string>;
  for (const k of Object.keys(qemu) as Format[]) finish(k, qemu[k], (vmcore[k] = at(`${k}.vmcore`)));
  return { qemu, vmcore, all: fs.readdirSync(run.dir).filter((f) => f.startsWith(`vmcore-${tag}.`)).map((f) => path.join(run.dir, f)) };
}

/** Checks shared by every architecture: leaves equal across formats, the note, audit. */
function commonChecks(ctx: () => { vmcore: Record<Format, string>; symbolNote: RegExp }) {
  it('each format reads as a Linux vmcore: no root register, VMCOREINFO present, one root from it', () => {
    const { vmcore, symbolNote } = ctx();
    const roots = new Set<string>();
    for (const [k, f] of Object.entries(vmcore) as [Format, string][]) {
      const j = listCpus(f);
      assert.equal(j.format, FORMAT[k], k);
      assert.equal(j.vmcoreinfo, true, k);
      for (const r of ['cr3', 'ttbr0_el1', 'ttbr1_el1', 'satp']) assert.equal(j.cpus[0].registers[r], undefined, `${k}: ${r} in the core`);
      assert.match(j.vmcoreinfoRoot!, symbolNote, k);
      roots.add(j.vmcoreinfoRoot!);
    }
    assert.equal(roots.size, 1, [...roots].join('\n'));
  });

  it('every leaf is equal across the five formats, walked from the root VMCOREINFO gives (the note says so)', () => {
    const { vmcore, symbolNote } = ctx();
    const elf = leavesOf(vmcore.elf);
    assert.match(elf.err, /note: root from VMCOREINFO: /);
    assert.match(elf.err, symbolNote);
    assert.ok(elf.leaves.length > 1000, `${elf.leaves.length} leaves`);
    for (const k of ['zlibFlat', 'zlib', 'lzo', 'snappy'] as const) {
      const other = leavesOf(vmcore[k]);
      assert.match(other.err, /note: root from VMCOREINFO: /, k);
      assert.ok(other.text === elf.text, `${k} gives the ELF vmcore's ${elf.leaves.length} leaves (${other.leaves.length})`);
    }
  });

  it('`ptview audit --core vmcore` needs nothing else: root from VMCOREINFO, no W+X in the kernel', () => {
    const { vmcore } = ctx();
    for (const k of ['elf', 'zlibFlat'] as const) {
      const a = ptview(['audit', '--json', '--core', vmcore[k]]);
      assert.equal(a.code, 0, `${k}: ${a.err}`);
      assert.match(a.err, /note: root from VMCOREINFO: /);
      const j = JSON.parse(a.out) as { summary: string; findings: { kind: string }[] };
      assert.match(j.summary, /^Checked W\+X mappings/);
      assert.deepEqual(j.findings.filter((f) => f.kind === 'w+x'), [], j.summary);
    }
  });

  it('a corrupt page, a truncated dump and bad headers of the real dump: exit 3 naming the field, or only the pages hit are lost', () => {
    const { vmcore } = ctx();
    const full = leavesOf(vmcore.elf).leaves;
    const b = fs.readFileSync(vmcore.zlib);
    const l = layout(b);
    // Page frames of block_size (QEMU's arm64 dumps have 64 KiB frames: several tables each).
    const frame = (x: Leaf) => Number(BigInt(x.entryPa) / BigInt(l.blockSize));
    // The frame holding the most 4 KiB leaves' tables, corrupted: its leaves are lost (exactly
    // those with 4 KiB frames, where it is one last-level table), the rest is walked.
    const counts = new Map<number, number>();
    for (const x of full) if (x.size === 4096) counts.set(frame(x), (counts.get(frame(x)) ?? 0) + 1);
    const [ptPfn] = [...counts].sort((p, q) => q[1] - p[1])[0];
    const lost = full.filter((x) => frame(x) === ptPfn).length;
    const i = l.dumped.indexOf(ptPfn);
    const off = Number(b.readBigUInt64LE(l.descAt + i * 24));
    const flags = b.readUInt32LE(l.descAt + i * 24 + 12);
    const dir = path.dirname(vmcore.zlib);
    const bad = Buffer.from(b);
    bad.fill(0xa5, off, off + 16);
    const corrupt = path.join(dir, 'vmcore-corrupt.kdump');
    fs.writeFileSync(corrupt, bad);
    try {
      const r = leavesOf(corrupt);
      if (flags & 1) assert.match(r.err, new RegExp(`page descriptor ${i} \\(page frame 0x${ptPfn.toString(16)}\\): the zlib data is corrupt`));
      const kept = full.filter((x) => frame(x) !== ptPfn);
      if (l.blockSize === 4096) assert.deepEqual(r.leaves, kept, `${lost} leaves in page frame 0x${ptPfn.toString(16)} (flags ${flags})`);
      else {
        // Tables in the same frame that lead to other frames' tables take those leaves along.
        const keptText = new Set(kept.map((x) => JSON.stringify(x)));
        assert.ok(r.leaves.every((x) => keptText.has(JSON.stringify(x))), 'only leaves outside the frame, unchanged');
        assert.ok(r.leaves.length > full.length / 2 && r.leaves.length <= kept.length, `${r.leaves.length} of ${full.length} leaves, ${lost} in the frame`);
      }

      // Cut where the highest page table's data starts (page data is in frame order): the root
      // and the tables below the cut are still walked.
      const tables = [...new Set(full.map(frame))].sort((p, q) => p - q);
      const cutPfn = tables[tables.length - 1];
      const mid = Number(b.readBigUInt64LE(l.descAt + l.dumped.indexOf(cutPfn) * 24));
      fs.writeFileSync(corrupt, b.subarray(0, mid));
      if (b.readBigUInt64LE(l.blockSize + 32) < BigInt(mid)) {
        const t = leavesOf(corrupt);
        assert.match(t.err, /past the end of the dump/);
        assert.ok(t.leaves.length > 0 && t.leaves.length < full.length, `${t.leaves.length} of ${full.length}`);
      } else {
        // VMCOREINFO stored after the pages (riscv64 here) is cut off with them: no root, said so.
        const t = ptview(['dump', '--core', corrupt]);
        assert.equal(t.code, 3, t.err);
        assert.match(t.err, /offset_vmcoreinfo\/size_vmcoreinfo .* runs past the end of the dump/);
      }

      const cases: [string, (x: Buffer) => void, RegExp][] = [
        ['block_size 3000', (x) => x.writeUInt32LE(3000, 428), /block_size = 3000 is not a page size/],
        ['offset_vmcoreinfo past the end', (x) => x.writeBigUInt64LE(BigInt(b.length) + 4096n, l.blockSize + 32), /offset_vmcoreinfo\/size_vmcoreinfo .* runs past the end of the dump/],
        ['size_vmcoreinfo 2^62', (x) => x.writeBigUInt64LE(1n << 62n, l.blockSize + 40), /offset_vmcoreinfo\/size_vmcoreinfo .* runs past the end of the dump/],
        ['offset_note past the end', (x) => x.writeBigUInt64LE(BigInt(b.length), l.blockSize + 48), /offset_note\/note_size .* runs past the end of the dump/],
      ];
      for (const [name, edit, re] of cases) {
        const x = Buffer.from(b);
        edit(x);
        fs.writeFileSync(corrupt, x);
        const r2 = ptview(['dump', '--core', corrupt]);
        assert.equal(r2.signal, null, name);
        assert.equal(r2.code, 3, `${name}: ${r2.err}`);
        assert.match(r2.err, re, name);
      }
    } finally {
      fs.rmSync(corrupt, { force: true });
    }
  });
}

for (const [variant, levels] of [['x86_64-4level', 4], ['x86_64-5level', 5]] as const) {
  describe(`real Linux vmcores of ${variant} (KASLR, KPTI): root from VMCOREINFO, every format, info tlb`, function () {
    this.timeout(900000);
    let run: LinuxRun;
    let files: Awaited<ReturnType<typeof dumpFormats>>;
    let cr3: bigint;
    let tlb: ReturnType<typeof parseInfoTlb>;
    let symPa: bigint | undefined;
    let root: bigint;
    let halves: { current: string[]; vmcoreinfo: string[] };
    const probes: { va: bigint; pa: bigint | undefined }[] = [];

    before(async () => {
      const t0 = Date.now();
      run = await sharedLinux(variant);
      // In the kernel on the user program's behalf: CR3 is its kernel PGD (bit 12 clear).
      const regs = parseInfoRegisters(await run.stopInKernel());
      cr3 = regs.get('cr3')!;
      tlb = parseInfoTlb(await run.hmp('info tlb')).filter((t) => kernelHalf(t.va));
      symPa = parseGva2gpa(await run.hmp(`gva2gpa 0x${run.kernelInfo.symbol('init_top_pgt')!.toString(16)}`));
      const next = lcg(0x7ec0de14n);
      for (let i = 0; i < 6; i++) {
        const t = tlb[Number(next() % BigInt(tlb.length))];
        const va = t.va + (next() & 0xff8n);
        probes.push({ va, pa: parseGva2gpa(await run.hmp(`gva2gpa 0x${va.toString(16)}`)) });
      }
      files = await dumpFormats(run, variant, (_, src, dst) => assert.equal(hideQemuNotes(src, dst), 1, `one QEMU CPU note in ${src}`));
      root = rootPa(listCpus(files.vmcore.elf).vmcoreinfoRoot!);
      // The kernel half (PML4 entries 256-511) of both tables, as QEMU reads them at this stop.
      halves = { current: await xp(run, (cr3 & ~0x1fffn) + 0x800n, 256), vmcoreinfo: await xp(run, root + 0x800n, 256) };
      console.log(`      (${variant}: guest stopped, dumped in 5 formats and asked in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    });
    after(async () => {
      for (const f of files?.all ?? []) fs.rmSync(f, { force: true });
      await run?.stopInUser(); // as sharedLinux hands it out
    });

    it('qemu_fw_cfg handed the note over: the QEMU dump itself has VMCOREINFO and CR3 as info registers says', () => {
      assert.ok(run.kernelInfo.fwCfgVmcoreinfo, 'fw_cfg lists etc/vmcoreinfo');
      assert.deepEqual(run.kernelInfo.insmodFailed, []);
      const j = listCpus(files.qemu.elf);
      assert.equal(j.vmcoreinfo, true);
      assert.equal(BigInt(j.cpus[0].registers.cr3), cr3);
    });

    // 5-level: NUMBER(pgtable_l5_enabled)=1 (arch/x86/kernel/machine_kexec_64.c) picks LA57.
    const mode = levels === 5 ? '5-level from NUMBER\\(pgtable_l5_enabled\\)=1' : '4-level';
    commonChecks(() => ({ vmcore: files.vmcore, symbolNote: new RegExp(`CR3 = SYMBOL\\(init_top_pgt\\) 0x[0-9a-f]+ - __START_KERNEL_map 0xffffffff80000000 \\+ NUMBER\\(phys_base\\) 0x[0-9a-f]+ = 0x[0-9a-f]+ \\(the kernel's init_top_pgt, ${mode};.*KERNELOFFSET=[0-9a-f]+ is already in the SYMBOL values`) }));

    it('the root is init_top_pgt where QEMU translates the symbol, and its kernel half is CR3\'s (the process PGD)', () => {
      const note = listCpus(files.vmcore.elf).vmcoreinfoRoot!;
      // The note's symbol is the one the running kernel reports in /proc/kallsyms (KASLR applied).
      assert.match(note, new RegExp(`SYMBOL\\(init_top_pgt\\) ${hex(run.kernelInfo.symbol('init_top_pgt')!)} `));
      assert.equal(hex(root), hex(symPa!));
      assert.equal(cr3 & 0x1000n, 0n, 'stopped with the KPTI kernel PGD loaded');
      assert.notEqual(hex(cr3 & ~0xfffn), hex(root), 'CR3 is the process PGD, not init_top_pgt');
      assert.deepEqual(halves.vmcoreinfo, halves.current);
      assert.ok(halves.current.filter((e) => BigInt(e) & 1n).length >= 5, 'kernel half populated');
    });

    it('the leaves are exactly info tlb\'s kernel half (VA, PA), and translate agrees with gva2gpa', () => {
      const { leaves } = leavesOf(files.vmcore.zlibFlat);
      assert.equal(leaves.length, tlb.length);
      const byVa = new Map(tlb.map((t) => [t.va, t]));
      for (const l of leaves) assert.equal(hex(BigInt(l.pa)), hex(byVa.get(BigInt(l.va))?.pa ?? -1n), l.va);
      for (const k of ['elf', 'lzo'] as const) {
        for (const p of probes) {
          const r = ptview(['translate', hex(p.va), '--json', '--core', files.vmcore[k]]);
          assert.equal(r.code, 0, r.err);
          assert.equal(hex(BigInt(JSON.parse(r.out).pa)), hex(p.pa!), `${k} ${hex(p.va)}`);
        }
      }
    });
  });
}

const BADDR = 0x0000fffffffffffen; // TTBR BADDR (bits 47:1); the ASID is in 63:48

/** TTBR1_EL1 and TCR_EL1 read by gdb-multiarch (attaching stops the guest, detaching lets it run)
 * while TTBR1 holds the kernel's tables: under KPTI, at EL1 and not the trampoline's table that
 * TTBR1 holds at EL0 (arch/arm64/kernel/entry.S tramp_*); without KPTI at any stop. Also returns
 * the EL0 value seen (the trampoline's, under KPTI). */
async function kernelTtbr1(run: LinuxRun, kpti: boolean): Promise<{ regs: Map<string, bigint | undefined>; el0?: bigint }> {
  let el0: bigint | undefined;
  for (let i = 0; i < 200; i++) {
    const g = await gdbRegisters(run.gdbPort!, ['TTBR1_EL1', 'TCR_EL1', 'cpsr']);
    const el = Number((g.get('cpsr')! >> 2n) & 3n);
    if (el === 0) el0 = g.get('ttbr1_el1');
    if (!kpti) return { regs: g, el0 };
    if (el === 1 && el0 !== undefined && (g.get('ttbr1_el1')! & BADDR) !== (el0 & BADDR)) return { regs: g, el0 };
  }
  throw new Error(`${run.variant}: gdb never caught TTBR1 at EL1 apart from the EL0 value`);
}

for (const [variant, kpti] of [['arm64-max', false], ['arm64-kpti', true]] as const) {
  describe(`real Linux vmcores of ${variant} (KASLR${kpti ? ', KPTI' : ''}): root from VMCOREINFO = TTBR1_EL1, every format, gva2gpa`, function () {
    this.timeout(900000);
    let run: LinuxRun;
    let files: Awaited<ReturnType<typeof dumpFormats>>;
    let before1: Awaited<ReturnType<typeof kernelTtbr1>>;
    let after1: Awaited<ReturnType<typeof kernelTtbr1>>;
    let probeVas: bigint[];
    let theirs: string[];

    before(async () => {
      const t0 = Date.now();
      run = await sharedLinux(variant);
      // The kernel's TTBR1 table is swapper_pg_dir at every such stop (TCR_EL1.A1=1: only the ASID
      // in bits 63:48 changes): read before and after the dump.
      before1 = await kernelTtbr1(run, kpti);
      // Dumped at EL1 with the kernel's tables loaded (KPTI: not in the trampoline), where gva2gpa
      // answers for kernel addresses: _stext must translate.
      const stext = run.kernelInfo.symbol('_stext')!;
      await run.stopInKernel();
      for (let i = 0; parseGva2gpa(await run.hmp(`gva2gpa 0x${stext.toString(16)}`)) === undefined; i++) {
        if (i > 50) throw new Error(`${variant}: never stopped at EL1 with the kernel's TTBR1`);
        await run.cont();
        await run.stopInKernel();
      }
      files = await dumpFormats(run, variant, (_, src, dst) => fs.copyFileSync(src, dst));
      const { leaves } = leavesOf(files.vmcore.elf);
      const va = (l: Leaf) => BigInt(l.va);
      const step = Math.max(1, Math.floor(leaves.length / 1500));
      probeVas = [];
      leaves.forEach((l, i) => {
        if (i % step === 0) for (const off of leafProbeOffsets(BigInt(l.size), i + 1, 1)) probeVas.push((va(l) + off) & M64);
      });
      probeVas.push(...probesAround(leaves.map((l) => ({ va: va(l), size: BigInt(l.size) })), 600, lcg(0xa64c0e14n)));
      theirs = (await gva2gpaMany(run.hmp, probeVas)).map((q) => (q.kind === 'mapped' ? hex(q.pa) : q.kind === 'unmapped' ? 'unmapped' : `error: ${q.message}`));
      after1 = await kernelTtbr1(run, kpti);
      console.log(`      (${variant}: guest stopped, dumped in 5 formats and ${probeVas.length} VAs asked in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    });
    after(async () => {
      for (const f of files?.all ?? []) fs.rmSync(f, { force: true });
      await run?.stopInUser();
    });

    it('qemu_fw_cfg handed the note over; QEMU\'s arm64 dump has no TTBR (so VMCOREINFO is the only root)', () => {
      assert.ok(run.kernelInfo.fwCfgVmcoreinfo, 'fw_cfg lists etc/vmcoreinfo');
      assert.equal(listCpus(files.qemu.elf).vmcoreinfo, true);
    });

    commonChecks(() => ({ vmcore: files.vmcore, symbolNote: /TTBR1_EL1 = SYMBOL\(swapper_pg_dir\) 0x[0-9a-f]+ - NUMBER\(kimage_voffset\) 0x[0-9a-f]+ = 0x[0-9a-f]+; TCR_EL1 0x[0-9a-f]+ built from NUMBER\((VA_BITS\)=48|TCR_EL1_T1SZ\)=16) and PAGESIZE=4096/ }));

    it('the root is TTBR1_EL1\'s table (gdb-multiarch before and after the dump), T1SZ and TG1 as TCR_EL1', () => {
      const note = listCpus(files.vmcore.elf).vmcoreinfoRoot!;
      const root = rootPa(note);
      const ttbr1 = before1.regs.get('ttbr1_el1')!;
      assert.equal(hex(ttbr1 & BADDR), hex(after1.regs.get('ttbr1_el1')! & BADDR));
      assert.equal(hex(root), hex(ttbr1 & BADDR));
      // KPTI: at EL0 TTBR1 holds the trampoline's table, which is not the root VMCOREINFO names.
      if (kpti) assert.notEqual(hex(before1.el0! & BADDR), hex(root));
      const tcr = BigInt(/TCR_EL1 (0x[0-9a-f]+)/.exec(note)![1]);
      const t1 = (v: bigint) => [(v >> 16n) & 0x3fn, (v >> 30n) & 3n].map(String).join(' ');
      assert.equal(t1(tcr), t1(before1.regs.get('tcr_el1')!), 'T1SZ TG1');
    });

    it('translates several offsets of every kernel leaf (sampled) and 600 probes around them like gva2gpa', () => {
      const rows = (a: string[]) => a.map((x, i) => `${hex(probeVas[i])} -> ${x}`);
      // One translate per VA would be thousands of processes: the leaves are the walk's answer.
      const ours = translateAll(leavesOf(files.vmcore.snappy).leaves, probeVas);
      assert.deepEqual(rows(ours), rows(theirs));
      assert.ok(theirs.filter((t) => t !== 'unmapped').length > 3000, `${probeVas.length} probes`);
    });
  });
}

for (const [variant, mode, satpMode] of [['riscv64-sv39', 'Sv39', 8], ['riscv64-sv48', 'Sv48', 9], ['riscv64-sv57', 'Sv57', 10]] as const) {
  describe(`real Linux vmcores of ${variant}: the kernel's own VMCOREINFO note, root = satp's kernel half, gva2gpa`, function () {
    this.timeout(900000);
    let run: LinuxRun;
    let files: Awaited<ReturnType<typeof dumpFormats>>;
    let satp: bigint;
    let text: string;
    let symPa: bigint | undefined;
    let halves: { current: string[]; vmcoreinfo: string[] };
    let probeVas: bigint[];
    let theirs: string[];

    before(async () => {
      const t0 = Date.now();
      // A guest of its own: the shared riscv64 guest is handed out stopped in user mode, which it
      // may never reach (see riscv64.test.ts); a dump needs no particular mode.
      run = await bootLinux(variant);
      satp = parseInfoRegisters(await run.stopInKernel()).get('satp')!;
      const note = run.kernelInfo.vmcoreinfoNote!;
      assert.ok(note, 'the guest printed /sys/kernel/vmcoreinfo');
      const noteFile = path.join(run.dir, 'vmcoreinfo.note');
      await run.hmp(`pmemsave 0x${note.pa.toString(16)} ${note.size} "${noteFile}"`);
      text = vmcoreinfoText(fs.readFileSync(noteFile));
      // The dump before any gva2gpa: QEMU 7.2's riscv debug walk sets A bits.
      files = await dumpFormats(run, variant, (k, src, dst) => (k === 'elf' ? asLinuxVmcore(src, dst, text) : addKdumpVmcoreinfo(src, dst, text)));
      const root = rootPa(listCpus(files.vmcore.elf).vmcoreinfoRoot!);
      halves = { current: await xp(run, (satp & 0xfffffffffffn) << 12n | 0x800n, 256), vmcoreinfo: await xp(run, root + 0x800n, 256) };
      symPa = parseGva2gpa(await run.hmp(`gva2gpa 0x${run.kernelInfo.symbol('swapper_pg_dir')!.toString(16)}`));
      // gva2gpa translates as a load in S mode with SUM clear: readable supervisor leaves.
      const { leaves } = leavesOf(files.vmcore.elf);
      const ok = leaves.filter((l) => l.read && !l.user);
      const step = Math.max(1, Math.floor(ok.length / 1500));
      probeVas = [];
      ok.forEach((l, i) => {
        if (i % step === 0) for (const off of leafProbeOffsets(BigInt(l.size), i + 1, 1)) probeVas.push((BigInt(l.va) + off) & M64);
      });
      theirs = (await gva2gpaMany(run.hmp, probeVas)).map((q) => (q.kind === 'mapped' ? hex(q.pa) : q.kind === 'unmapped' ? 'unmapped' : `error: ${q.message}`));
      console.log(`      (${variant}: booted, dumped in 5 formats and ${probeVas.length} VAs asked in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    });
    after(async () => run?.kill());

    it('the note in RAM is the kernel\'s VMCOREINFO (its OSRELEASE, swapper_pg_dir as /proc/kallsyms)', () => {
      assert.match(text, new RegExp(`^OSRELEASE=${run.release.replace(/[.+]/g, '\\$&')}$`, 'm'));
      assert.match(text, new RegExp(`^SYMBOL\\(swapper_pg_dir\\)=${run.kernelInfo.symbol('swapper_pg_dir')!.toString(16)}$`, 'm'));
      assert.equal(listCpus(files.qemu.elf).vmcoreinfo, false, 'QEMU 7.2 wrote no VMCOREINFO (no -device vmcoreinfo on riscv virt)');
    });

    commonChecks(() => ({ vmcore: files.vmcore, symbolNote: new RegExp(`satp 0x${satpMode.toString(16)}[0-9a-f]{15} = ${mode} \\(from NUMBER\\(PAGE_OFFSET\\) 0x[0-9a-f]+\\) with root SYMBOL\\(swapper_pg_dir\\) 0x[0-9a-f]+ - NUMBER\\(va_kernel_pa_offset\\) 0x[0-9a-f]+ = 0x[0-9a-f]+`) }));

    it(`the root is swapper_pg_dir where QEMU translates the symbol, ${mode} as satp, and its kernel half is satp's`, () => {
      const note = listCpus(files.vmcore.elf).vmcoreinfoRoot!;
      assert.equal(hex(rootPa(note)), hex(symPa!));
      assert.equal(BigInt(/satp (0x[0-9a-f]+)/.exec(note)![1]) >> 60n, satp >> 60n, 'mode');
      assert.equal(satp >> 60n, BigInt(satpMode), `info registers: ${mode}`);
      assert.deepEqual(halves.vmcoreinfo, halves.current);
      assert.ok(halves.current.filter((e) => BigInt(e) & 1n).length >= 2, 'kernel half populated');
    });

    it('translates several offsets of every readable kernel leaf (sampled) like gva2gpa', () => {
      const rows = (a: string[]) => a.map((x, i) => `${hex(probeVas[i])} -> ${x}`);
      const ours = translateAll(leavesOf(files.vmcore.zlibFlat).leaves, probeVas);
      assert.deepEqual(rows(ours), rows(theirs));
      assert.ok(theirs.filter((t) => t !== 'unmapped').length > 1500, `${probeVas.length} probes`);
    });
  });
}
