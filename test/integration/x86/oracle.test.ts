// The paging core on real QEMU dumps of our x86_64 guests, compared with QEMU's own walkers:
// `info tlb` (every leaf: VA, PA and its bits) and `info mem` (ranges merged by effective U/W).
import assert from 'node:assert/strict';
import { hex } from '../../../src/core/addr';
import { Perm } from '../../../src/core/format';
import { spaceFromRegisters } from '../../../src/core/formats';
import { QemuCore, openQemuCore } from '../../../src/core/sources/elfCore';
import { AddressSpace } from '../../../src/core/space';
import { Leaf, TableStore, translateLinear, walk } from '../../../src/core/walker';
import { parseGva2gpa, parseInfoMemX86, parseInfoRegisters, parseInfoTlb } from '../../harness/oracles';
import { GuestRun, bootGuest } from '../../harness/qemu';

// mode the registers select, PCID in CR3, and how many distinct tables the guest builds.
const GUESTS = [
  { name: 'x86-64-4level', mode: '4-level', pcid: '5', tables: 13 },
  { name: 'x86-64-5level', mode: '5-level', pcid: '5', tables: 14 },
  { name: 'x86-pae', mode: 'PAE', tables: 6 },
  { name: 'x86-32', mode: '32-bit', tables: 3 },
];

for (const { name, mode, pcid, tables } of GUESTS) {
  describe(`x86 guest ${name} vs QEMU`, function () {
    this.timeout(120000);
    let run: GuestRun;
    let core: QemuCore;
    let qregs: Map<string, bigint>;
    let space: AddressSpace;
    let store: TableStore;
    const leaves: Leaf[] = [];
    const diags: string[] = [];
    // VA windows of recursive references: ptview reports them and does not descend them (the
    // tables would unfold into every path through the loop); QEMU's walkers do descend them.
    const recursive: [bigint, bigint][] = [];
    const outsideRecursive = (va: bigint) => !recursive.some(([a, b]) => va >= a && va < b);

    before(async () => {
      run = await bootGuest(name);
      const corePath = await run.dump();
      qregs = parseInfoRegisters(await run.hmp('info registers'));
      core = await openQemuCore(corePath);
      const regs = new Map(core.registers);
      regs.set('efer', qregs.get('efer')!); // not in the core: the user gives it with --reg
      space = spaceFromRegisters(core.arch, regs);
      store = new TableStore(core.memory);
      await walk(space.roots, store, {
        leaf: (l) => leaves.push(l),
        diagnostic: (d) => {
          diags.push(d.message);
          if (d.kind === 'recursive') {
            const va = BigInt(d.root.toVirt(d.linear));
            recursive.push([va, va + BigInt(2 ** d.root.format.levels[d.level].shift)]);
          }
        },
      });
    });

    after(async () => {
      await core?.close();
      await run?.kill();
    });

    it('reads CR0, CR3 and CR4 from the core equal to info registers', () => {
      for (const r of ['cr0', 'cr3', 'cr4']) assert.equal(hex(core.registers.get(r)!), hex(qregs.get(r)!), r);
      assert.equal(space.roots[0].format.mode, mode);
      if (pcid) assert.deepEqual(space.roots[0].info.find(([k]) => k === 'PCID'), ['PCID', pcid]);
    });

    it('finds exactly the leaves of info tlb, with the same PAs and bits', async () => {
      const tlb = parseInfoTlb(await run.hmp('info tlb'));
      assert.ok(tlb.length > 400, `info tlb printed ${tlb.length} leaves`);
      const root = space.roots[0];
      const ours = leaves.map((l) => {
        const bit = (n: number) => ((l.lo >>> n) & 1) === 1;
        return [
          // QEMU's info tlb truncates 4 MiB PSE-36 pages to 32 bits (gva2gpa, checked below, does not).
          hex(root.toVirt(l.linear)), hex(mode === '32-bit' ? l.pa % 2 ** 32 : l.pa), (l.hi >>> 31) & 1 ? 'X' : '-', bit(8) ? 'G' : '-', l.size > 4096 && bit(7) ? 'P' : '-', // QEMU masks bit 7 (PAT) of 4 KiB leaves
          bit(6) ? 'D' : '-', bit(5) ? 'A' : '-', bit(4) ? 'C' : '-', bit(3) ? 'T' : '-', bit(2) ? 'U' : '-', bit(1) ? 'W' : '-',
        ].join(' ');
      });
      // The recursive windows are QEMU's alone: it lists leaves there, ptview lists none.
      assert.ok(recursive.length === 0 || tlb.some((t) => !outsideRecursive(t.va)), 'QEMU maps something through the recursive slot');
      assert.ok(leaves.every((l) => outsideRecursive(BigInt(root.toVirt(l.linear)))));
      const theirs = tlb.filter((t) => outsideRecursive(t.va)).map((t) =>
        [
          // QEMU's PAE info tlb leaves XD (bit 63) in the printed address; the PA is bits 51:12.
          hex(t.va), hex(t.pa & ((1n << 52n) - 1n)), t.nx ? 'X' : '-', t.global ? 'G' : '-', t.pse ? 'P' : '-', t.dirty ? 'D' : '-',
          t.accessed ? 'A' : '-', t.pcd ? 'C' : '-', t.pwt ? 'T' : '-', t.user ? 'U' : '-', t.write ? 'W' : '-',
        ].join(' '),
      );
      assert.deepEqual(ours.sort(), theirs.sort());
    });

    // Not registered for 5-level: QEMU 7.2's mem_info_la57 prints nothing for LA57 guests
    // (inverted present checks, fixed upstream later) after walking all 2^57 bytes, which takes
    // 30 s idle and over 120 s on a loaded machine. The 5-level walk is checked against info tlb
    // and gva2gpa above; test/unit/harness/oracles.test.ts pins the empty answer.
    (name.endsWith('5level') ? () => undefined : it)('merges to exactly the ranges of info mem (effective U and W across levels)', async () => {
      // QEMU's ranges with the recursive windows cut out (ptview does not descend them).
      const mem: { start: bigint; end: bigint; user: boolean; write: boolean }[] = [];
      for (const r of parseInfoMemX86(await run.hmp('info mem'))) {
        let pieces = [{ ...r }];
        for (const [a, b] of recursive) {
          pieces = pieces.flatMap((p) => [
            ...(p.start < a ? [{ ...p, end: p.end < a ? p.end : a }] : []),
            ...(p.end > b ? [{ ...p, start: p.start > b ? p.start : b }] : []),
          ]);
        }
        mem.push(...pieces);
      }
      assert.ok(mem.length > 5);
      const root = space.roots[0];
      const ranges: { start: bigint; end: bigint; user: boolean; write: boolean }[] = [];
      for (const l of leaves) {
        const start = root.toVirt(l.linear) as bigint;
        // info mem's u/w: user pages' (U/S and R/W across levels) and supervisor pages' R/W.
        const user = (l.perms & Perm.UserRead) !== 0;
        const write = (l.perms & (user ? Perm.UserWrite : Perm.Write)) !== 0;
        const last = ranges.at(-1);
        if (last && last.end === start && last.user === user && last.write === write) last.end = start + BigInt(l.size);
        else ranges.push({ start, end: start + BigInt(l.size), user, write });
      }
      const fmt = (r: { start: bigint; end: bigint; user: boolean; write: boolean }) =>
        `${hex(r.start)}-${hex(r.end)} ${r.user ? 'u' : '-'}r${r.write ? 'w' : '-'}`;
      assert.deepEqual(ranges.map(fmt), mem.map(fmt));
    });

    it('reads each table once and reports the recursive slot', () => {
      assert.equal(store.stats.tablesRead, tables);
      if (mode.endsWith('level')) assert.ok(diags.some((d) => /recursive/.test(d)), diags.join('\n'));
      // Besides the recursive slot, only PAE PDPTE bits QEMU accepts and real CPUs reject (QEMU sets A there itself).
      assert.ok(diags.every((d) => /recursive|QEMU TCG accepts/.test(d)), diags.join('\n'));
    });

    it('translates the first, middle and last byte of every leaf like gva2gpa', async () => {
      const root = space.roots[0];
      let checked = 0;
      for (const l of leaves) {
        const base = BigInt(root.toVirt(l.linear));
        for (const off of [0n, BigInt(l.size >> 1) + 0x123n, BigInt(l.size - 1)]) {
          const t = await translateLinear(root, l.linear + Number(off & ~0xfffn), store);
          assert.equal(t.kind, 'mapped');
          if (t.kind !== 'mapped') continue;
          const ours = hex(t.leaf.pa + Number(base + off - BigInt(root.toVirt(t.leaf.linear))));
          const q = parseGva2gpa(await run.hmp(`gva2gpa ${hex(base + off)}`));
          assert.equal(ours, q === undefined ? 'unmapped' : hex(q), `gva2gpa ${hex(base + off)}`);
          checked++;
        }
      }
      assert.equal(checked, leaves.length * 3);
    });

    if (!mode.endsWith('level')) {
      it('applies R/W=0 from the upper level, NX (PAE) and PSE-36 addresses from the guest source', async () => {
        const root = space.roots[0];
        const probe = async (va: number) => translateLinear(root, va, store);
        if (mode === 'PAE') {
          const t = await probe(0x601000); // PD0[3] (R/W=0) → PT1[1] (RW, NX)
          assert.ok(t.kind === 'mapped');
          if (t.kind === 'mapped') {
            assert.equal(hex(t.leaf.pa), '0x701000');
            assert.equal(t.leaf.perms, Perm.Read | Perm.User);
          }
        } else {
          const t = await probe(0xc00000); // PSE-36: 4 MiB page above 4 GiB
          assert.ok(t.kind === 'mapped');
          if (t.kind === 'mapped') assert.equal(hex(t.leaf.pa), '0x300c00000');
          assert.match(await run.hmp('gva2gpa 0xc00000'), /0x300c00000/);
        }
      });
      return;
    }

    it('agrees with gva2gpa and the guest source on hand-derived facts', async () => {
      const root = space.roots[0];
      const probe = async (va: bigint) => translateLinear(root, root.toLinear(va)!, store);
      // PD_RO[0]: writable 2 MiB leaf under a read-only PDPT entry: effective read-only.
      const ro = await probe(0x80000000n);
      assert.equal(ro.kind, 'mapped');
      if (ro.kind === 'mapped') {
        assert.equal(ro.leaf.perms & Perm.Write, 0);
        assert.ok(ro.leaf.lo & 2, 'the leaf itself says writable');
      }
      // Shared subtree: user through PML4[1], supervisor through PML4[2], same PA.
      const u = await probe(0x8000a00000n);
      const s = await probe(0x10000a00000n);
      assert.ok(u.kind === 'mapped' && s.kind === 'mapped');
      if (u.kind === 'mapped' && s.kind === 'mapped') {
        assert.equal(u.leaf.pa, s.leaf.pa);
        assert.ok(u.leaf.perms & Perm.User);
        assert.equal(s.leaf.perms & Perm.User, 0);
      }
      for (const va of [0xffffffff80001234n, 0x12c010n, 0xffff800000101000n]) {
        const t = await probe(va);
        const q = parseGva2gpa(await run.hmp(`gva2gpa ${hex(va)}`));
        assert.ok(t.kind === 'mapped' && q !== undefined, hex(va));
        if (t.kind === 'mapped') assert.equal(hex(t.leaf.pa + Number(va - (root.toVirt(t.leaf.linear) as bigint))), hex(q!));
      }
      const miss = await probe(0x0n);
      assert.equal(miss.kind, 'not-mapped');
      assert.match(await run.hmp('gva2gpa 0'), /Unmapped/);
    });
  });
}
