import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { TableStore } from '../../../src/core/walker';
import { PtNode, children, entryActions, row, rootItems, stepToward } from '../../../src/extension/treeModel';
import { P, RW, X86_REGS, x86Memory } from './fakeTarget';

async function setup(chunkSize = 100) {
  const mem = x86Memory();
  const space = spaceFromRegisters('x86_64', X86_REGS);
  const store = new TableStore(mem);
  const [root] = rootItems(space.roots, 'phymem-mode');
  const kids = (n: PtNode, showInvalid = false) => children(n, store, { chunkSize, showInvalid });
  return { mem, space, store, root, kids };
}

function entry(ns: PtNode[], index: number) {
  const n = stepToward(ns, index);
  assert.ok(n && n.kind === 'entry', `no entry ${index}`);
  return n;
}

describe('extension tree model', () => {
  it('shows one root per address space with mode and strategy', async () => {
    const { root } = await setup();
    const r = row(root);
    assert.match(r.label, /^CR3 0x1000$/);
    assert.match(r.description!, /4-level/);
    assert.doesNotMatch(r.description!, /4-level.*4-level/, 'the mode once');
    assert.match(r.description!, /phymem-mode/);
    assert.equal(r.expandable, true);
  });

  it('lists present entries only and expands lazily, reading each table once', async () => {
    const { root, kids, mem, store } = await setup();
    assert.equal(mem.reads, 0, 'nothing read before expanding');
    const pml4 = await kids(root);
    assert.deepEqual(pml4.map((n) => n.kind === 'entry' && n.entry.index), [0, 256]);
    assert.equal(store.stats.tablesRead, 1);
    const pdpt = await kids(entry(pml4, 0));
    const pd = await kids(entry(pdpt, 0));
    assert.deepEqual(pd.map((n) => n.kind === 'entry' && n.entry.index), [0, 1, 2]);
    await kids(root); // again: served from the store
    assert.equal(store.stats.tablesRead, 3);
  });

  it('shows a leaf with VA range, PA, size and effective flags restricted by a higher level', async () => {
    const { root, kids } = await setup();
    const pt = await kids(entry(await kids(entry(await kids(entry(await kids(root), 0)), 0)), 0));
    const leaf = entry(pt, 0);
    const r = row(leaf);
    assert.equal(r.label, '0x0 4K r-x r-x');
    // User page with R/W=1 in the PTE, but PDPT[0] has R/W=0: not writable.
    assert.equal(r.description, '–0xfff → 0x100000 WB · PT[0]');
    assert.equal(r.contextValue, 'leaf');
    assert.match(r.tooltip!, /write removed at PDPT\\\[0\\\]: PDPT R\/W=0/);
    assert.match(r.tooltip!, /\| R\/W \| 1 \|/);
    // The row's label and description without its tooltip: each bit in words only when read.
    const node = entry(pt, 0);
    if (node.kind !== 'entry') throw new Error('not an entry');
    let explained = 0;
    const fields = node.entry.fields;
    const counted = { ...node, entry: { ...node.entry, fields: () => (explained++, fields()) } };
    const lazy = row(counted);
    assert.equal(lazy.label, r.label);
    assert.equal(explained, 0, 'no tooltip built for a row that is only shown');
    assert.equal(lazy.tooltip, r.tooltip);
    assert.equal(explained, 1);
    const nx = row(entry(pt, 1));
    assert.match(nx.label, /^0x1000 4K r-- ---$/);
    assert.match(nx.description!, /^–0x1fff → 0x[0-9a-f]+ WB · PT\[1\]$/);
    assert.match(nx.tooltip!, /kernel execute removed at PT\\\[1\\\]/);
    assert.deepEqual(entryActions(leaf.entry), { va: '0x0', pa: '0x100000', raw: '0x0000000000100067', size: 4096 });
  });

  it('shows a 2 MiB page and a table entry with what it still allows', async () => {
    const { root, kids } = await setup();
    const pdpt = await kids(entry(await kids(root), 0));
    const t = row(entry(pdpt, 0));
    assert.match(t.label, /^PDPT\[0\] 0x0 1G$/);
    assert.match(t.description!, /^–0x3fffffff → PD/);
    assert.match(t.description!, /→ PD @ 0x3000 · allows r-x r-x/);
    const pd = await kids(entry(pdpt, 0));
    const big = row(entry(pd, 1));
    assert.equal(big.label, '0x200000 2M r-x r-x');
    assert.equal(big.description, '–0x3fffff → 0x200000 UC- · PD[1]');
  });

  it('flags a writable and executable kernel page', async () => {
    const { root, kids } = await setup();
    const k = await kids(entry(await kids(root), 256));
    const r = row(entry(k, 0));
    assert.equal(r.label, '0xffff800000000000 1G rwx ---');
    assert.match(r.description!, /^–0xffff80003fffffff → 0x40000000 WB/);
    assert.equal(r.icon, 'warning');
  });

  it('chunks long lists and keeps entry ids independent of chunking', async () => {
    const { root, kids } = await setup(100);
    const pd = await kids(entry(await kids(entry(await kids(root), 0)), 0));
    const big = await kids(entry(pd, 2));
    assert.deepEqual(big.map((n) => n.kind), ['chunk', 'chunk', 'chunk']);
    assert.deepEqual(big.map((n) => row(n).label), ['[0–99]', '[100–199]', '[200–299]']);
    const inChunk = await kids(big[1]);
    assert.equal(inChunk.length, 100);
    assert.equal(inChunk[0].id, 'cr3/0/0/2/100');
    const s2 = await setup(1000);
    const unchunked = await s2.kids(entry(await s2.kids(entry(await s2.kids(entry(await s2.kids(s2.root), 0)), 0)), 2));
    assert.equal(unchunked.length, 300);
    assert.equal(unchunked[100].id, 'cr3/0/0/2/100');
  });

  it('shows invalid entries only when asked', async () => {
    const { root, kids } = await setup();
    const all = await kids(root, true);
    assert.equal(all.filter((n) => n.kind === 'chunk').length, 6); // 512 entries in chunks of 100
    const first = await kids(all[0]);
    assert.equal(row(first[1]).contextValue, 'invalid');
  });

  it('reports a table it cannot read as a message, not an exception', async () => {
    const { mem, root, kids } = await setup();
    mem.write64(0x1000 + 8 * 5, 0x7ff0000000n | P | RW); // points outside the 64 MiB of RAM
    const pml4 = await kids(root);
    const bad = entry(pml4, 5);
    const r = row(bad);
    assert.match(r.description!, /outside guest RAM/);
    assert.equal(r.expandable, false);
  });
});
