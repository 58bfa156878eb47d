// ptview on Debian's own arm64 kernel (KASLR; KPTI on cortex-a57, PAN/E0PD on -cpu max) in QEMU,
// checked against QEMU's `gva2gpa` (AArch64 has no info tlb / info mem) on many VAs and against the
// guest's /proc/self/pagemap. TTBR0/1, TCR, MAIR and SCTLR are not in an AArch64 core: they come
// from the gdbstub through real gdb-multiarch, as a user reads them (test/integration/aarch64).
// KPTI (arch/arm64/kernel/entry.S tramp_*): at EL0 TTBR1 holds the trampoline tables, at EL1 the
// kernel's swapper_pg_dir; the ASID in TTBR0 is odd at EL0, even at EL1.
import assert from 'node:assert/strict';
import { hex } from '../../../src/core/addr';
import { spaceFromRegisters } from '../../../src/core/formats';
import { auditReport } from '../../../src/core/ops/audit';
import { findAliases } from '../../../src/core/ops/reverse';
import { TranslateError, translate } from '../../../src/core/ops/translate';
import { AddressSpace, Root } from '../../../src/core/space';
import { Leaf, translateLinear } from '../../../src/core/walker';
import { LinuxRun, LinuxVariant, sharedLinux } from '../../harness/linux';
import { gva2gpaMany, lcg, leafProbeOffsets, probesAround } from '../../harness/oracles';
import { Stop, aarch64RegistersAt, capture, leavesOf, lastingVmalloc } from './support';

const M64 = (1n << 64n) - 1n;

for (const variant of ['arm64-kpti', 'arm64-max'] as LinuxVariant[]) {
  describe(`Linux ${variant} (Debian kernel, KASLR) vs gva2gpa and /proc/self/pagemap`, function () {
    this.timeout(600000);
    let run: LinuxRun;
    let k: Stop;
    let u: Stop;
    let kSpace: AddressSpace; // EL1 registers: TTBR1 = the kernel's tables
    let uSpace: AddressSpace; // EL0 registers: TTBR0 = the user program's tables
    let kernelRoot: Root;
    let userRoot: Root;
    let kLeaves: Leaf[];
    let uLeaves: Leaf[];
    let el1: Map<string, bigint>;
    let el0: Map<string, bigint>;

    let kProbes: { vas: bigint[]; theirs: string[] };
    let uProbes: { vas: bigint[]; theirs: string[] };

    const ours = async (space: AddressSpace, stop: Stop, vas: bigint[]) => {
      const out: string[] = [];
      for (const va of vas) {
        try {
          const t = await translate(space, va, stop.store);
          out.push(t.kind === 'mapped' ? hex(t.pa!) : 'unmapped');
        } catch (e) {
          if (!(e instanceof TranslateError)) throw e;
          out.push('unmapped'); // in neither half
        }
      }
      return out;
    };
    // QEMU's answers at the stop the dump was taken at (the kernel's fixmap changes between stops).
    const ask = async (vas: bigint[]) => ({
      vas,
      theirs: (await gva2gpaMany(run.hmp, vas)).map((q) => (q.kind === 'mapped' ? hex(q.pa) : q.kind === 'unmapped' ? 'unmapped' : `error: ${q.message}`)),
    });
    const rows = (vas: bigint[], a: string[]) => a.map((x, i) => `${hex(vas[i])} -> ${x}`);

    before(async () => {
      run = await sharedLinux(variant);
      el0 = await aarch64RegistersAt(run, 0);
      el1 = await aarch64RegistersAt(run, 1, variant === 'arm64-kpti' ? el0.get('ttbr1_el1') : undefined);
      kSpace = spaceFromRegisters('aarch64', el1);
      kernelRoot = kSpace.roots.find((r) => r.name.startsWith('ttbr1'))!;
      uSpace = spaceFromRegisters('aarch64', el0);
      userRoot = uSpace.roots.find((r) => r.name.startsWith('ttbr0'))!;

      k = await capture(run, 'kernel', await run.stopInKernel(), []);
      kLeaves = await leavesOf([kernelRoot], k.store);
      // A stop at EL1 may still be in KPTI's trampoline (TTBR1 = its tables): stop again until
      // the kernel's tables are loaded, as gva2gpa of a kernel leaf shows.
      const probe = hex(BigInt(kLeaves[kLeaves.length >> 1].root.toVirt(kLeaves[kLeaves.length >> 1].linear)));
      for (let i = 0; (await gva2gpaMany(run.hmp, [BigInt(probe)]))[0].kind !== 'mapped'; i++) {
        if (i > 50) throw new Error(`never stopped at EL1 with the kernel's TTBR1 (probe ${probe})`);
        await k.core.close();
        await run.cont();
        k = await capture(run, 'kernel', await run.stopInKernel(), []);
      }
      kLeaves = await leavesOf([kernelRoot], k.store);
      const step = Math.max(1, Math.floor(kLeaves.length / 1500));
      const kv: bigint[] = [];
      kLeaves.forEach((l, i) => {
        if (i % step === 0) for (const off of leafProbeOffsets(BigInt(l.size), i + 1, 1)) kv.push((BigInt(l.root.toVirt(l.linear)) + off) & M64);
      });
      kv.push(...probesAround(kLeaves.map((l) => ({ va: BigInt(l.root.toVirt(l.linear)), size: BigInt(l.size) })), 600, lcg(0x51ed270b27e8d5c3n)));
      kProbes = await ask(kv);

      u = await capture(run, 'user', await run.stopInUser(), []);
      uLeaves = await leavesOf([userRoot], u.store);
      const uv: bigint[] = [];
      for (const m of run.user.mappings.values()) for (const p of m.pages) uv.push(p.va + 0x10n);
      uLeaves.forEach((l, i) => uv.push(...leafProbeOffsets(BigInt(l.size), i + 1, 1).map((o) => BigInt(l.root.toVirt(l.linear)) + o)));
      uProbes = await ask(uv);
    });

    after(async () => {
      await k?.core.close();
      await u?.core.close();
      await run?.stopInUser();
    });

    it('reads the roots: the user tables at EL0, the kernel tables at EL1', () => {
      const baddr = (v: bigint) => v & 0xfffffffffffen;
      const asid = (v: bigint) => v >> 48n; // TCR_EL1.A1=1 in Linux: the ASID lives in TTBR1
      assert.ok(kLeaves.length > 1000, `${kLeaves.length} kernel leaves`);
      assert.ok(uLeaves.length >= 72, `${uLeaves.length} user leaves`);
      if (variant === 'arm64-kpti') {
        // KPTI: at EL0 TTBR1 is the trampoline's, the user ASID (in TTBR1) odd, the kernel's even.
        assert.notEqual(hex(baddr(el0.get('ttbr1_el1')!)), hex(baddr(el1.get('ttbr1_el1')!)));
        assert.equal(asid(el0.get('ttbr1_el1')!) & 1n, 1n);
        assert.equal(asid(el1.get('ttbr1_el1')!) & 1n, 0n);
      }
    });

    it('translates several offsets of every kernel leaf (sampled) and 600 probes like gva2gpa at EL1', async () => {
      assert.deepEqual(rows(kProbes.vas, await ours(kSpace, k, kProbes.vas)), rows(kProbes.vas, kProbes.theirs));
      assert.ok(kProbes.theirs.filter((t) => t !== 'unmapped').length > 3000, `${kProbes.vas.length} probes`);
    });

    it('translates every user page to its pagemap frame and like gva2gpa at EL0, every user leaf probed too', async () => {
      for (const m of run.user.mappings.values()) {
        for (const p of m.pages) {
          assert.ok(p.present, `${m.name} ${hex(p.va)} present`);
          const t = await translateLinear(userRoot, userRoot.toLinear(p.va)!, u.store);
          assert.ok(t.kind === 'mapped', `${m.name} ${hex(p.va)}`);
          if (t.kind === 'mapped') assert.equal(hex(t.leaf.pa + Number(p.va - (userRoot.toVirt(t.leaf.linear) as bigint))), hex(p.pa), `${m.name} ${hex(p.va)}`);
        }
      }
      assert.deepEqual(rows(uProbes.vas, await ours(uSpace, u, uProbes.vas)), rows(uProbes.vas, uProbes.theirs));
      assert.equal(uProbes.theirs.filter((t) => t === 'unmapped').length, 0);
    });

    it('finds both user VAs of the shared memfd frame, and the linear map alias', async () => {
      const a = run.user.mappings.get('shm-a')!;
      const b = run.user.mappings.get('shm-b')!;
      assert.equal(a.pages[0].pa, b.pages[0].pa);
      const pa = Number(a.pages[0].pa);
      const inUser = await findAliases(uSpace, u.store, pa, { roots: [userRoot] });
      assert.deepEqual(inUser.map((x) => x.vaOfPa).sort(), [hex(a.va), hex(b.va)].sort());
      const inKernel = await findAliases(kSpace, k.store, pa, { roots: [kernelRoot] });
      assert.equal(inKernel.length, 1, JSON.stringify(inKernel.map((x) => x.vaOfPa)));
    });

    it('maps every /proc/kcore RAM and kernel-image segment, and every vmalloc page, as the kernel says', async () => {
      const at = async (va: bigint) => {
        const t = await translate(kSpace, va, k.store);
        return t.kind === 'mapped' ? hex(t.pa!) : 'unmapped';
      };
      const segs = run.kernelInfo.kcore.filter((x) => x.type === 1 && x.paddr !== 0xffffffffffffffffn);
      assert.ok(segs.length >= 2);
      // kcore's text segment starts at _text, but arm64 maps the image from _stext (the 64 KiB
      // Image header before it is not mapped: arch/arm64/mm/mmu.c map_kernel).
      const stext = run.kernelInfo.symbol('_stext')!;
      for (const x of segs) {
        const from = stext > x.vaddr && stext < x.vaddr + x.memsz ? stext - x.vaddr : 0n;
        for (const off of [from, (x.memsz / 2n) & ~0xfffn, (x.memsz - 1n) & ~0xfffn]) assert.equal(await at(x.vaddr + off), hex(x.paddr + off), hex(x.vaddr + off));
      }
      const areas = lastingVmalloc(run.kernelInfo.vmalloc).filter((a) => a.pages);
      assert.ok(areas.length >= 5, `${areas.length} lasting vmalloc areas with pages=`);
      for (const a of areas) for (let i = 0n; i < BigInt(a.pages!); i++) assert.notEqual(await at(a.start + i * 4096n), 'unmapped', a.line);
    });

    it("audits: the user program's W+X page is found, the kernel half has none", async () => {
      const wx = run.user.mappings.get('wx')!;
      const ur = await auditReport(uSpace, u.store, { roots: [userRoot] });
      assert.ok(ur.findings.some((f) => f.kind === 'w+x' && BigInt(f.va!) <= wx.va && wx.va < BigInt(f.end!)), JSON.stringify(ur.findings));
      const kr = await auditReport(kSpace, k.store, { roots: [kernelRoot] });
      assert.deepEqual(kr.findings.filter((f) => f.kind === 'w+x'), [], kr.summary);
    });
  });
}
