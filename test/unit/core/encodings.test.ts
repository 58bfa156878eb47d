// Spec-exact encodings and TLB maintenance, table-driven, each case citing its manual section:
// Svnapot decode, reserved sizes and edits; Svpbmt PBMT=3; RISC-V non-leaf D/A/U; PAE bits
// 62:MAXPHYADDR; MAIR Tagged Normal; per-architecture flush ceilings (Linux's defaults); RISC-V
// non-leaf G in the fence choice; the simulator's default G; walk, translate and simulator agree.
import assert from 'node:assert/strict';
import { EditError } from '../../../src/core/edit/codecs';
import { EditSimulator } from '../../../src/core/edit/simulator';
import { defaultFlushCeiling } from '../../../src/core/edit/tlb';
import { Flag } from '../../../src/core/format';
import { mairName } from '../../../src/core/formats/aarch64';
import { spaceFromRegisters } from '../../../src/core/formats';
import { PageTableSession } from '../../../src/core/ops/session';
import { Diagnostic, Leaf } from '../../../src/core/walker';
import { SparseMemory } from '../../support/sparseMemory';

const RV = { V: 1n, R: 2n, W: 4n, X: 8n, U: 16n, G: 32n, A: 64n, D: 128n, N: 1n << 63n };
const pte = (pa: number, f: bigint) => ((BigInt(pa) >> 12n) << 10n) | f;
const SV39 = new Map([['satp', (8n << 60n) | (5n << 44n) | 1n], ['sstatus', 0n]]);

async function walkAll(s: PageTableSession): Promise<{ leaves: Leaf[]; diags: Diagnostic[] }> {
  const leaves: Leaf[] = [];
  const diags: Diagnostic[] = [];
  await s.forEachLeaf((l) => leaves.push(l), {}, (d) => diags.push(d));
  return { leaves, diags };
}

/** Sv39 root 0x1000 → L1 0x2000 → L0 0x3000; `fill` writes the L0 entries. */
function sv39(fill: (set: (i: number, v: bigint) => void) => void, l1Flags = RV.V): SparseMemory {
  const m = new SparseMemory();
  m.write64(0x1000, pte(0x2000, RV.V));
  m.write64(0x2000, pte(0x3000, l1Flags));
  fill((i, v) => m.write64(0x3000 + 8 * i, v));
  return m;
}

describe('Svnapot (RISC-V Svnapot extension: NAPOT translation contiguity)', () => {
  const K = RV.V | RV.R | RV.W | RV.A | RV.D;
  // 64 KiB region at VA 0x10000 (entries 16..31) → PA 0x80040000: ppn[0][3:0] = 1000.
  const napot = () => sv39((set) => { for (let i = 16; i < 32; i++) set(i, pte(0x80040000 + 0x8000, K | RV.N)); });

  it('each of the 16 pages maps PA base + VA[15:12] (not all the same frame), in dump and translate', async () => {
    const s = new PageTableSession(spaceFromRegisters('riscv64', SV39), napot());
    const { leaves, diags } = await walkAll(s);
    assert.deepEqual(diags, []);
    assert.deepEqual(leaves.map((l) => l.pa), Array.from({ length: 16 }, (_, k) => 0x80040000 + k * 4096));
    assert.ok(leaves.every((l) => l.flags & Flag.Contiguous));
    for (const k of [0, 5, 15]) {
      const t = await s.translate(BigInt(0x10000 + k * 4096 + 0x123));
      assert.equal(t.pa, 0x80040000 + k * 4096 + 0x123);
    }
    const ranges = await s.ranges();
    assert.equal(ranges.length, 1);
    assert.ok(ranges[0].paContiguous);
    assert.equal(ranges[0].size, 0x10000);
    assert.deepEqual((await s.aliases(0x80045000)).map((a) => a.vaOfPa), ['0x15000']);
  });

  it('a NAPOT size other than 64 KiB (ppn[0][3:0] != 1000) is reserved: the walk faults', async () => {
    const m = sv39((set) => set(16, pte(0x80040000 + 0x4000, K | RV.N)));
    const s = new PageTableSession(spaceFromRegisters('riscv64', SV39), m);
    const { leaves, diags } = await walkAll(s);
    assert.equal(leaves.length, 0);
    assert.equal(diags[0]?.kind, 'reserved-bits');
    assert.equal((await s.translate(0x10000n)).kind, 'invalid');
  });

  it('N=1 on a superpage is reserved (NAPOT only at the 4 KiB level)', async () => {
    const m = new SparseMemory();
    m.write64(0x1000, pte(0x2000, RV.V));
    m.write64(0x2000 + 8, pte(0x80200000, K | RV.N)); // 2 MiB leaf with N
    const { leaves, diags } = await walkAll(new PageTableSession(spaceFromRegisters('riscv64', SV39), m));
    assert.equal(leaves.length, 0);
    assert.equal(diags[0]?.kind, 'reserved-bits');
  });

  it('edits: one page of a NAPOT region is refused with the reason; the whole region is rewritten with its sequence', async () => {
    const mem = napot();
    const sim = new EditSimulator(spaceFromRegisters('riscv64', SV39), mem);
    await assert.rejects(sim.protect(0x15000n, 4096, { write: false }), (e: unknown) => e instanceof EditError && /64 KiB Svnapot region \(0x10000-0x20000\): edit the whole region/.test((e as Error).message));
    const r = await sim.protect(0x10000n, 0x10000, { write: false });
    assert.equal(r.changes.length, 16);
    assert.ok(r.hazards.some((h) => h.kind === 'napot' && /write all 16 PTEs invalid, sfence\.vma/.test(h.message)), JSON.stringify(r.hazards));
    r.flush.consume();
    const t = await sim.session().translate(0x15000n);
    assert.equal(t.pa, 0x80045000);
    assert.equal(t.rights!.write, false);
  });
});

describe('reserved encodings (manuals; QEMU TCG noted where it is more lenient)', () => {
  it('Svpbmt: PBMT=3 is reserved (privileged spec §4.3.2 step 3: reserved encodings fault)', async () => {
    const m = sv39((set) => set(1, pte(0x80001000, RV.V | RV.R | RV.A) | (3n << 61n)));
    const { leaves, diags } = await walkAll(new PageTableSession(spaceFromRegisters('riscv64', SV39), m));
    assert.equal(leaves.length, 0);
    assert.match(diags[0].message, /reserved bits 0x6000000000000000/);
  });

  it('RISC-V: D, A, U in a non-leaf PTE are reserved (§4.3.1); QEMU TCG ignores them', async () => {
    for (const bit of [RV.D, RV.A, RV.U]) {
      const m = sv39((set) => set(1, pte(0x80001000, RV.V | RV.R | RV.A)), RV.V | bit);
      const s = new PageTableSession(spaceFromRegisters('riscv64', SV39), m);
      const { leaves, diags } = await walkAll(s);
      assert.equal(leaves.length, 0, `bit ${bit}`);
      assert.equal(diags[0]?.kind, 'reserved-bits');
      assert.equal((await s.translate(0x1000n)).kind, 'invalid');
    }
  });

  it('x86 PAE: bits 62:52 of a PDE/PTE are reserved (SDM vol. 3 Tables 4-8..4-10), ignored in IA-32e paging (Table 4-19)', async () => {
    const P = 1n, RW = 2n;
    const pae = new SparseMemory();
    pae.write64(0x1000, 0x2000n | P);
    pae.write64(0x2000, 0x3000n | P | RW);
    pae.write64(0x3000, 0x100000n | P | RW | (1n << 52n));
    const s1 = new PageTableSession(spaceFromRegisters('x86', new Map([['cr0', 0x80000011n], ['cr3', 0x1000n], ['cr4', 0x20n], ['efer', 0n]])), pae);
    const a = await walkAll(s1);
    assert.equal(a.leaves.length, 0);
    assert.match(a.diags[0].message, /reserved bits 0x10000000000000/);
    const long = new SparseMemory();
    long.write64(0x1000, 0x2000n | P | RW);
    long.write64(0x2000, 0x3000n | P | RW);
    long.write64(0x3000, 0x4000n | P | RW);
    long.write64(0x4000, 0x100000n | P | RW | (1n << 52n));
    const space = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', 0x1000n], ['cr4', 0x20n], ['efer', 0xd00n]]));
    const b = await walkAll(new PageTableSession(space, long));
    assert.equal(b.leaves.length, 1);
    assert.equal(space.notes.filter((n) => /MAXPHYADDR unknown: assuming 52 bits/.test(n)).length, 1, 'the assumption is stated once');
  });

  it('MAIR 0xF0 is Tagged Normal (Arm ARM D8.5, FEAT_MTE2; Linux MT_NORMAL_TAGGED), not a transient type', () => {
    assert.equal(mairName(0xf0), 'Normal-Tagged');
    assert.equal(mairName(0x40), 'Normal-NC(XS=0)');
    assert.equal(mairName(0x30), 'reserved');
    assert.equal(mairName(0xff), 'Normal-WB');
  });
});

describe('TLB maintenance per architecture (Linux defaults; --flush-ceiling overrides)', () => {
  it('ceilings: x86 33 (tlb_single_page_flush_ceiling), arm64 MAX_DVM_OPS = PTRS_PER_PTE (per granule), RISC-V 64 (tlb_flush_all_threshold)', () => {
    const x = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', 0x1000n], ['cr4', 0x20n], ['efer', 0xd00n]]));
    assert.equal(defaultFlushCeiling(x.roots[0]), 33);
    const tcr = (tg0: bigint) => 25n | (tg0 << 14n) | (1n << 23n) | (5n << 32n);
    for (const [tg0, ptrs] of [[0n, 512], [2n, 2048], [1n, 8192]] as const) {
      const a = spaceFromRegisters('aarch64', new Map([['ttbr0_el1', 0x10000n], ['tcr_el1', tcr(tg0)], ['sctlr_el1', 1n]]));
      assert.equal(defaultFlushCeiling(a.roots[0]) + 1, ptrs, `granule TG0=${tg0}`);
    }
    assert.equal(defaultFlushCeiling(spaceFromRegisters('riscv64', SV39).roots[0]), 64);
  });

  it('RISC-V: 64 pages are fenced one by one, 65 with one full fence', async () => {
    const K = RV.V | RV.R | RV.W | RV.A | RV.D;
    const mem = sv39((set) => { for (let i = 0; i < 200; i++) set(i, pte(0x80000000 + i * 4096, K)); });
    const sim = new EditSimulator(spaceFromRegisters('riscv64', SV39), mem);
    const a = await sim.unmap(0n, 64 * 4096);
    assert.equal(a.flush.fullFlush, false);
    assert.equal(a.flush.ops.length, 64);
    a.flush.consume();
    const b = await sim.unmap(64n * 4096n, 65 * 4096);
    assert.equal(b.flush.fullFlush, true);
    b.flush.consume();
  });

  it('RISC-V: a translation under a non-leaf G is global, so the fence uses rs2=zero (§4.2.1: an ASID fence keeps global entries)', async () => {
    const K = RV.V | RV.R | RV.W | RV.A | RV.D;
    const mem = sv39((set) => set(1, pte(0x80001000, K)), RV.V | RV.G);
    const space = spaceFromRegisters('riscv64', SV39);
    const [leaf] = await new PageTableSession(space, mem).leaves();
    assert.ok(leaf.flags & Flag.Global, 'the walk sees it global');
    const sim = new EditSimulator(space, mem);
    const r = await sim.unmap(0x1000n, 4096);
    assert.deepEqual(r.flush.ops.map((o) => o.insn), ['sfence.vma 0x1000, zero']);
    r.flush.consume();
    // Without the non-leaf G the same unmap is ASID-specific.
    const plain = new EditSimulator(space, sv39((set) => set(1, pte(0x80001000, K))));
    const p = await plain.unmap(0x1000n, 4096);
    assert.deepEqual(p.flush.ops.map((o) => o.insn), ['sfence.vma 0x1000, 5']);
    p.flush.consume();
  });

  it('arm64: 511 pages are invalidated one by one, 512 with one full TLBI (4K granule)', async () => {
    const mem = new SparseMemory();
    mem.write64(0x1000, 0x2000n | 3n);
    mem.write64(0x2000, 0x3000n | 3n);
    mem.write64(0x2000 + 8, 0x4000n | 3n);
    for (let i = 0; i < 512; i++) {
      mem.write64(0x3000 + 8 * i, BigInt(0x80000000 + i * 4096) | 3n | (1n << 10n));
      mem.write64(0x4000 + 8 * i, BigInt(0x90000000 + i * 4096) | 3n | (1n << 10n));
    }
    const tcr = 25n | (1n << 23n) | (5n << 32n);
    const sim = new EditSimulator(spaceFromRegisters('aarch64', new Map([['ttbr0_el1', 0x1000n | (7n << 48n)], ['tcr_el1', tcr], ['sctlr_el1', 1n], ['mair_el1', 0xffn]])), mem);
    const a = await sim.unmap(0n, 511 * 4096);
    assert.equal(a.flush.fullFlush, false);
    a.flush.consume();
    const b = await sim.unmap(0x200000n, 512 * 4096);
    assert.equal(b.flush.fullFlush, true);
    // nG=0: the pages are global, so the full flush is vmalle1is rather than by ASID.
    assert.ok(b.flush.ops.some((o) => /tlbi vmalle1is/.test(o.insn)), JSON.stringify(b.flush.ops));
    b.flush.consume();
  });

  it('x86: map in the user half is not global by default; in the kernel half it is (docs/cli.md)', async () => {
    const mem = new SparseMemory();
    const space = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', 0x1000n], ['cr4', 0x20n | 0x80n], ['efer', 0xd00n]]));
    const sim = new EditSimulator(space, mem);
    const u = await sim.map(0x400000n, 0x100000, 4096, { rights: { write: true, exec: false, user: false } });
    assert.equal(u.changes.at(-1)!.globalAfter, false);
    u.flush.consume();
    const k = await sim.map(0xffff800000000000n, 0x100000, 4096, { rights: { write: true, exec: false, user: false } });
    assert.equal(k.changes.at(-1)!.globalAfter, true);
    k.flush.consume();
  });

  it('x86 with EFER.NXE=0: bit 63 is reserved for the simulator as for the walk (SDM Table 4-19)', async () => {
    const P = 1n, RW = 2n;
    const mem = new SparseMemory();
    mem.write64(0x1000, 0x2000n | P | RW);
    mem.write64(0x2000, 0x3000n | P | RW);
    mem.write64(0x3000, 0x4000n | P | RW);
    mem.write64(0x4000, 0x100000n | P | RW | (1n << 63n));
    const space = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', 0x1000n], ['cr4', 0x20n], ['efer', 0x500n]]));
    assert.equal((await new PageTableSession(space, mem).translate(0n)).kind, 'invalid');
    const sim = new EditSimulator(space, mem);
    await assert.rejects(sim.protect(0n, 4096, { write: false }), (e: unknown) => e instanceof EditError && /reserved bits/.test((e as Error).message));
  });
});

describe('simulator hazards on shared tables (item 6)', () => {
  it('an edit in a table reached through many entries says so, with the count', async () => {
    const { hostileCorpus } = await import('../../support/hostile');
    const img = hostileCorpus().find((i) => i.name === 'x86_64-fan-out')!;
    const mem = new SparseMemory(img.bytes.length);
    for (let o = 0; o < img.bytes.length; o += 8) {
      const v = img.bytes.readBigUInt64LE(o);
      if (v) mem.write64(o, v);
    }
    const sim = new EditSimulator(spaceFromRegisters('x86_64', new Map(img.regs)), mem);
    const r = await sim.unmap(0x1000n, 4096);
    assert.ok(r.hazards.some((h) => h.kind === 'shared-table' && /PT at 0x3000 is reached through 512 entries/.test(h.message)), JSON.stringify(r.hazards));
    assert.deepEqual(r.flush.hazards, r.hazards, 'the flush report carries the hazards');
    r.flush.consume();
  });

  it('a new top-level entry in the x86 kernel half names the other roots that do not get it (Linux syncs kernel PGD entries)', async () => {
    const P = 1n, RW = 2n;
    const mem = new SparseMemory();
    mem.write64(0x1000, 0x3000n | P | RW);
    mem.write64(0x2000, 0x3000n | P | RW); // a second address space sharing the user half's PDPT
    const space = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', 0x1000n], ['cr4', 0xa0n], ['efer', 0xd00n]]), { roots: ['cr3', 'table@0x2000'] });
    const sim = new EditSimulator(space, mem);
    const k = await sim.map(0xffff888000000000n, 0x100000, 4096, { rights: { write: true, exec: false, user: false }, root: 'cr3' });
    assert.ok(k.hazards.some((h) => h.kind === 'shared-table' && /new top-level entry in the kernel half of cr3 .*table@0x2000/.test(h.message)), JSON.stringify(k.hazards));
    k.flush.consume();
    const u = await sim.map(0x40000000n, 0x100000, 4096, { rights: { write: true, exec: false, user: true }, root: 'cr3' });
    assert.ok(!u.hazards.some((h) => /top-level/.test(h.message)), 'the user half is per process');
    u.flush.consume();
  });
});

describe('QEMU TCG more lenient than the manual: followed, and said', () => {
  it('x86 PAE PDPTE bits 2:1 and 8:5 (SDM §4.4.1 Table 4-8: a real CPU faults at MOV CR3) give a qemu-lenient diagnostic; the walk goes on', async () => {
    const P = 1n, RW = 2n, A = 0x20n;
    const m = new SparseMemory();
    m.write64(0x1000, 0x2000n | P | A | RW); // A as QEMU sets it, R/W reserved
    m.write64(0x2000, 0x3000n | P | RW);
    m.write64(0x3000, 0x100000n | P | RW);
    const s = new PageTableSession(spaceFromRegisters('x86', new Map([['cr0', 0x80010011n], ['cr3', 0x1000n], ['cr4', 0x20n], ['efer', 0n]])), m);
    const { leaves, diags } = await walkAll(s);
    assert.equal(leaves.length, 1);
    assert.deepEqual(diags.map((d) => d.kind), ['qemu-lenient']);
    assert.match(diags[0].message, /bits 0x22 are reserved by the manual \(a real CPU faults on them\) but QEMU TCG accepts them/);
    const ranges: Diagnostic[] = [];
    await s.ranges({}, (d) => ranges.push(d));
    assert.deepEqual(ranges.map((d) => d.kind), ['qemu-lenient'], 'the graph fold says it too');
  });
});

describe('flush reports are must-use to the end', () => {
  it('finish() refuses while the last edit\'s report is unhandled, and passes once it is consumed', async () => {
    const P = 1n, RW = 2n;
    const mem = new SparseMemory();
    mem.write64(0x1000, 0x2000n | P | RW);
    mem.write64(0x2000, 0x3000n | P | RW);
    mem.write64(0x3000, 0x4000n | P | RW);
    mem.write64(0x4000, 0x100000n | P | RW);
    const sim = new EditSimulator(spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', 0x1000n], ['cr4', 0xa0n], ['efer', 0xd00n]])), mem);
    const r = await sim.unmap(0n, 4096);
    assert.throws(() => sim.finish(), /left its TLB maintenance unhandled/);
    r.flush.consume();
    sim.finish();
  });
});
