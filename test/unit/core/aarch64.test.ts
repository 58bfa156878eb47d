import assert from 'node:assert/strict';
import { hex } from '../../../src/core/addr';
import { EntryKind, Flag, Perm } from '../../../src/core/format';
import { mairName } from '../../../src/core/formats/aarch64';
import { spaceFromRegisters } from '../../../src/core/formats';
import { provenance } from '../../../src/core/ops/explain';
import { RegisterError } from '../../../src/core/space';
import { Diagnostic, Leaf, TableStore, translateLinear, walk } from '../../../src/core/walker';
import { SparseMemory } from '../../support/sparseMemory';

// Descriptor bits
const V = 1n, T = 2n, AF = 1n << 10n, NG = 1n << 11n, AP1 = 1n << 6n, AP2 = 1n << 7n, SH_IS = 3n << 8n;
const CONT = 1n << 52n, PXN = 1n << 53n, UXN = 1n << 54n, PXNT = 1n << 59n, UXNT = 1n << 60n, APT0 = 1n << 61n, APT1 = 1n << 62n;
const attr = (i: number) => BigInt(i) << 2n;
const MAIR = 0x000000000004_44ffn; // 0: Normal-WB, 1: Normal-NC, 2: Device-nGnRE

// TCR: T0SZ, TG0 (0=4K,1=64K,2=16K), T1SZ, TG1 (2=4K,3=64K,1=16K), IPS (5=48 bits)
function tcr(o: { t0sz: number; tg0?: number; t1sz?: number; tg1?: number; ips?: number; epd1?: boolean; tbi0?: boolean; hpd0?: boolean }): bigint {
  let v = BigInt(o.t0sz) | (BigInt(o.tg0 ?? 0) << 14n) | (BigInt(o.t1sz ?? 25) << 16n) | (BigInt(o.tg1 ?? 2) << 30n) | (BigInt(o.ips ?? 5) << 32n);
  if (o.epd1) v |= 1n << 23n;
  if (o.tbi0) v |= 1n << 37n;
  if (o.hpd0) v |= 1n << 41n;
  return v;
}

async function run(mem: SparseMemory, regs: Record<string, bigint>, roots?: string[]) {
  const space = spaceFromRegisters('aarch64', new Map(Object.entries(regs)), { roots });
  const store = new TableStore(mem);
  const leaves: Leaf[] = [];
  const diags: Diagnostic[] = [];
  await walk(space.roots, store, { leaf: (l) => leaves.push(l), diagnostic: (d) => diags.push(d) });
  return { space, store, leaves, diags };
}

describe('AArch64 stage 1, 4K granule, 39-bit halves', () => {
  // TTBR0 L1 at 0x1000, L2 at 0x2000, L3 at 0x3000; TTBR1 L1 at 0x4000.
  function build(): SparseMemory {
    const m = new SparseMemory();
    m.write64(0x1000 + 8 * 0, 0x2000n | V | T); // L1[0] → L2
    m.write64(0x1000 + 8 * 1, 0x40000000n | V | AF | attr(0) | SH_IS); // 1 GiB block, EL1 RW, EL0 none
    m.write64(0x1000 + 8 * 2, 0x5000n | V | T | APT1 | UXNT); // no write and no EL0 exec below
    m.write64(0x2000 + 8 * 0, 0x3000n | V | T);
    m.write64(0x2000 + 8 * 1, 0x80200000n | V | AF | AP1 | attr(1) | PXN); // 2 MiB, EL0 RW, Normal-NC
    m.write64(0x3000 + 8 * 0, 0x90000000n | V | T | AF | AP1 | AP2 | attr(0) | NG); // EL0 RO page
    m.write64(0x3000 + 8 * 1, 0x09000000n | V | T | AF | attr(2) | UXN | PXN); // device page
    m.write64(0x3000 + 8 * 2, 0x90002000n | V | T | AF | AP1); // EL0 RW → implicit PXN
    for (let i = 16; i < 32; i++) m.write64(0x3000 + 8 * i, BigInt(0x91000000 + i * 4096) | V | T | AF | CONT | UXN);
    m.write64(0x5000 + 8 * 0, 0x6000n | V | T);
    m.write64(0x6000 + 8 * 0, 0x92000000n | V | T | AF | AP1); // EL0 RW, but APTable[1] and UXNTable above
    // TTBR1 half: L1[511] → 1 GiB block at the top of the address space
    m.write64(0x4000 + 8 * 511, 0x80000000n | V | AF | attr(0) | UXN);
    return m;
  }
  const regs = (extra: Record<string, bigint> = {}) => ({
    ttbr0_el1: 0x1000n | (5n << 48n), ttbr1_el1: 0x4000n, tcr_el1: tcr({ t0sz: 25, t1sz: 25 }), mair_el1: MAIR, sctlr: 0x30d0199dn & ~(1n << 19n), ...extra,
  });

  it('walks both halves with levels, sizes and canonical VAs', async () => {
    const { space, leaves, diags } = await run(build(), regs());
    assert.deepEqual(diags, []);
    assert.deepEqual(space.roots.map((r) => [r.name, r.format.levels.map((l) => l.name).join('/')]), [
      ['ttbr0_el1', 'L1/L2/L3'], ['ttbr1_el1', 'L1/L2/L3'],
    ]);
    assert.deepEqual(space.roots[0].info.find(([k]) => k === 'ASID'), ['ASID', '5']);
    const rows = leaves.map((l) => [hex(l.root.toVirt(l.linear)), hex(l.pa), l.size]);
    assert.deepEqual(rows.slice(0, 4), [['0x0', '0x90000000', 4096], ['0x1000', '0x9000000', 4096], ['0x2000', '0x90002000', 4096], ['0x10000', '0x91010000', 4096]]);
    assert.deepEqual(rows.find((r) => r[0] === '0x200000'), ['0x200000', '0x80200000', 2 << 20]);
    assert.deepEqual(rows.find((r) => r[0] === '0x40000000'), ['0x40000000', '0x40000000', 1 << 30]);
    assert.deepEqual(rows.at(-1), ['0xffffffffc0000000', '0x80000000', 1 << 30]);
    assert.equal(leaves.length, 3 + 16 + 1 + 1 + 1 + 1);
  });

  it('decodes AP, UXN/PXN, implicit PXN, APTable/UXNTable and MAIR', async () => {
    const { leaves } = await run(build(), regs());
    const at = (va: bigint) => leaves.find((l) => BigInt(l.root.toVirt(l.linear)) === va)!;
    const f = leaves[0].root.format;
    // Rights v2 (Arm ARM D8.4): privileged (EL1) and EL0 rights as separate bits.
    assert.equal(at(0x0n).perms, Perm.Read | Perm.UserRead | Perm.Exec | Perm.UserExec); // AP=11: read-only at EL1 and EL0
    assert.equal(at(0x0n).flags & Flag.Global, 0);
    assert.equal(at(0x1000n).perms, Perm.Read | Perm.Write);
    assert.equal(f.memTypes[at(0x1000n).memType], 'Device-nGnRE');
    assert.equal(at(0x2000n).perms, Perm.Read | Perm.Write | Perm.UserRead | Perm.UserWrite | Perm.UserExec, 'EL0-writable: PXN implied');
    assert.equal(at(0x200000n).perms, Perm.Read | Perm.Write | Perm.UserRead | Perm.UserWrite | Perm.UserExec);
    assert.equal(f.memTypes[at(0x200000n).memType], 'Normal-NC');
    assert.equal(at(0x10000n).flags & Flag.Contiguous, Flag.Contiguous);
    // Under L1[2]: APTable[1] removes write, UXNTable removes EL0 exec; PXN is no longer implied
    // because the page is not EL0-writable any more.
    const deep = at(0x80000000n);
    assert.equal(deep.perms, Perm.Read | Perm.UserRead | Perm.Exec);
    const why = provenance(deep).map((p) => `${p.permName}: ${p.because}`);
    assert.ok(why.includes('write: L1 APTable[1]=1 (no write below)'), why.join('; '));
    assert.ok(why.includes('userWrite: L1 APTable[1]=1 (no write below)'), why.join('; '));
    assert.ok(why.includes('userExec: L1 UXNTable=1'), why.join('; '));
  });

  it('applies SCTLR.WXN and TCR.HPD0', async () => {
    const wxn = await run(build(), regs({ sctlr: 0x30d0199dn | (1n << 19n) }));
    const p = wxn.leaves.find((l) => l.linear === 0x40000000)!.perms;
    assert.equal(p & Perm.Exec, 0, 'writable ⇒ not executable under WXN');
    const hpd = await run(build(), regs({ tcr_el1: tcr({ t0sz: 25, t1sz: 25, hpd0: true }) }));
    assert.equal(hpd.leaves.find((l) => l.linear === 0x80000000)!.perms, Perm.Read | Perm.Write | Perm.UserRead | Perm.UserWrite | Perm.UserExec);
  });

  it('honours EPD1, TBI0 and reports ASID-less roots', async () => {
    const { space } = await run(build(), regs({ tcr_el1: tcr({ t0sz: 25, t1sz: 25, epd1: true, tbi0: true }) }));
    assert.deepEqual(space.roots.map((r) => r.name), ['ttbr0_el1']);
    assert.ok(space.notes.some((n) => /EPD1/.test(n)));
    const r = space.roots[0];
    assert.equal(r.toLinear(0x5a00000000001000n), 0x1000, 'top byte ignored');
    assert.equal(r.toLinear(0x0080000000001000n), undefined);
  });

  it('flags reserved encodings and address size faults, and keeps walking', async () => {
    const m = build();
    m.write64(0x3000 + 8 * 40, 0x90040000n | V | AF); // bit 1 clear at L3: reserved
    m.write64(0x2000 + 8 * 2, (1n << 40n) | V | AF); // block beyond a 40-bit IPS
    const { diags, leaves } = await run(m, regs({ tcr_el1: tcr({ t0sz: 25, t1sz: 25, ips: 2 }) }));
    assert.deepEqual(diags.map((d) => [d.kind, d.root.format.levels[d.level].name, d.index]), [['reserved-bits', 'L3', 40], ['reserved-bits', 'L2', 2]]);
    assert.equal(leaves.length, 23);
  });

  it('translates with a trace and requires the registers it needs', async () => {
    const { space, store } = await run(build(), regs());
    const t = await translateLinear(space.roots[0], 0x2123, store);
    assert.equal(t.kind, 'mapped');
    assert.deepEqual(t.trace.map((s) => [s.levelName, s.index, s.kind]), [['L1', 0, EntryKind.Table], ['L2', 0, EntryKind.Table], ['L3', 2, EntryKind.Leaf]]);
    assert.throws(() => spaceFromRegisters('aarch64', new Map([['ttbr0_el1', 0n]])), (e: unknown) => e instanceof RegisterError && /TCR_EL1/.test(e.message));
    assert.throws(() => spaceFromRegisters('aarch64', new Map([['tcr_el1', tcr({ t0sz: 25 })], ['sctlr', 0n], ['ttbr0_el1', 0n], ['ttbr1_el1', 0n]])), /MMU is off/);
  });
});

describe('AArch64 16K and 64K granules, LPA, stage 2', () => {
  it('16K: 36-bit input starts at L2 with 32 MiB blocks', async () => {
    const m = new SparseMemory();
    m.write64(0x4000 + 8 * 3, 0x6000000n | V | AF); // L2[3] block: 32 MiB at VA 0x6000000
    m.write64(0x4000 + 8 * 4, 0x8000n | V | T);
    m.write64(0x8000 + 8 * 1, 0x12344000n | V | T | AF); // 16 KiB page
    const { space, leaves, diags } = await run(m, { ttbr0_el1: 0x4000n, tcr_el1: tcr({ t0sz: 28, tg0: 2, epd1: true }), mair_el1: MAIR }, ['ttbr0']);
    assert.deepEqual(diags, []);
    assert.deepEqual(space.roots[0].format.levels.map((l) => [l.name, l.shift, l.indexBits]), [['L2', 25, 11], ['L3', 14, 11]]);
    assert.deepEqual(leaves.map((l) => [hex(l.linear), hex(l.pa), l.size]), [['0x6000000', '0x6000000', 32 << 20], ['0x8004000', '0x12344000', 16384]]);
  });

  it('64K with 52-bit PA (FEAT_LPA): PA[51:48] from descriptor bits 15:12', async () => {
    const m = new SparseMemory();
    m.write64(0x10000 + 8 * 1, 0x20000n | V | T); // L2[1] → L3
    m.write64(0x20000 + 8 * 2, 0x7770000n | (0xan << 12n) | V | T | AF); // PA 0xa_0000_0777_0000
    m.write64(0x10000 + 8 * 2, 0x40000000n | V | AF); // 512 MiB block
    const { leaves, diags, space } = await run(m, { ttbr0_el1: 0x10000n, tcr_el1: tcr({ t0sz: 22, tg0: 1, ips: 6, epd1: true }) }, ['ttbr0']);
    assert.deepEqual(diags, []);
    assert.deepEqual(space.roots[0].format.levels.map((l) => l.name), ['L2', 'L3']);
    assert.deepEqual(leaves.map((l) => [hex(l.linear), hex(l.pa), l.size]), [['0x20020000', '0xa000007770000', 65536], ['0x40000000', '0x40000000', 512 << 20]]);
  });

  it('stage 2: concatenated root tables, S2AP and XN', async () => {
    const m = new SparseMemory();
    // 4K, T0SZ=24 (40-bit IPA), SL0=1 → start L1 with 1024 entries (two concatenated tables).
    const vtcr = 24n | (1n << 6n) | (5n << 16n);
    m.write64(0x8000 + 8 * 600, 0x40000000n | V | AF | (3n << 6n) | (0xfn << 2n)); // RW, exec
    m.write64(0x8000 + 8 * 601, 0x80000000n | V | AF | (1n << 6n) | (2n << 53n)); // RO, XN
    const { leaves, space } = await run(m, { vttbr_el2: 0x8000n | (7n << 48n), vtcr_el2: vtcr }, ['vttbr']);
    assert.deepEqual(space.roots[0].format.levels[0], { name: 'L1', shift: 30, indexBits: 10 });
    assert.deepEqual(space.roots[0].info.find(([k]) => k === 'VMID'), ['VMID', '7']);
    assert.deepEqual(leaves.map((l) => [hex(l.linear), hex(l.pa), l.perms]), [
      // Stage 2: the user fields equal the privileged ones (FEAT_XNX still splits execute).
      ['0x9600000000', '0x40000000', Perm.All],
      ['0x9640000000', '0x80000000', Perm.Read | Perm.UserRead],
    ]);
  });

  it('names MAIR attributes', () => {
    assert.equal(mairName(0xff), 'Normal-WB');
    assert.equal(mairName(0x44), 'Normal-NC');
    assert.equal(mairName(0xbb), 'Normal-WT');
    assert.equal(mairName(0x00), 'Device-nGnRnE');
    assert.equal(mairName(0x04), 'Device-nGnRE');
    assert.equal(mairName(0x4f), 'Normal-IWB-ONC');
  });
});
