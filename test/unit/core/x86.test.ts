import assert from 'node:assert/strict';
import { hex } from '../../../src/core/addr';
import { EntryKind, Flag, Perm } from '../../../src/core/format';
import { spaceFromRegisters } from '../../../src/core/formats';
import { RegisterError } from '../../../src/core/space';
import { Diagnostic, Leaf, TableStore, translateLinear, walk } from '../../../src/core/walker';
import { SparseMemory } from '../../support/sparseMemory';

const P = 1n, RW = 2n, US = 4n, PWT = 8n, PCD = 16n, A = 32n, D = 64n, PS = 128n, G = 256n, NX = 1n << 63n;
const CR0_PG = 1n << 31n, CR0_WP = 1n << 16n;
const CR4_PSE = 1n << 4n, CR4_PAE = 1n << 5n, CR4_PGE = 1n << 7n, CR4_LA57 = 1n << 12n, CR4_PCIDE = 1n << 17n, CR4_SMEP = 1n << 20n;
const EFER_LMA = 1n << 10n, EFER_NXE = 1n << 11n;

function regs(o: Record<string, bigint>): Map<string, bigint> {
  return new Map(Object.entries(o));
}

async function leavesOf(mem: SparseMemory, r: Map<string, bigint>, arch: 'x86_64' | 'x86' = 'x86_64') {
  const space = spaceFromRegisters(arch, r);
  const store = new TableStore(mem);
  const leaves: Leaf[] = [];
  const diags: Diagnostic[] = [];
  await walk(space.roots, store, { leaf: (l) => leaves.push(l), diagnostic: (d) => diags.push(d) });
  return { space, store, leaves, diags };
}

const long4 = (cr3: bigint, extra: Record<string, bigint> = {}) =>
  regs({ cr0: CR0_PG | CR0_WP | 1n, cr3, cr4: CR4_PAE | CR4_PGE, efer: EFER_LMA | EFER_NXE | (1n << 8n), ...extra });

describe('x86 4-level paging', () => {
  // PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000
  function build(): SparseMemory {
    const m = new SparseMemory();
    m.write64(0x1000, 0x2000n | P | RW | US);
    m.write64(0x2000, 0x3000n | P | US); // PDPT[0]: R/W=0 → nothing below is writable
    m.write64(0x3000, 0x4000n | P | RW | US);
    m.write64(0x4000 + 8 * 0, 0x100000n | P | RW | US | A | D); // VA 0x0 → 0x100000
    m.write64(0x4000 + 8 * 1, 0x101000n | P | RW | NX | G); // VA 0x1000: kernel, NX, global
    m.write64(0x3000 + 8 * 1, 0x200000n | P | RW | US | PS | PCD); // VA 0x200000: 2 MiB, UC-
    m.write64(0x2000 + 8 * 1, 0x40000000n | P | RW | PS); // VA 0x40000000: 1 GiB (kernel)
    // Upper half: PML4[256] → PDPT 0x5000 → 1 GiB page at 0x80000000, user, NX
    m.write64(0x1000 + 8 * 256, 0x5000n | P | RW | US | NX);
    m.write64(0x5000, 0x80000000n | P | RW | US | PS);
    return m;
  }

  it('streams every leaf in VA order with sizes, PAs and effective rights', async () => {
    const { leaves, diags, space } = await leavesOf(build(), long4(0x1000n));
    assert.equal(space.roots[0].format.mode, '4-level');
    assert.deepEqual(diags, []);
    const root = space.roots[0];
    assert.deepEqual(
      leaves.map((l) => [hex(root.toVirt(l.linear)), hex(l.pa), l.size]),
      [
        ['0x0', '0x100000', 4096],
        ['0x1000', '0x101000', 4096],
        ['0x200000', '0x200000', 2 << 20],
        ['0x40000000', '0x40000000', 1 << 30],
        ['0xffff800000000000', '0x80000000', 1 << 30],
      ],
    );
    // PDPT[0] has R/W=0: the writable PTE is read-only in effect.
    assert.equal(leaves[0].perms, Perm.Read | Perm.Exec | Perm.UserRead | Perm.UserExec);
    assert.equal(leaves[0].flags, Flag.Accessed | Flag.Dirty);
    assert.equal(leaves[1].perms, Perm.Read); // kernel-only, NX, read-only via PDPT
    assert.equal(leaves[1].flags, Flag.Global);
    assert.equal(root.format.memTypes[leaves[2].memType], 'UC-');
    assert.equal(root.format.memTypes[leaves[0].memType], 'WB');
    // 1 GiB kernel page: PML4 and PDPT allow write; U/S=0 on the leaf.
    assert.equal(leaves[3].perms, Perm.Read | Perm.Write | Perm.Exec);
    // XD in PML4[256] removes both executes although the leaf allows them.
    assert.equal(leaves[4].perms, Perm.Read | Perm.Write | Perm.UserRead | Perm.UserWrite);
  });

  it('explains which level removed a right', async () => {
    const { leaves } = await leavesOf(build(), long4(0x1000n));
    const f = leaves[0].root.format;
    const step = leaves[0].path!.parent!; // PDPT entry
    assert.equal(f.levels[step.level].name, 'PDPT');
    const why = f.explainRestrictions(step.lo, step.hi, step.level, EntryKind.Table);
    assert.deepEqual(why.map((r) => [r.perm, r.because]), [[Perm.Write, 'PDPT R/W=0 (CR0.WP=1)'], [Perm.UserWrite, 'PDPT R/W=0']]);
  });

  it('translates with a per-level trace, matching the walk', async () => {
    const m = build();
    const { leaves, space, store } = await leavesOf(m, long4(0x1000n));
    const root = space.roots[0];
    for (const l of leaves) {
      const t = await translateLinear(root, l.linear + 123 * 4096 * (l.size > 4096 ? 1 : 0), store);
      assert.equal(t.kind, 'mapped');
      if (t.kind !== 'mapped') continue;
      assert.equal(t.leaf.pa, l.pa);
      assert.equal(t.leaf.perms, l.perms);
    }
    const miss = await translateLinear(root, 0x600000, store);
    assert.equal(miss.kind, 'not-mapped');
    assert.equal(miss.trace.at(-1)!.levelName, 'PD');
    assert.equal(miss.trace.length, 3);
  });

  it('reads every table once per walk even when shared', async () => {
    const m = build();
    m.write64(0x1000 + 8 * 1, 0x2000n | P | RW | US); // PML4[1] shares PDPT 0x2000
    const { leaves, store } = await leavesOf(m, long4(0x1000n));
    assert.equal(leaves.length, 9);
    assert.equal(store.stats.tablesRead, 5);
    assert.equal(m.reads, 5);
  });

  it('treats XD as reserved without EFER.NXE and PS in a PML4E as reserved', async () => {
    const m = build();
    m.write64(0x1000 + 8 * 2, 0x7000n | P | PS);
    const { leaves, diags } = await leavesOf(m, regs({ cr0: CR0_PG, cr3: 0x1000n, cr4: CR4_PAE, efer: EFER_LMA }));
    assert.deepEqual(diags.map((d) => [d.kind, d.level, d.index]), [
      ['reserved-bits', 3, 1], // the PTE with XD set
      ['reserved-bits', 0, 2], // PS in a PML4E
      ['reserved-bits', 0, 256], // XD in a PML4E
    ]);
    assert.ok(!leaves.some((l) => l.linear === 0x1000), 'a faulting entry maps nothing');
    assert.deepEqual(leaves.map((l) => l.linear), [0, 0x200000, 0x40000000]);
  });

  it('reports table pointers outside RAM and recursive slots (not descended), and keeps walking', async () => {
    const m = build();
    m.write64(0x1000 + 8 * 3, 0x7fff0000000n | P | RW); // outside 64 MiB RAM
    m.write64(0x1000 + 8 * 510, 0x1000n | P | RW); // recursive slot
    const { leaves, diags, space } = await leavesOf(m, long4(0x1000n));
    const kinds = diags.map((d) => `${d.kind}@${d.level}:${d.index}`);
    assert.ok(kinds.includes('outside-ram@0:3'), kinds.join());
    assert.ok(kinds.includes('recursive@0:510'), kinds.join());
    // The recursive slot is reported and not descended (it would unfold the tables into every
    // path through the loop); every original leaf is still there.
    const vas = leaves.map((l) => hex(space.roots[0].toVirt(l.linear)));
    for (const v of ['0x0', '0x1000', '0x200000', '0x40000000', '0xffff800000000000']) assert.ok(vas.includes(v), v);
    assert.ok(!leaves.some((l) => l.linear >= 510 * 2 ** 39 && l.linear < 511 * 2 ** 39), 'nothing listed through the recursive slot');
    assert.equal(diags.filter((d) => d.kind === 'recursive').length, 1, 'reported once');
  });

  it('revisited tables (shared subtree, recursive slot) give the leaves translate gives, whole and in VA ranges', async () => {
    const m = build();
    m.write64(0x1000 + 8 * 1, 0x2000n | P | RW | US); // PML4[1] shares PDPT 0x2000
    m.write64(0x1000 + 8 * 510, 0x1000n | P | RW); // recursive slot: every table visited again
    const { leaves, store, space } = await leavesOf(m, long4(0x1000n));
    const root = space.roots[0];
    assert.equal(store.stats.tablesRead, 5);
    // Each leaf of the walk is what a separate per-level translation of its VA finds.
    for (const l of leaves) {
      const t = await translateLinear(root, l.linear, new TableStore(m));
      assert.ok(t.kind === 'mapped' && t.leaf.pa === l.pa && t.leaf.size === l.size, hex(l.linear));
    }
    const key = (l: Leaf) => `${l.linear}:${l.pa}:${l.size}`;
    assert.equal(new Set(leaves.map(key)).size, leaves.length, 'no leaf twice');
    assert.equal(leaves.filter((l) => l.linear >= 510 * 2 ** 39 && l.linear < 511 * 2 ** 39).length, 0, 'the recursive slot is not descended');
    assert.ok(leaves.filter((l) => l.linear >= 2 ** 39 && l.linear < 2 * 2 ** 39).length > 0, 'the shared subtree is listed at both references');
    // A range walk on the same (warm) store equals the full walk cut to the range.
    for (const range of [[0x1000, 0x40000000], [2 ** 39, 2 ** 39 + 2 ** 31], [510 * 2 ** 39 + 0x3000, 510 * 2 ** 39 + 2 ** 31]] as [number, number][]) {
      const got: Leaf[] = [];
      await walk([root], store, { leaf: (l) => got.push(l) }, { range });
      const want = leaves.filter((l) => l.linear < range[1] && l.linear + l.size > range[0]);
      assert.deepEqual(got.map(key), want.map(key), range.map((x) => hex(x)).join('..'));
      assert.ok(want.length > 0 || range[0] >= 510 * 2 ** 39);
    }
  });

  it('masks PCID from CR3 and reports it', async () => {
    const m = build();
    const { space, leaves } = await leavesOf(m, regs({ cr0: CR0_PG, cr3: 0x1000n | 0x2an, cr4: CR4_PAE | CR4_PCIDE, efer: EFER_LMA | EFER_NXE }));
    assert.equal(space.roots[0].tablePa, 0x1000);
    assert.deepEqual(space.roots[0].info.find(([k]) => k === 'PCID'), ['PCID', '42']);
    assert.equal(leaves.length, 5);
  });

  it('applies SMEP: no supervisor execute of user pages', async () => {
    const { leaves } = await leavesOf(build(), long4(0x1000n, { cr4: CR4_PAE | CR4_SMEP }));
    assert.equal(leaves[0].perms & Perm.Exec, 0);
    assert.ok(leaves[0].perms & Perm.UserExec);
    assert.ok(leaves[3].perms & Perm.Exec); // kernel page unaffected
  });

  it('resolves memory types through IA32_PAT', async () => {
    const m = build();
    // PAT entry 2 (PCD=1,PWT=0) set to WC (1)
    const { leaves, space } = await leavesOf(m, long4(0x1000n, { ia32_pat: 0x0007040600010406n }));
    assert.equal(space.roots[0].format.memTypes[leaves[2].memType], 'WC');
  });

  it('rejects non-canonical VAs and accepts sign-extended ones', async () => {
    const { space } = await leavesOf(build(), long4(0x1000n));
    const r = space.roots[0];
    assert.equal(r.toLinear(0x0000800000000000n), undefined);
    assert.match(r.describeVa!(0x0000800000000000n)!, /not canonical/);
    assert.equal(r.toLinear(0xffff800000001000n), 0x800000001000);
  });

  it('EFER unknown: long mode (x86_64) and NXE=1 assumed as Linux runs, in one note; bit 63 then means execute-disable', async () => {
    const m = new SparseMemory();
    m.write64(0x1000, 0x2000n | P | RW);
    m.write64(0x2000, 0x3000n | P | RW);
    m.write64(0x3000, 0x4000n | P | RW);
    m.write64(0x4000, 0x5000n | P | RW | (1n << 63n)); // XD, reserved when EFER.NXE=0 (Intel SDM vol. 3A §4.5)
    const space = spaceFromRegisters('x86_64', regs({ cr0: CR0_PG, cr3: 0x1000n, cr4: CR4_PAE }));
    assert.deepEqual(space.notes.filter((n) => /EFER/.test(n)), ['EFER unknown: assuming LMA=1 (long mode) and NXE=1 (bit 63 is execute-disable), as Linux runs (give --reg EFER=…; QEMU\'s `info registers` prints it)']);
    const t = await translateLinear(space.roots[0], 0, new TableStore(m));
    assert.equal(t.kind, 'mapped');
    assert.equal(t.kind === 'mapped' && (t.leaf.perms & Perm.Exec) !== 0, false);
    const given = spaceFromRegisters('x86_64', regs({ cr0: CR0_PG, cr3: 0x1000n, cr4: CR4_PAE, efer: EFER_LMA }));
    assert.equal(given.notes.some((n) => /EFER unknown/.test(n)), false);
    assert.equal((await translateLinear(given.roots[0], 0, new TableStore(m))).kind, 'invalid'); // EFER given with NXE=0: bit 63 reserved
    // 32-bit paging has no EFER bits to assume: no note.
    assert.equal(spaceFromRegisters('x86', regs({ cr0: CR0_PG, cr3: 0x1000n, cr4: 0n })).notes.some((n) => /EFER/.test(n)), false);
  });

  it('names missing registers and refuses paging-off state', () => {
    assert.throws(() => spaceFromRegisters('x86_64', regs({ cr0: CR0_PG, cr4: CR4_PAE })), (e: unknown) => e instanceof RegisterError && /CR3/.test(e.message));
    assert.throws(() => spaceFromRegisters('x86_64', regs({ cr0: 1n, cr3: 0n, cr4: 0n, efer: 0n })), /paging is disabled/);
    assert.throws(() => spaceFromRegisters('x86_64', regs({ cr0: CR0_PG, cr4: CR4_PAE, efer: EFER_LMA })), /CR3/);
  });
});

describe('x86 5-level paging', () => {
  it('walks a PML5 and sign-extends from bit 56', async () => {
    const m = new SparseMemory();
    m.write64(0x1000 + 8 * 511, 0x2000n | P | RW); // PML5[511]
    m.write64(0x2000 + 8 * 511, 0x3000n | P | RW); // PML4[511]
    m.write64(0x3000 + 8 * 510, 0x40000000n | P | RW | PS | G); // 1 GiB at PDPT[510]
    const { leaves, space } = await leavesOf(m, long4(0x1000n, { cr4: CR4_PAE | CR4_LA57 }));
    assert.equal(space.roots[0].format.mode, '5-level');
    assert.equal(leaves.length, 1);
    assert.equal(hex(space.roots[0].toVirt(leaves[0].linear)), '0xffffffff80000000');
  });
});

describe('x86 PAE paging', () => {
  it('walks a 4-entry PDPT with 2 MiB and 4 KiB pages and NX', async () => {
    const m = new SparseMemory();
    const pdpt = 0x1020; // 32-byte aligned
    m.write64(pdpt + 8 * 3, 0x3000n | P); // PDPT[3] → PD at 0x3000 (VA 0xc0000000)
    m.write64(0x3000, 0x4000n | P | RW);
    m.write64(0x4000 + 8 * 5, 0x123000n | P | RW | NX);
    m.write64(0x3000 + 8 * 1, 0x400000n | P | PS | US);
    const { leaves, diags, space } = await leavesOf(m, regs({ cr0: CR0_PG, cr3: BigInt(pdpt), cr4: CR4_PAE, efer: EFER_NXE }), 'x86');
    assert.deepEqual(diags, []);
    assert.equal(space.roots[0].format.mode, 'PAE');
    assert.deepEqual(leaves.map((l) => [hex(l.linear), hex(l.pa), l.size, l.perms]), [
      ['0xc0005000', '0x123000', 4096, Perm.Read | Perm.Write],
      // CR0.WP=0 here: the supervisor may write the read-only user page (SDM §4.6.1).
      ['0xc0200000', '0x400000', 2 << 20, Perm.Read | Perm.Write | Perm.Exec | Perm.UserRead | Perm.UserExec],
    ]);
  });

  it('flags reserved PDPTE bits (XD faults; bits only real CPUs reject are followed as QEMU does and reported)', async () => {
    const m = new SparseMemory();
    m.write64(0x1000, 0x3000n | P | NX); // XD is reserved in a PAE PDPTE
    m.write64(0x1008, 0x3000n | P | RW | A); // QEMU accepts these and sets A itself
    const { diags } = await leavesOf(m, regs({ cr0: CR0_PG, cr3: 0x1000n, cr4: CR4_PAE, efer: 0n }), 'x86');
    // XD faults (QEMU too); R/W and A are followed as QEMU does and reported as such.
    assert.deepEqual(diags.map((d) => [d.kind, d.index]), [['reserved-bits', 0], ['qemu-lenient', 1]]);
  });
});

describe('x86 32-bit paging', () => {
  it('walks 4 MiB PSE pages (with PSE-36 high bits) and 4 KiB pages', async () => {
    const m = new SparseMemory();
    m.write32(0x1000 + 4 * 1, 0x00c00000 | 0x83 | (0x3 << 13)); // PDE[1]: 4 MiB at PA 0x3_00c00000
    m.write32(0x1000 + 4 * 2, 0x2000 | 0x7); // PDE[2] → PT
    m.write32(0x2000 + 4 * 7, 0x55000 | 0x5); // user read-only
    const r = regs({ cr0: CR0_PG, cr3: 0x1000n, cr4: CR4_PSE });
    const { leaves, diags } = await leavesOf(m, r, 'x86');
    assert.deepEqual(diags, []);
    assert.deepEqual(leaves.map((l) => [hex(l.linear), hex(l.pa), l.size]), [
      ['0x400000', '0x300c00000', 4 << 20],
      ['0x807000', '0x55000', 4096],
    ]);
    // CR0.WP=0: the supervisor may write the user read-only page; the user may not.
    assert.equal(leaves[1].perms, Perm.Read | Perm.Write | Perm.Exec | Perm.UserRead | Perm.UserExec);
  });

  it('ignores PS without CR4.PSE (the PDE points to a page table)', async () => {
    const m = new SparseMemory();
    m.write32(0x1000, 0x2000 | 0x83);
    m.write32(0x2000, 0x9000 | 0x3);
    const { leaves } = await leavesOf(m, regs({ cr0: CR0_PG, cr3: 0x1000n, cr4: 0n }), 'x86');
    assert.deepEqual(leaves.map((l) => [l.size, hex(l.pa)]), [[4096, '0x9000']]);
  });
});

describe('lazy tree', () => {
  it('expands tables on demand with the walk\'s rights and reads each table once', async () => {
    const { rootTable, tableEntries, childTable } = await import('../../../src/core/tree');
    const m = new SparseMemory();
    m.write64(0x1000, 0x2000n | P | RW | US);
    m.write64(0x2000, 0x3000n | P | US); // R/W=0 above
    m.write64(0x3000, 0x200000n | P | RW | US | PS);
    m.write64(0x1000 + 8 * 9, 0x7ff00000000n | P | RW); // outside RAM
    const space = spaceFromRegisters('x86_64', long4(0x1000n));
    const store = new TableStore(m);
    const top = await tableEntries(rootTable(space.roots[0]), store);
    assert.ok(Array.isArray(top));
    if (!Array.isArray(top)) return;
    assert.deepEqual(top.map((e) => [e.index, e.kind, e.problem]), [
      [0, EntryKind.Table, undefined],
      [9, EntryKind.Table, 'next table is outside guest RAM'],
    ]);
    assert.equal(childTable(top[1]), undefined);
    const pdpt = await tableEntries(childTable(top[0])!, store);
    if (!Array.isArray(pdpt)) throw pdpt;
    const pd = await tableEntries(childTable(pdpt[0])!, store);
    if (!Array.isArray(pd)) throw pd;
    assert.equal(pd[0].kind, EntryKind.Leaf);
    assert.equal(pd[0].perms & Perm.Write, 0, 'R/W=0 in the PDPT entry applies to the leaf');
    assert.ok(pd[0].fields().some((f) => f.name === 'PS'));
    await tableEntries(childTable(top[0])!, store);
    assert.equal(m.reads, 3);
  });
});
