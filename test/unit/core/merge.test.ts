// Merging by runs (the walker's leafRun + RangeMerger.pushRun) must give exactly the ranges of
// merging leaf by leaf, on a space with contiguous and scattered frames, 4K/2M/1G pages.
import assert from 'node:assert/strict';
import { buildLinuxLike } from '../../../bench/synthetic';
import { spaceFromRegisters } from '../../../src/core/formats';
import { MergedRange, RangeMerger, mergeLeaves } from '../../../src/core/ops/merge';
import { PageTableSession } from '../../../src/core/ops/session';
import { TableStore, walk } from '../../../src/core/walker';

const plain = (r: MergedRange) => ({ ...r, root: r.root.name });

describe('merge by runs', () => {
  const syn = buildLinuxLike(70_000);
  const space = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', syn.cr3], ['cr4', 0x20n], ['efer', 0xd00n]]));

  it('equals leaf-by-leaf merging, including paContiguous and pages', async () => {
    const s = new PageTableSession(space, syn.memory);
    const byRun = await s.ranges();
    const byLeaf = mergeLeaves(await s.leaves());
    assert.ok(byLeaf.length > 100);
    assert.ok(byLeaf.some((r) => !r.paContiguous) && byLeaf.some((r) => r.paContiguous && r.pages > 1));
    assert.deepEqual(byRun.map(plain), byLeaf.map(plain));
  });

  it('equals leaf-by-leaf merging with requirePaContiguous', async () => {
    const s = new PageTableSession(space, syn.memory);
    const a = await s.ranges({ requirePaContiguous: true });
    const b = mergeLeaves(await s.leaves(), { requirePaContiguous: true });
    assert.ok(a.length > (await s.ranges()).length);
    assert.deepEqual(a.map(plain), b.map(plain));
  });

  it('cuts contiguous runs at region boundaries like single pushes, and refuses to cut scattered runs', async () => {
    // Boundaries every 100 pages and inside a 2 MiB page.
    const cuts = Array.from({ length: 2000 }, (_, k) => k * 100 * 4096 + (k % 7 === 0 ? 4096 * 3 + 17 : 0)).sort((x, y) => x - y);
    const boundaries = () => cuts;
    const leafMerger = new RangeMerger({ boundaries });
    const pas = new Map<number, number>();
    await walk(space.roots, new TableStore(syn.memory), { leaf: (l) => { pas.set(l.linear, l.pa); leafMerger.push(l); } });
    const runMerger = new RangeMerger({ boundaries });
    let refused = 0;
    await walk(space.roots, new TableStore(syn.memory), {
      leafRun: (l, n, contig, lastPa) => {
        if (contig) return runMerger.pushRun(l, n, contig, lastPa);
        assert.throws(() => runMerger.pushRun(l, n, contig, lastPa), /cannot be cut/);
        refused++;
        // What callers do instead: push each page.
        for (let k = 0; k < n; k++) {
          const linear = l.linear + k * l.size;
          runMerger.push({ ...l, linear, index: l.index + k, pa: pas.get(linear)! as typeof l.pa });
        }
      },
    });
    assert.ok(refused > 0);
    assert.deepEqual(runMerger.finish().map(plain), leafMerger.finish().map(plain));
  });
});
