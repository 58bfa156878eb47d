// Diffs of hand-built tables: root switches with their PCID, a table copied elsewhere (retarget,
// no leaf change), blocks split and folded, tables freed and allocated, verdicts that need no
// maintenance, and that identical tables are not decoded again.
import assert from 'node:assert/strict';
import { diffSessions } from '../../../src/core/ops/diff';
import { SparseMemory } from '../../support/sparseMemory';
import { G, NX, P, PS, RW, US, smallTables, x86Session as session } from '../../support/x86Tables';

// smallTables(), plus PD[2] → PT 0x5000 (4 pages at 0x800000).
function base(): SparseMemory {
  const m = smallTables();
  m.write64(0x3010, 0x5000n | P | RW);
  for (let i = 0; i < 4; i++) m.write64(0x5000 + 8 * i, BigInt(0x800000 + i * 4096) | P | RW);
  return m;
}

async function peek64(m: SparseMemory, pa: number): Promise<bigint> {
  const b = await m.read(pa as never, 8);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

async function clone(m: SparseMemory): Promise<SparseMemory> {
  const c = new SparseMemory();
  for (const pa of [0x1000, 0x2000, 0x3000, 0x4000, 0x5000]) {
    for (let off = 0; off < 4096; off += 8) {
      const v = await peek64(m, pa + off);
      if (v) c.write64(pa + off, v);
    }
  }
  return c;
}

describe('diff of two walks', () => {
  it('identical walks: no change, and each shared table is compared by its bytes only', async () => {
    const m = base();
    const d = await diffSessions(session(m), session(await clone(m)));
    assert.deepEqual(d.changes, []);
    assert.equal(d.stats.tablesCompared, 0);
    assert.equal(d.stats.tablesIdentical, 5);
  });

  it('one PTE protected: one change with its field, its INVLPG, and only the changed table decoded', async () => {
    const m = base();
    const n = await clone(m);
    n.write64(0x4000 + 8 * 3, 0x103000n | P | NX);
    const d = await diffSessions(session(m), session(n));
    assert.equal(d.changes.length, 1);
    const c = d.changes[0];
    assert.ok(c.kind === 'changed');
    assert.deepEqual([c.start, c.end, c.fields], [0x3000, 0x4000, ['write']]);
    assert.deepEqual(c.plan.ops.map((o) => o.insn), ['invlpg [0x3000]']);
    assert.equal(d.stats.tablesCompared, 1);
  });

  it('not-present → present and a rights upgrade need no invalidation on x86 (and say so)', async () => {
    const m = base();
    const n = await clone(m);
    n.write64(0x4000 + 8 * 20, 0x200000n | P | RW);
    n.write64(0x4000 + 8 * 5, 0x105000n | P | RW | US | NX); // user access added
    const d = await diffSessions(session(m), session(n));
    const added = d.changes.find((c) => c.kind === 'added')!;
    const changed = d.changes.find((c) => c.kind === 'changed')!;
    assert.ok(added.kind === 'added' && changed.kind === 'changed');
    assert.deepEqual(added.plan.ops, []);
    assert.match(added.plan.notes.join(' '), /not present need no invalidation/);
    assert.deepEqual(changed.fields, ['userRead', 'userWrite'], 'rights v2: U/S gives user read and write');
    assert.deepEqual(changed.plan.ops, []);
    assert.match(changed.plan.notes.join(' '), /only gained rights/);
  });

  it('a block split into a table of like pages: a split entry, a size-only leaf change, the new table allocated', async () => {
    const m = base();
    const n = await clone(m);
    for (let i = 0; i < 512; i++) n.write64(0x6000 + 8 * i, BigInt(0x400000 + i * 4096) | P | RW | G);
    n.write64(0x3008, 0x6000n | P | RW);
    n.write64(0x6000 + 8 * 7, 0x407000n | P | G); // and one page read-only
    const d = await diffSessions(session(m), session(n));
    const leaf = d.changes.filter((c) => c.kind === 'changed');
    assert.deepEqual(leaf.map((c) => c.kind === 'changed' && [c.start.toString(16), c.end.toString(16), c.fields.join()]), [
      ['200000', '207000', 'size'], ['207000', '208000', 'size,write'], ['208000', '400000', 'size'],
    ]);
    const entry = d.changes.find((c) => c.kind === 'entry');
    assert.ok(entry?.kind === 'entry' && entry.event.what === 'split' && entry.event.afterTable === 0x6000);
    assert.deepEqual(entry.plan.ops.map((o) => o.insn), ['invlpg [0x200000]']);
    assert.ok(d.changes.some((c) => c.kind === 'table' && c.what === 'allocated' && c.pa === 0x6000 && c.levelName === 'PT'));
  });

  it('a table folded into a block, and a table unlinked: freed tables, every translation below invalidated', async () => {
    const m = base();
    const n = await clone(m);
    n.write64(0x3000, 0x600000n | P | RW | PS | NX); // PD[0]: PT 0x4000 → 2 MiB block
    n.write64(0x3010, 0n); // PD[2]: PT 0x5000 unlinked
    const d = await diffSessions(session(m), session(n));
    const what = d.changes.flatMap((c) => (c.kind === 'entry' ? [c.event.what] : []));
    assert.deepEqual(what, ['fold', 'unlink']);
    const freed = d.changes.flatMap((c) => (c.kind === 'table' && c.what === 'freed' ? [c.pa as number] : []));
    assert.deepEqual(freed.sort(), [0x4000, 0x5000]);
    const unlink = d.changes.find((c) => c.kind === 'entry' && c.event.what === 'unlink');
    assert.ok(unlink?.kind === 'entry');
    assert.equal(unlink.plan.translations, 4);
    assert.ok(unlink.plan.hazards.some((h) => h.kind === 'free-after-flush'));
    assert.ok(d.changes.some((c) => c.kind === 'removed' && c.start === 0x400000 && c.end === 0x404000));
  });

  it('a root switch to a copy of the tables with a new PCID: a root change, a retargeted table, no leaf change', async () => {
    const m = base();
    const n = await clone(m);
    for (let off = 0; off < 4096; off += 8) {
      n.write64(0x7000 + off, await peek64(n, 0x1000 + off));
      n.write64(0x8000 + off, await peek64(n, 0x2000 + off));
    }
    n.write64(0x7000, 0x8000n | P | RW | US); // the new PML4's entry points at a copied PDPT
    const d = await diffSessions(session(m, 0x1000n | 5n), session(n, 0x7000n | 6n));
    const root = d.changes.find((c) => c.kind === 'root');
    assert.ok(root?.kind === 'root');
    assert.deepEqual(root.fields, ['tablePa', 'PCID']);
    assert.deepEqual([root.before?.tablePa, root.after?.tablePa], [0x1000, 0x7000]);
    assert.ok(d.changes.some((c) => c.kind === 'entry' && c.event.what === 'retarget' && c.event.beforeTable === 0x2000 && c.event.afterTable === 0x8000));
    assert.ok(!d.changes.some((c) => c.kind === 'added' || c.kind === 'removed' || c.kind === 'changed'));
    // Only the two copied tables were decoded; the subtree below them is the same bytes.
    assert.equal(d.stats.tablesCompared, 2);
  });
});
