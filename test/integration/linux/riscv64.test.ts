// ptview on Debian's own riscv64 kernel in QEMU (Sv39, Sv48, Sv57 chosen with no4lvl / no5lvl),
// checked against QEMU's `info mem` (every leaf with its rwxugad bits, merged when continuing in
// VA and PA) and `gva2gpa`, and against the guest's /proc/self/pagemap. RISC-V has no KPTI: one
// satp root holds both halves. QEMU 7.2 quirks (test/integration/riscv/oracle.test.ts): its debug
// walk sets A bits, so `info mem` and the dump come before any gva2gpa; gva2gpa translates as a
// load at the current privilege, so kernel leaves are probed at a stop in S mode and user leaves
// at a stop in U mode.
import assert from 'node:assert/strict';
import { hex } from '../../../src/core/addr';
import { Perm } from '../../../src/core/format';
import { spaceFromRegisters } from '../../../src/core/formats';
import { auditReport } from '../../../src/core/ops/audit';
import { findAliases } from '../../../src/core/ops/reverse';
import { translate } from '../../../src/core/ops/translate';
import { AddressSpace, Root } from '../../../src/core/space';
import { Leaf, translateLinear } from '../../../src/core/walker';
import { LinuxRun, LinuxVariant, sharedLinux } from '../../harness/linux';
import { gva2gpaMany, leafProbeOffsets, parseInfoMemRiscv, parseInfoRegisters } from '../../harness/oracles';
import { Stop, capture, leavesOf, lastingVmalloc } from './support';

const M64 = (1n << 64n) - 1n;
const letters = (pte: bigint) => [...'rwxugad'].map((c, i) => ((pte >> BigInt(i + 1)) & 1n ? c : '-')).join('');
const kernelHalf = (va: bigint) => va >> 63n === 1n;

const VARIANTS: [LinuxVariant, string][] = [['riscv64-sv39', 'Sv39'], ['riscv64-sv48', 'Sv48'], ['riscv64-sv57', 'Sv57']];

for (const [variant, mode] of VARIANTS) {
  describe(`Linux ${variant} (Debian kernel) vs info mem, gva2gpa and /proc/self/pagemap`, function () {
    this.timeout(600000);
    let run: LinuxRun;
    let u: Stop;
    let k: Stop;
    let space: AddressSpace;
    let root: Root;
    let uLeaves: Leaf[];
    let kLeaves: Leaf[];
    let mem: string;
    const probes: { label: string; vas: bigint[]; ours: string[]; theirs: string[] }[] = [];

    const va = (l: Leaf) => l.root.toVirt(l.linear) as bigint;
    const probe = async (label: string, stop: Stop, leaves: Leaf[], max: number) => {
      const step = Math.max(1, Math.floor(leaves.length / max));
      const vas: bigint[] = [];
      leaves.forEach((l, i) => {
        if (i % step === 0) for (const off of leafProbeOffsets(BigInt(l.size), i + 1, 1)) vas.push((va(l) + off) & M64);
      });
      const ours: string[] = [];
      for (const v of vas) {
        const t = await translate(space, v, stop.store);
        ours.push(t.kind === 'mapped' ? hex(t.pa!) : 'unmapped');
      }
      const theirs = (await gva2gpaMany(run.hmp, vas)).map((q) => (q.kind === 'mapped' ? hex(q.pa) : q.kind === 'unmapped' ? 'unmapped' : `error: ${q.message}`));
      probes.push({ label, vas, ours, theirs });
    };

    before(async () => {
      run = await sharedLinux(variant);
      const uRegs = await run.stopInUser();
      u = await capture(run, 'user', uRegs, ['info mem']); // info mem, then the dump, before any gva2gpa
      mem = u.hmp.get('info mem')!;
      const q = u.qregs;
      space = spaceFromRegisters('riscv64', new Map([['satp', q.get('satp')!], ['mstatus', q.get('mstatus')!]]));
      root = space.roots[0];
      const all = await leavesOf([root], u.store);
      uLeaves = all.filter((l) => !kernelHalf(va(l)));
      // Loads at U: user leaves a user can read (gva2gpa answers Unmapped for execute-only ones).
      await probe('user', u, uLeaves.filter((l) => (l.perms & Perm.User) !== 0), 1000);

      // In S mode on behalf of the user program (its satp), not in another task's context.
      let kRegs = await run.stopInKernel();
      for (let i = 0; parseInfoRegisters(kRegs).get('satp') !== q.get('satp'); i++) {
        if (i > 20) throw new Error(`no S-mode stop with the user program's satp ${hex(q.get('satp')!)}:\n${kRegs}`);
        await run.cont();
        kRegs = await run.stopInKernel();
      }
      k = await capture(run, 'kernel', kRegs, []);
      kLeaves = (await leavesOf([root], k.store)).filter((l) => kernelHalf(va(l)));
      // Loads at S with SUM clear: readable supervisor leaves.
      await probe('kernel', k, kLeaves.filter((l) => (l.perms & Perm.User) === 0 && (l.perms & Perm.Read) !== 0), 1500);
    });

    after(async () => {
      await u?.core.close();
      await k?.core.close();
      await run?.stopInUser();
    });

    it(`runs in ${mode}, as satp says`, () => {
      assert.equal(root.format.mode, mode);
      assert.equal(root.tablePa, Number((u.qregs.get('satp')! & 0xfffffffffffn) << 12n));
    });

    it('lists exactly the leaves of info mem (VA, PA, size, rwxugad), both halves', async () => {
      const theirs = parseInfoMemRiscv(mem);
      const all = await leavesOf([root], u.store);
      assert.ok(all.length > 1000 && theirs.length > 50, `${all.length} leaves, ${theirs.length} info mem lines`);
      // QEMU (target/riscv/monitor.c walk_pte) merges a leaf into the block before it when its
      // bits equal and it continues the block in PA and, within the same table, in VA: the VA
      // check uses a per-table local, so a block never continues into another table.
      const ours: { va: bigint; pa: bigint; size: bigint; attrs: string; table: number }[] = [];
      for (const l of all) {
        const attrs = letters(BigInt(l.lo) | (BigInt(l.hi) << 32n));
        const last = ours.at(-1);
        if (last && last.table === l.tablePa && last.va + last.size === va(l) && last.pa + last.size === BigInt(l.pa) && last.attrs === attrs) last.size += BigInt(l.size);
        else ours.push({ va: va(l), pa: BigInt(l.pa), size: BigInt(l.size), attrs, table: l.tablePa });
      }
      const fmt = (r: { va: bigint; pa: bigint; size: bigint; attrs: string }) => `${hex(r.va & M64)} ${hex(r.pa)} ${hex(r.size)} ${r.attrs}`;
      assert.deepEqual(ours.map(fmt), theirs.map(fmt));
    });

    for (const label of ['user', 'kernel']) {
      it(`translates offsets of every ${label} leaf (sampled) like gva2gpa at ${label === 'user' ? 'U' : 'S'}`, () => {
        const p = probes.find((x) => x.label === label)!;
        const rows = (a: string[]) => a.map((x, i) => `${hex(p.vas[i])} -> ${x}`);
        assert.deepEqual(rows(p.ours), rows(p.theirs));
        assert.ok(p.theirs.filter((t) => t !== 'unmapped').length >= (label === 'user' ? 150 : 1500), `${p.vas.length} probes`);
        assert.equal(p.theirs.filter((t) => t === 'unmapped').length, 0);
      });
    }

    it('translates every page the user program reported to its pagemap frame', async () => {
      let n = 0;
      for (const m of run.user.mappings.values()) {
        for (const p of m.pages) {
          assert.ok(p.present, `${m.name} ${hex(p.va)} present`);
          const t = await translateLinear(root, root.toLinear(p.va)!, u.store);
          assert.ok(t.kind === 'mapped', `${m.name} ${hex(p.va)}`);
          if (t.kind === 'mapped') assert.equal(hex(t.leaf.pa + Number(p.va - va(t.leaf))), hex(p.pa), `${m.name} ${hex(p.va)}`);
          n++;
        }
      }
      assert.ok(n >= 70);
    });

    it('finds both user VAs of the shared memfd frame and its linear-map alias', async () => {
      const a = run.user.mappings.get('shm-a')!;
      const b = run.user.mappings.get('shm-b')!;
      assert.equal(a.pages[0].pa, b.pages[0].pa);
      const found = await findAliases(space, u.store, Number(a.pages[0].pa));
      const vas = found.map((x) => BigInt(x.vaOfPa));
      assert.deepEqual(vas.filter((v) => !kernelHalf(v)).map(hex).sort(), [hex(a.va), hex(b.va)].sort());
      // One alias in the linear map; the kernel image mapping may hold it too (freed __init
      // pages are reused by the page allocator and stay mapped there).
      const linear = vas.filter((v) => kernelHalf(v) && v < 0xffffffff80000000n);
      assert.equal(linear.length, 1, found.map((x) => x.vaOfPa).join(' '));
    });

    it('maps every /proc/kcore RAM and kernel-image segment, and every vmalloc page, as the kernel says', async () => {
      const at = async (va: bigint) => {
        const t = await translate(space, va, k.store);
        return t.kind === 'mapped' ? hex(t.pa!) : 'unmapped';
      };
      const segs = run.kernelInfo.kcore.filter((x) => x.type === 1 && x.paddr !== 0xffffffffffffffffn);
      assert.ok(segs.length >= 2);
      for (const x of segs) for (const off of [0n, (x.memsz / 2n) & ~0xfffn, (x.memsz - 1n) & ~0xfffn]) assert.equal(await at(x.vaddr + off), hex(x.paddr + off), hex(x.vaddr + off));
      const areas = lastingVmalloc(run.kernelInfo.vmalloc).filter((a) => a.pages);
      assert.ok(areas.length >= 5, `${areas.length} lasting vmalloc areas with pages=`);
      for (const a of areas) for (let i = 0n; i < BigInt(a.pages!); i++) assert.notEqual(await at(a.start + i * 4096n), 'unmapped', a.line);
    });

    it("audits: the user program's W+X page is found, the kernel half has none", async () => {
      const wx = run.user.mappings.get('wx')!;
      const rep = await auditReport(space, u.store);
      const wxf = rep.findings.filter((f) => f.kind === 'w+x');
      assert.ok(wxf.some((f) => BigInt(f.va!) <= wx.va && wx.va < BigInt(f.end!)), JSON.stringify(wxf));
      assert.deepEqual(wxf.filter((f) => kernelHalf(BigInt(f.va!))), []);
    });
  });
}
