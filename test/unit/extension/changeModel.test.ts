// The Changes group's rows, the marks of Page Tables nodes and map rows, over core's diff of
// hand-built x86-64 tables: each change words its before → after and the TLB maintenance the
// planner required ("required", never "done"), accessed/dirty-only changes mark nothing, and a
// node is marked exactly when a change lies in its range.
import assert from 'node:assert/strict';
import { diffSessions } from '../../../src/core/ops/diff';
import { ChangeIndex, changeRows, groupDescription, isAdOnly } from '../../../src/extension/changeModel';
import { buildMapData, filterRows } from '../../../src/extension/mapData';
import { SparseMemory } from '../../support/sparseMemory';
import { A, G, NX, P, RW, smallTables, x86Session as session } from '../../support/x86Tables';

// smallTables() before; after, the guest's edits of one stop.
function tables(after: boolean): SparseMemory {
  const m = smallTables();
  if (after) {
    m.write64(0x4000 + 8 * 3, 0x103000n | P | NX); // protect: VA 0x3000 loses W
    m.write64(0x4000 + 8 * 5, 0n); // unmap VA 0x5000
    m.write64(0x4000 + 8 * 20, 0x200000n | P | RW | NX); // map VA 0x14000
    m.write64(0x4000 + 8 * 7, 0x107000n | P | RW | NX | A); // the CPU set A on VA 0x7000
    // split the 2 MiB block into 512 pages of the same frames
    m.write64(0x3008, 0x6000n | P | RW);
    for (let i = 0; i < 512; i++) m.write64(0x6000 + 8 * i, BigInt(0x400000 + i * 4096) | P | RW | G);
  }
  return m;
}

async function fixture() {
  const before = session(tables(false));
  const after = session(tables(true));
  const diff = await diffSessions(before, after);
  return { before, after, diff, index: new ChangeIndex(diff, 'the last stop (#1)') };
}

describe('stop-to-stop changes as the views show them', () => {
  it('one row per change, in words: before → after and the TLB maintenance required (never "done")', async () => {
    const { index } = await fixture();
    const rows = index.main.map((r) => `${r.label} | ${r.description}`);
    assert.deepEqual(rows.sort(), [
      '+ 0x14000 4K | rw- --- WB → 0x200000 · no TLB maintenance required',
      'split PD[1] 0x200000 2M | → table @ 0x6000 · required: invlpg [0x200000]',
      '~ 0x200000 2M size | rwx --- WB → 0x400000 ⇒ rwx --- WB → 0x400000 (512 × 4K) · required: invlpg [0x200000]',
      '~ 0x3000 4K write | rw- --- WB → 0x103000 ⇒ r-- --- WB → 0x103000 · required: invlpg [0x3000]',
      '− 0x5000 4K | was rw- --- WB → 0x105000 · required: invlpg [0x5000]',
      'table 0x6000 PT allocated | newly pointed at',
    ].sort());
    for (const r of index.rows) {
      assert.doesNotMatch(`${r.description} ${r.tooltip}`, /\bdone\b(?! by)/i, r.label);
    }
    const protect = index.main.find((r) => r.label.startsWith('~ 0x3000'))!;
    assert.match(protect.tooltip, /\*\*TLB maintenance required\*\* \(1 translation\)/);
    assert.match(protect.tooltip, /`invlpg \[0x3000\]`/);
    assert.match(protect.tooltip, /before: rw- --- WB → 0x103000/);
    assert.match(protect.tooltip, /after: r-- --- WB → 0x103000/);
    assert.match(protect.tooltip, /PT\[3\] @ 0x4018: `0x8000000000103003` → `0x8000000000103001` leaf/);
    const added = index.main.find((r) => r.label.startsWith('+'))!;
    assert.match(added.tooltip, /\*\*No TLB maintenance required\*\*/);
    assert.match(added.tooltip, /not present need no invalidation/);
  });

  it('accessed/dirty-only changes are listed apart and mark nothing', async () => {
    const { index, diff } = await fixture();
    assert.deepEqual(index.adOnly.map((r) => r.label), ['~ 0x7000 4K accessed']);
    assert.equal(diff.changes.filter(isAdOnly).length, 1);
    assert.equal(index.entryMark('cr3', 3, 0x7000, 0x1000, 'leaf'), undefined);
    assert.equal(groupDescription(index), '1 added · 1 removed · 2 changed · 1 entries · 1 tables · 1 A/D only');
  });

  it('Page Tables nodes: leaves take their change\'s kind, tables "contains" or "changed" for their own descriptor, untouched nodes nothing', async () => {
    const { index } = await fixture();
    const mark = (level: number, linear: number, size: number, kind: 'leaf' | 'table' | 'invalid') => index.entryMark('cr3', level, linear, size, kind)?.mark;
    assert.equal(mark(3, 0x3000, 0x1000, 'leaf'), 'changed');
    assert.equal(mark(3, 0x14000, 0x1000, 'leaf'), 'added');
    assert.equal(mark(3, 0x5000, 0x1000, 'invalid'), 'removed', 'an invalid entry where a leaf was');
    assert.equal(mark(3, 0x4000, 0x1000, 'leaf'), undefined, 'the neighbour is untouched');
    assert.equal(mark(3, 0x6000, 0x1000, 'leaf'), undefined);
    assert.equal(mark(2, 0x0, 0x200000, 'table'), 'contains', 'PD[0] holds changed pages');
    assert.equal(mark(2, 0x200000, 0x200000, 'table'), 'changed', 'PD[1] is itself the split descriptor');
    assert.equal(mark(3, 0x200000 + 7 * 4096, 0x1000, 'leaf'), 'changed', 'each page of the split block changed size');
    assert.equal(mark(0, 0, 2 ** 39, 'table'), 'contains');
    assert.equal(mark(0, 2 ** 39, 2 ** 39, 'table'), undefined, 'PML4[1] covers nothing that changed');
    assert.equal(index.rootMark('cr3')?.mark, 'contains');
    assert.equal(index.rootMark('ttbr1_el1'), undefined);
    const rows = index.entryMark('cr3', 2, 0x200000, 0x200000, 'table')!.rows.map((r) => r.kind);
    assert.deepEqual(rows, ['entry', 'changed'], 'the split and the leaf change below it');
  });

  it('a root switch with a new PCID marks the root and words both tables and PCIDs', async () => {
    const m = tables(false);
    const copy = tables(false);
    for (let off = 0; off < 4096; off += 8) {
      const b = await copy.read((0x1000 + off) as never, 8);
      const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
      if (v) copy.write64(0x9000 + off, v);
    }
    const d = await diffSessions(session(m, 0x1005n), session(copy, 0x9006n));
    const index = new ChangeIndex(d);
    const root = index.main.find((r) => r.kind === 'root')!;
    assert.equal(root.label, 'CR3 0x1000 → 0x9000');
    assert.equal(root.description, 'PCID 5 → 6');
    assert.equal(index.rootMark('cr3')?.mark, 'changed');
    assert.match(root.tooltip, /PCID/);
  });

  it('map rows: the ranges over an added or changed translation are marked, and the "changed" filter keeps them', async () => {
    const { after, index } = await fixture();
    const ranges = await after.ranges();
    const d = buildMapData(ranges);
    const m = index.mapMarks(d);
    const marked = [...m.kind].map((k, i) => (k ? `${k} ${d.va[i].replace(/^0+/, '')}-${d.end[i].replace(/^0+/, '')}` : '')).filter(Boolean);
    // Ranges (merged): 0x0-0x3000 rw, 0x3000 r (changed), 0x4000 rw, 0x6000-0x10000 rw (0x7000's A
    // bit marks nothing), 0x14000 (added), 0x200000-0x400000 (split: changed).
    assert.deepEqual(marked, ['2 3000-4000', '1 14000-15000', '2 200000-400000']);
    assert.equal(m.removed, 1);
    assert.match(m.texts[m.text[d.va.findIndex((v) => v.endsWith('14000'))]], /^\+ 0x14000 4K — .*no TLB maintenance required/);
    const rows = filterRows(d, { changed: true }, m.kind);
    assert.deepEqual([...rows], [...m.kind].flatMap((k, i) => (k ? [i] : [])));
    assert.equal(filterRows(d, { changed: true }).length, 0, 'no marks: nothing passes the changed filter');
  });

  it('no change: no rows, "no changes"', async () => {
    const d = await diffSessions(session(tables(false)), session(tables(false)));
    const index = new ChangeIndex(d);
    assert.deepEqual(changeRows(d), []);
    assert.equal(groupDescription(index), 'no changes');
    assert.equal(index.rootMark('cr3'), undefined);
  });
});

describe('decoration URIs of Page Tables rows', () => {
  it('name a row\'s place (stable across stops) and give the mark of the diff shown', async () => {
    const { index } = await fixture();
    const { nodePath, parseNodePath, markOf } = await import('../../../src/extension/changeModel');
    const leaf = { root: 'cr3', entry: { level: 3, linear: 0x3000, size: 0x1000, kind: 'leaf' as const } };
    assert.equal(nodePath(leaf), '/cr3/3/3000/1000/leaf');
    assert.deepEqual(parseNodePath(nodePath(leaf)), leaf);
    assert.deepEqual(parseNodePath('/table%400x1000'), { root: 'table@0x1000' });
    assert.equal(nodePath({ root: 'table@0x1000' }), '/table%400x1000');
    for (const bad of ['', '/', '/cr3/3/zz/1000/leaf', '/cr3/3/3000/1000/chunk', '/cr3/3/3000']) assert.equal(parseNodePath(bad), undefined, bad);
    assert.equal(markOf(index, leaf)?.mark, 'changed');
    assert.equal(markOf(index, { root: 'cr3' })?.mark, 'contains');
    assert.equal(markOf(index, { root: 'cr3', entry: { level: 3, linear: 0x4000, size: 0x1000, kind: 'leaf' } }), undefined);
  });
});
