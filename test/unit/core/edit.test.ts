// Simulated edits on hand-built tables: the descriptors written, the tables created or split,
// the TLB maintenance each architecture needs, hazards, and that guest memory is never written.
import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { EditError } from '../../../src/core/edit/codecs';
import { EditSimulator } from '../../../src/core/edit/simulator';
import { UnconsumedFlushError } from '../../../src/core/edit/tlb';
import { SparseMemory } from '../../support/sparseMemory';

const P = 1n, RW = 2n, US = 4n, PS = 0x80n, G = 0x100n, NX = 1n << 63n;
const M2 = 2 * 1024 * 1024;

// x86_64: PML4 0x1000; PML4[0] → PDPT 0x2000 → PD 0x3000: PD[0] → PT 0x4000 (64 4K pages at
// 0x100000+), PD[1] a global 2 MiB page (VA 0x200000 → PA 0x400000). PML4[1] (R/W=0) → PDPT 0x6000 → PD 0x7000.
function x86(): { mem: SparseMemory; sim: EditSimulator } {
  const mem = new SparseMemory();
  mem.write64(0x1000, 0x2000n | P | RW | US);
  mem.write64(0x2000, 0x3000n | P | RW | US);
  mem.write64(0x3000, 0x4000n | P | RW | US);
  for (let i = 0; i < 64; i++) mem.write64(0x4000 + 8 * i, BigInt(0x100000 + i * 4096) | P | RW | NX);
  mem.write64(0x3000 + 8, 0x400000n | P | RW | PS | G);
  mem.write64(0x1000 + 8, 0x6000n | P | US); // PML4[1]: R/W=0 for 512 GiB
  mem.write64(0x6000, 0x7000n | P | RW | US);
  mem.write64(0x7000, 0x800000n | P | RW | PS | NX);
  const space = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', 0x1000n], ['cr4', 0x20n | 0x80n], ['efer', 0xd00n]]));
  return { mem, sim: new EditSimulator(space, mem) };
}

describe('simulated edits: x86_64', () => {
  it('map into a hole allocates tables, needs no invalidation, and never writes guest memory', async () => {
    const { mem, sim } = x86();
    const before = await mem.read(0x1000 as never, 4096);
    // 0x80_4000_0000: PML4[1] exists (R/W=0), PDPT[1] is empty → a new PD and PT.
    const r = await sim.map(0x80_4000_0000n, 0x200000, 4096, { rights: { write: true, exec: false, user: false } });
    assert.deepEqual(r.changes.map((c) => [c.why, c.levelName, c.beforeKind, c.afterKind]), [
      ['new-table', 'PDPT', 'invalid', 'table'], ['new-table', 'PD', 'invalid', 'table'], ['map', 'PT', 'invalid', 'leaf'],
    ]);
    assert.equal(r.newTables.length, 2);
    assert.equal(r.flush.translations, 0);
    assert.deepEqual(r.flush.ops, []);
    assert.ok(r.flush.notes.some((n) => /never caches a not-present/.test(n)));
    // PML4[1] has R/W=0: the requested write is ineffective, and the hazard says which level.
    assert.ok(r.hazards.some((h) => h.kind === 'ineffective' && /write/.test(h.message) && /PML4/.test(h.message)), JSON.stringify(r.hazards));
    r.flush.consume();
    const t = await sim.session().translate(0x80_4000_0000n + 0x123n);
    assert.equal(t.kind, 'mapped');
    assert.equal(t.pa, 0x200123);
    assert.equal(t.rights!.exec, false);
    assert.deepEqual(await mem.read(0x1000 as never, 4096), before);
    assert.equal((await mem.read(0x6000 as never, 16))[8], 0, 'guest PDPT untouched');
  });

  it('refuses to edit through a recursive reference (the descent does not go down it) and leaves no partial change', async () => {
    const { mem, sim } = x86();
    mem.write64(0x1000 + 16, 0x1000n | P | RW); // PML4[2] → the PML4 itself
    const at = 0x100_0000_0000n; // PML4[2]: its PDPT would be the PML4
    for (const edit of [() => sim.protect(at, 4096, { write: false }), () => sim.map(at, 0x200000, 4096, { rights: { write: true, exec: false, user: false } })]) {
      await assert.rejects(edit(), (e: unknown) => e instanceof EditError && /PML4\[2\] @ 0x1010 points back to the table at 0x1000 on its own path/.test((e as Error).message));
    }
    assert.deepEqual(sim.shadow.dirtyPages, [], 'refused edits leave the shadow unwritten');
    // The same range's neighbours still edit normally.
    const r = await sim.protect(0x0n, 4096, { write: false });
    assert.deepEqual(r.changes.map((c) => [c.why, c.levelName, c.index]), [['protect', 'PT', 0]]);
    r.flush.consume();
  });

  it('maps an aligned 2 MiB range with one PD leaf and refuses to map over a mapping', async () => {
    const { sim } = x86();
    const r = await sim.map(0x600000n, 0x1000000, M2, { rights: { write: true, exec: true, user: false } });
    assert.deepEqual(r.changes.map((c) => [c.levelName, c.index, c.afterKind]), [['PD', 3, 'leaf']]);
    r.flush.consume();
    await assert.rejects(sim.map(0x200000n, 0x1000000, 4096, { rights: { write: true, exec: true, user: false } }), (e: unknown) => e instanceof EditError && /already mapped by the 2M PD\[1\]/.test((e as Error).message));
  });

  it('unmapping one page of a 2 MiB page splits it and invalidates the old 2 MiB translation only', async () => {
    const { sim } = x86();
    const r = await sim.unmap(0x201000n, 4096);
    assert.deepEqual(r.changes.map((c) => [c.why, c.levelName, c.fresh]), [['split', 'PD', false], ['unmap', 'PT', true]]);
    assert.deepEqual(r.flush.ops.map((o) => o.insn), ['invlpg [0x200000]']);
    assert.match(r.flush.ops[0].why, /global/);
    r.flush.consume();
    const s = sim.session();
    assert.equal((await s.translate(0x201000n)).kind, 'not-mapped');
    const t = await s.translate(0x202345n);
    assert.equal(t.pa, 0x402345);
    assert.equal(t.size, 4096);
    const diff = await sim.diff();
    assert.ok(diff.removed.some((x) => x.va === '0x200000' && x.size === M2));
    assert.ok(diff.added.some((x) => x.va === '0x200000' && x.end === '0x201000'));
  });

  it('protect: per-page INVLPG up to the ceiling, a CR3 reload beyond, upgrades need none', async () => {
    const { sim } = x86();
    const few = await sim.protect(0x0n, 8 * 4096, { write: false });
    assert.equal(few.changes.length, 8);
    assert.deepEqual(few.flush.ops.map((o) => o.insn).slice(0, 2), ['invlpg [0x0]', 'invlpg [0x1000]']);
    few.flush.consume();
    const many = await sim.protect(0x0n, 64 * 4096, { exec: true });
    assert.equal(many.flush.translations, 0);
    assert.deepEqual(many.flush.ops.map((o) => o.insn), []); // gaining exec only: optional
    assert.ok(many.flush.notes.some((n) => /spurious page fault/.test(n)));
    many.flush.consume();
    const down = await sim.protect(0x0n, 64 * 4096, { exec: false });
    assert.deepEqual(down.flush.ops.map((o) => o.insn), ['mov cr3, cr3']);
    down.flush.consume();
    const glob = await sim.protect(0x0n, 0x600000, { write: false });
    assert.match(glob.flush.ops[0].insn, /invpcid type 2/); // the 2 MiB page is global
  });

  it('refuses the next edit until the previous flush report is consumed or ignored', async () => {
    const { sim } = x86();
    const r = await sim.protect(0x0n, 4096, { write: false });
    await assert.rejects(sim.unmap(0x1000n, 4096), UnconsumedFlushError);
    await assert.rejects(sim.diff(), UnconsumedFlushError);
    r.flush.ignore('the space is not live');
    assert.equal(r.flush.disposition, 'ignored: the space is not live');
    await sim.unmap(0x1000n, 4096);
  });

  it('unmapping a whole table entry reports every translation below it and the table to free after the flush', async () => {
    const { sim } = x86();
    const r = await sim.unmap(0x0n, M2);
    assert.deepEqual(r.changes.map((c) => [c.levelName, c.beforeKind, c.afterKind]), [['PD', 'table', 'invalid']]);
    assert.equal(r.flush.translations, 64);
    assert.deepEqual(r.flush.ops.map((o) => o.insn), ['mov cr3, cr3']);
    assert.ok(r.hazards.some((h) => h.kind === 'free-after-flush' && /64 translations/.test(h.message)));
  });

  it('rejects bad requests with specific errors', async () => {
    const { sim } = x86();
    await assert.rejects(sim.unmap(0x1234n, 4096), /multiples of 4K/);
    await assert.rejects(sim.map(0x1000000n, 0x1000, 4096, { rights: { write: false, exec: true, user: true }, memType: 'XX' }), /unknown memory type 'XX'/);
    await assert.rejects(sim.map(0x8000_0000_0000n, 0, 4096, { rights: { write: false, exec: true, user: false } }), /not translated by any root/);
  });
});

describe('simulated edits: AArch64 and RISC-V', () => {
  const V = 1n, T = 2n, AF = 1n << 10n, NG = 1n << 11n, AP1 = 1n << 6n, UXN = 1n << 54n, PXN = 1n << 53n;
  function a64() {
    const mem = new SparseMemory();
    // T0SZ=25: 39-bit, 4K granule, start at L1. L1 0x1000[0] → L2 0x2000: [0] → L3 0x3000, [1] 2 MiB block.
    mem.write64(0x1000, 0x2000n | V | T);
    mem.write64(0x2000, 0x3000n | V | T);
    mem.write64(0x2000 + 8, 0x40200000n | V | AF | NG | AP1 | PXN | (1n << 2n));
    for (let i = 0; i < 4; i++) mem.write64(0x3000 + 8 * i, BigInt(0x40000000 + i * 4096) | V | T | AF | NG | AP1 | PXN);
    const tcr = 25n | (25n << 16n) | (2n << 30n) | (5n << 32n) | (1n << 23n);
    const space = spaceFromRegisters('aarch64', new Map([['ttbr0_el1', 0x1000n | (7n << 48n)], ['ttbr1_el1', 0n], ['tcr_el1', tcr], ['mair_el1', 0x44ffn], ['sctlr', 0x30d0199dn & ~(1n << 19n)]]));
    return new EditSimulator(space, mem);
  }

  it('AArch64: protect a page → TLBI VALE1IS by ASID between DSBs; a block split in place is refused (break-before-make, Arm ARM D8.16.1) until the block is unmapped first', async () => {
    const sim = a64();
    const r = await sim.protect(0x1000n, 4096, { write: false });
    assert.deepEqual(r.flush.ops.map((o) => o.insn), ['dsb ishst', `tlbi vale1is, ${'0x' + ((7n << 48n) | 1n).toString(16)}`, 'dsb ish', 'isb']);
    assert.deepEqual(r.hazards, []);
    r.flush.consume();
    // Splitting the valid 2 MiB block into a table in place changes its size: refused, nothing written.
    for (const edit of [() => sim.unmap(0x200000n, 4096), () => sim.protect(0x201000n, 4096, { write: false })]) {
      await assert.rejects(edit(), (e: unknown) =>
        e instanceof EditError && /L2\[1\] @ 0x2008 \(0x200000-0x400000\): a block descriptor becomes a table descriptor while the descriptor is valid, which needs break-before-make \(Arm ARM D8\.16\.1\): unmap 0x200000 2M first/.test((e as Error).message));
    }
    assert.equal((await sim.session().translate(0x201000n)).memType, 'Normal-NC', 'the refused edit left the block as it was');
    // The break: unmap the block (its TLBI performed), then map the pages that stay (a new table: no BBM).
    const u = await sim.unmap(0x200000n, 0x200000);
    assert.deepEqual(u.changes.map((c) => [c.beforeKind, c.afterKind]), [['leaf', 'invalid']]);
    assert.equal(u.flush.ops.filter((o) => o.insn.startsWith('tlbi')).length, 1, 'one TLBI for the block, not one per page');
    u.flush.consume();
    const m = await sim.map(0x201000n, 0x40201000, 0x1ff000, { rights: { write: true, exec: false, user: true }, memType: 'Normal-NC' });
    assert.deepEqual(m.hazards.filter((h) => h.kind === 'break-before-make'), []);
    m.flush.consume();
    assert.equal((await sim.session().translate(0x200000n)).kind, 'not-mapped');
    // The new pages keep the block's attributes: Normal-NC (AttrIndx 1), EL0 RW.
    const t = await sim.session().translate(0x201000n);
    assert.equal(t.memType, 'Normal-NC');
    assert.equal(t.rights!.user, true);
    assert.equal(t.rights!.write, true);
  });

  it('AArch64: a new mapping needs no TLBI, only DSB ISHST and ISB; EL0 exec sets UXN=0 and PXN=1', async () => {
    const sim = a64();
    const r = await sim.map(0x8000n, 0x48000000, 4096, { rights: { write: false, exec: true, user: true } });
    assert.deepEqual(r.flush.ops.map((o) => o.insn), ['dsb ishst', 'isb']);
    assert.equal((r.changes[0].after & UXN) === 0n && (r.changes[0].after & PXN) !== 0n, true);
    assert.equal((r.changes[0].after & NG) !== 0n, true, 'user-half mappings default to nG');
  });

  it('RISC-V Sv39: a new leaf still needs SFENCE.VMA by VA and ASID; a new table needs rs1=zero', async () => {
    const mem = new SparseMemory();
    mem.write64(0x1000, (0x2000n >> 12n) << 10n | 1n); // root[0] → 0x2000
    mem.write64(0x2000, (0x3000n >> 12n) << 10n | 1n); // [0] → 0x3000
    const satp = (8n << 60n) | (5n << 44n) | 1n;
    const sim = new EditSimulator(spaceFromRegisters('riscv64', new Map([['satp', satp]])), mem);
    const a = await sim.map(0x5000n, 0x80005000, 4096, { rights: { write: true, exec: false, user: true } });
    assert.deepEqual(a.flush.ops.map((o) => o.insn), ['sfence.vma 0x5000, 5']);
    a.flush.consume();
    const b = await sim.map(0x4000_0000n, 0x80400000, 4096, { rights: { write: false, exec: true, user: false } });
    // A new table: rs1=zero. The user half's default is non-global even for a supervisor page
    // (docs/cli.md: global by default only in the kernel half), so the fence keeps the ASID.
    assert.deepEqual(b.flush.ops.map((o) => o.insn), ['sfence.vma zero, 5']);
    assert.equal((await sim.session().translate(0x5008n)).pa, 0x80005008);
  });
});
