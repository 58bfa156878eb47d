// VA windows of recursive table references (a table that is its own ancestor, e.g. a recursive
// PML4 slot). ptview reports them and does not descend them; QEMU's `info tlb` does list leaves
// there. Tests that compare every leaf with QEMU leave these windows out (and check QEMU maps
// something in them, so the cut is not hiding anything else).
import type { AddressSpace } from '../../src/core/space';
import { TableStore, walk } from '../../src/core/walker';

export async function recursiveWindows(space: AddressSpace, store: TableStore): Promise<[bigint, bigint][]> {
  const out: [bigint, bigint][] = [];
  await walk(space.roots, store, {
    leaf: () => undefined,
    diagnostic: (d) => {
      if (d.kind !== 'recursive') return;
      const va = BigInt(d.root.toVirt(d.linear));
      out.push([va, va + BigInt(2 ** d.root.format.levels[d.level].shift)]);
    },
  });
  return out;
}

export const outside = (windows: readonly [bigint, bigint][]) => (va: bigint) => !windows.some(([a, b]) => va >= a && va < b);
