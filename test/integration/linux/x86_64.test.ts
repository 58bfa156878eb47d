// ptview on Debian's own x86_64 kernel (KASLR, KPTI forced on) in QEMU, checked against QEMU's
// walkers (`info tlb`: every present leaf with its bits; `info mem`: ranges by effective U/W) and
// against the guest's own /proc/self/pagemap as printed by test/guests/linux's user program.
// KPTI (Documentation/arch/x86/pti.rst): the user root is the kernel root + 4 KiB; its user half
// is the kernel root's, its kernel half only the entry text, cpu_entry_area and the like.
import assert from 'node:assert/strict';
import { hex } from '../../../src/core/addr';
import { Perm } from '../../../src/core/format';
import { auditReport } from '../../../src/core/ops/audit';
import { findAliases } from '../../../src/core/ops/reverse';
import { translate } from '../../../src/core/ops/translate';
import { Root } from '../../../src/core/space';
import { Leaf, translateLinear } from '../../../src/core/walker';
import { LinuxRun, LinuxVariant, sharedLinux } from '../../harness/linux';
import { parseGva2gpa, parseInfoMemX86, parseInfoTlb } from '../../harness/oracles';
import { Stop, capture, leavesOf, spaceWith, lastingVmalloc } from './support';

const kernelHalf = (va: bigint) => va >> 63n === 1n;

/** ptview's leaves in `info tlb`'s words (the same mapping as test/integration/x86/oracle.test.ts). */
function tlbWords(l: Leaf): string {
  const bit = (n: number) => ((l.lo >>> n) & 1) === 1;
  return [
    hex(l.root.toVirt(l.linear)), hex(l.pa), (l.hi >>> 31) & 1 ? 'X' : '-', bit(8) ? 'G' : '-', l.size > 4096 && bit(7) ? 'P' : '-',
    bit(6) ? 'D' : '-', bit(5) ? 'A' : '-', bit(4) ? 'C' : '-', bit(3) ? 'T' : '-', bit(2) ? 'U' : '-', bit(1) ? 'W' : '-',
  ].join(' ');
}

function memRanges(leaves: Leaf[]): string[] {
  const ranges: { start: bigint; end: bigint; user: boolean; write: boolean }[] = [];
  for (const l of leaves) {
    const start = l.root.toVirt(l.linear) as bigint;
    const user = (l.perms & Perm.User) !== 0;
    const write = (l.perms & Perm.Write) !== 0;
    const last = ranges.at(-1);
    if (last && last.end === start && last.user === user && last.write === write) last.end = start + BigInt(l.size);
    else ranges.push({ start, end: start + BigInt(l.size), user, write });
  }
  return ranges.map((r) => `${hex(r.start)}-${hex(r.end)} ${r.user ? 'u' : '-'}r${r.write ? 'w' : '-'}`);
}

const VARIANTS: { variant: LinuxVariant; mode: string; infoMem: boolean }[] = [
  { variant: 'x86_64-4level', mode: '4-level', infoMem: true },
  // QEMU 7.2's `info mem` prints nothing for LA57 (see test/integration/x86/oracle.test.ts).
  { variant: 'x86_64-5level', mode: '5-level', infoMem: false },
];

for (const { variant, mode, infoMem } of VARIANTS) {
  describe(`Linux ${variant} (Debian kernel, KASLR, KPTI) vs QEMU and /proc/self/pagemap`, function () {
    this.timeout(600000);
    let run: LinuxRun;
    let kernel: Stop; // stopped in the user program's getpid: CR3 = kernel root
    let user: Stop; // stopped in the user program: CR3 = user root
    let kLeaves: Leaf[];
    let uLeaves: Leaf[];
    // Both roots in the user stop's core.
    let uRoot: Root;
    let kRootAtUser: Root;

    before(async () => {
      run = await sharedLinux(variant);
      const cmds = ['info tlb', ...(infoMem ? ['info mem'] : [])];
      kernel = await capture(run, 'kernel', await run.stopInKernel(), cmds);
      user = await capture(run, 'user', await run.stopInUser(), cmds);
      kLeaves = await leavesOf(kernel.space.roots, kernel.store);
      uLeaves = await leavesOf(user.space.roots, user.store);
      uRoot = user.space.roots[0];
      kRootAtUser = spaceWith(user.core, user.qregs, { cr3: user.qregs.get('cr3')! & ~0x1fffn }).roots[0];
    });

    after(async () => {
      await kernel?.core.close();
      await user?.core.close();
      await run?.stopInUser(); // leave the shared guest as sharedLinux hands it out
    });

    it('loads the KPTI roots: kernel root at the syscall, kernel root + 4 KiB in user mode, same process', () => {
      const kcr3 = kernel.qregs.get('cr3')!;
      const ucr3 = user.qregs.get('cr3')!;
      assert.equal(kcr3 & 0x1000n, 0n);
      assert.equal(hex(ucr3 & ~0xfffn), hex((kcr3 & ~0xfffn) | 0x1000n));
      assert.equal(uRoot.format.mode, mode);
      assert.ok(user.regsText.includes('CPL=3') && kernel.regsText.includes('CPL=0'));
    });

    for (const which of ['kernel', 'user'] as const) {
      it(`finds exactly the leaves of info tlb on the ${which} root`, () => {
        const stop = which === 'kernel' ? kernel : user;
        const tlb = parseInfoTlb(stop.hmp.get('info tlb')!);
        const leaves = which === 'kernel' ? kLeaves : uLeaves;
        assert.ok(tlb.length > (which === 'kernel' ? 5000 : 80), `info tlb printed ${tlb.length} leaves`);
        const theirs = tlb.map((t) =>
          [hex(t.va), hex(t.frame), t.nx ? 'X' : '-', t.global ? 'G' : '-', t.pse ? 'P' : '-', t.dirty ? 'D' : '-',
            t.accessed ? 'A' : '-', t.pcd ? 'C' : '-', t.pwt ? 'T' : '-', t.user ? 'U' : '-', t.write ? 'W' : '-'].join(' '));
        assert.deepEqual(leaves.map(tlbWords).sort(), theirs.sort());
      });

      if (infoMem) {
        it(`merges the ${which} root to exactly the ranges of info mem`, () => {
          const stop = which === 'kernel' ? kernel : user;
          const mem = parseInfoMemX86(stop.hmp.get('info mem')!);
          assert.ok(mem.length > 5);
          const fmt = (r: { start: bigint; end: bigint; user: boolean; write: boolean }) =>
            `${hex(r.start)}-${hex(r.end)} ${r.user ? 'u' : '-'}r${r.write ? 'w' : '-'}`;
          assert.deepEqual(memRanges(which === 'kernel' ? kLeaves : uLeaves), mem.map(fmt));
        });
      }
    }

    it('sees the same user half through both roots, and in the user root only the entry sliver and ESPfix of the kernel', async () => {
      const kAtUser = await leavesOf([kRootAtUser], user.store);
      const key = (l: Leaf) => `${hex(l.root.toVirt(l.linear))} ${hex(l.pa)} ${l.size}`;
      const va = (l: Leaf) => l.root.toVirt(l.linear) as bigint;
      const userHalf = (ls: Leaf[]) => ls.filter((l) => !kernelHalf(va(l))).map(key);
      assert.deepEqual(userHalf(kAtUser), userHalf(uLeaves));
      // ESPfix (mm.rst: ffffff0000000000-ffffff7fffffffff in both modes) aliases one page table
      // thousands of times and is in both roots; the rest of the user root's kernel half is small.
      const espfix = (l: Leaf) => va(l) >= 0xffffff0000000000n && va(l) < 0xffffff8000000000n;
      const kHalfK = new Set(kAtUser.filter((l) => kernelHalf(va(l))).map(key));
      const kHalfU = uLeaves.filter((l) => kernelHalf(va(l)));
      // Each is mapped to the same frame by the kernel root (a 4 KiB page there may sit in a 2 MiB one here).
      for (const l of kHalfU.filter((x) => !kHalfK.has(key(x)))) {
        const t = await translateLinear(kRootAtUser, l.linear, user.store);
        assert.ok(t.kind === 'mapped', `user root's kernel leaf ${key(l)} is in the kernel root`);
        if (t.kind === 'mapped') assert.equal(hex(t.leaf.pa + Number(va(l) - va(t.leaf))), hex(l.pa), key(l));
      }
      const sliver = kHalfU.filter((l) => !espfix(l)).length;
      const kernelRest = kAtUser.filter((l) => kernelHalf(va(l)) && !espfix(l)).length;
      assert.ok(sliver > 0 && sliver * 20 < kernelRest, `${sliver} vs ${kernelRest}`);
      assert.equal(kHalfU.filter(espfix).length, kAtUser.filter(espfix).length);
      // pti_set_user_pgtbl: the kernel root's copy of the user half is NX.
      for (const l of kAtUser) if (!kernelHalf(va(l))) assert.equal(l.perms & Perm.Exec, 0, key(l));
    });

    it("translates every page the user program reported to its pagemap frame (both roots) and like gva2gpa", async () => {
      let n = 0;
      for (const m of run.user.mappings.values()) {
        for (const p of m.pages) {
          assert.ok(p.present, `${m.name} ${hex(p.va)} is present in pagemap`);
          for (const root of [uRoot, kRootAtUser]) {
            const t = await translateLinear(root, root.toLinear(p.va)!, user.store);
            assert.equal(t.kind, 'mapped', `${m.name} ${hex(p.va)} via ${root.name}`);
            if (t.kind === 'mapped') assert.equal(hex(t.leaf.pa + Number(p.va - (root.toVirt(t.leaf.linear) as bigint))), hex(p.pa), `${m.name} ${hex(p.va)}`);
          }
          n++;
        }
      }
      assert.ok(n >= 70, `${n} pages`);
      const a = run.user.mappings.get('anon')!.pages[5];
      assert.equal(parseGva2gpa(await run.hmp(`gva2gpa ${hex(a.va)}`)), a.pa);
    });

    it("finds both VAs of the shared memfd frame, and the direct map's alias in the kernel root", async () => {
      const a = run.user.mappings.get('shm-a')!;
      const b = run.user.mappings.get('shm-b')!;
      assert.equal(a.pages[0].pa, b.pages[0].pa);
      const pa = Number(a.pages[0].pa);
      const inUser = await findAliases(user.space, user.store, pa, { roots: [uRoot] });
      assert.deepEqual(inUser.map((x) => x.vaOfPa).sort(), [hex(a.va), hex(b.va)].sort());
      const inKernel = await findAliases(user.space, user.store, pa, { roots: [kRootAtUser] });
      // Exactly one in the direct map (base from /proc/kcore's RAM segments); the kernel image
      // mapping may alias it too when the frame was freed __init memory.
      const ram = run.kernelInfo.kcore.find((k) => k.type === 1 && k.paddr !== 0xffffffffffffffffn && k.vaddr < 0xffffffff80000000n)!;
      const directMap = ram.vaddr - ram.paddr;
      const all = inKernel.map((x) => BigInt(x.vaOfPa)).filter(kernelHalf);
      const kernelVas = all.filter((v) => v === directMap + BigInt(pa));
      assert.equal(kernelVas.length, 1, `one direct-map alias among ${all.map(hex).join(' ')}`);
      // The kernel stop's walk (equal to its info tlb above) maps that VA to the same frame.
      const k = kLeaves.find((l) => {
        const v = l.root.toVirt(l.linear) as bigint;
        return v <= kernelVas[0] && kernelVas[0] < v + BigInt(l.size);
      });
      assert.ok(k, hex(kernelVas[0]));
      assert.equal(hex(k.pa + Number(kernelVas[0] - (k.root.toVirt(k.linear) as bigint))), hex(pa));
    });

    // The kernel's own account of its layout (printed by init at boot, test/guests/linux/init).
    const kernelVa = async (va: bigint, stop = kernel) => {
      const t = await translate(stop.space, va, stop.store);
      return t.kind === 'mapped' ? t.pa! : undefined;
    };

    it("maps every /proc/kcore RAM and kernel-text segment to the PAs kcore gives (first, middle, last page)", async () => {
      const segs = run.kernelInfo.kcore.filter((k) => k.type === 1 && k.paddr !== 0xffffffffffffffffn);
      assert.ok(segs.length >= 2, JSON.stringify(segs.map((k) => hex(k.vaddr))));
      for (const k of segs) {
        for (const off of [0n, (k.memsz / 2n) & ~0xfffn, (k.memsz - 1n) & ~0xfffn]) {
          assert.equal(hex((await kernelVa(k.vaddr + off))!), hex(k.paddr + off), `kcore ${hex(k.vaddr)} + ${hex(off)}`);
        }
      }
    });

    it('maps every page of each vmalloc area /proc/vmallocinfo counts pages for, and each ioremap to its phys=', async () => {
      const areas = run.kernelInfo.vmalloc;
      const withPages = lastingVmalloc(areas).filter((a) => a.pages);
      assert.ok(withPages.length >= 10, `${withPages.length} vmalloc areas with pages=`);
      let pages = 0;
      for (const a of withPages) {
        for (let i = 0n; i < BigInt(a.pages!); i++, pages++) assert.ok((await kernelVa(a.start + i * 4096n)) !== undefined, `${hex(a.start + i * 4096n)}: ${a.line}`);
      }
      for (const a of areas) {
        const phys = /\bphys=0x([0-9a-f]+) ioremap/.exec(a.line);
        if (phys) assert.equal(hex((await kernelVa(a.start))!), hex(BigInt('0x' + phys[1]) & ~0xfffn), a.line);
      }
      assert.ok(pages > 50, `${pages} pages`);
    });

    it('reads page_offset_base (at its /proc/kallsyms address) equal to the direct map kcore shows', async () => {
      const sym = run.kernelInfo.symbol('page_offset_base');
      assert.ok(sym, 'kallsyms has page_offset_base');
      const pa = await kernelVa(sym);
      assert.ok(pa !== undefined);
      const [bytes] = await kernel.core.memory.readMany([{ addr: Number(pa) as never, length: 8 }]);
      assert.ok(bytes instanceof Uint8Array);
      const value = Buffer.from(bytes).readBigUInt64LE(0);
      const ram = run.kernelInfo.kcore.find((k) => k.type === 1 && k.paddr !== 0xffffffffffffffffn && k.vaddr < 0xffffffff80000000n)!;
      assert.equal(hex(value), hex(ram.vaddr - ram.paddr));
    });

    it("audits: the user program's W+X page is found, the kernel half has none", async () => {
      const wx = run.user.mappings.get('wx')!;
      const rep = await auditReport(user.space, user.store, { roots: [uRoot, kRootAtUser] });
      const wxf = rep.findings.filter((f) => f.kind === 'w+x');
      assert.ok(wxf.some((f) => BigInt(f.va!) <= wx.va && wx.va < BigInt(f.end!)), JSON.stringify(wxf));
      assert.deepEqual(wxf.filter((f) => kernelHalf(BigInt(f.va!))), []);
    });
  });
}
