// PA → every VA that maps it, from one walk of the whole space (not one walk per address).
import { hex } from '../addr';
import { AddressSpace } from '../space';
import { Leaf, TableStore, walk } from '../walker';
import { LeafRecord, leafRecord } from './records';

export interface Alias extends LeafRecord {
  /** The VA of the requested PA inside this leaf (the start of the overlap for ranges). */
  vaOfPa: string;
}

export async function findAliases(
  space: AddressSpace,
  store: TableStore,
  pa: number | readonly [number, number],
  opts: { signal?: AbortSignal } = {},
): Promise<Alias[]> {
  const [lo, hi] = typeof pa === 'number' ? [pa, pa + 1] : pa;
  const out: Alias[] = [];
  await walk(space.roots, store, {
    leaf: (l: Leaf) => {
      if (l.pa < hi && l.pa + l.size > lo) {
        const off = Math.max(lo, l.pa) - l.pa;
        out.push({ ...leafRecord(l), vaOfPa: hex(BigInt(l.root.toVirt(l.linear)) + BigInt(off)) });
      }
    },
  }, { signal: opts.signal });
  return out;
}

/** A PA-sorted index of leaves for many reverse lookups after one walk. */
export class ReverseIndex {
  private readonly byPa: Leaf[];
  private readonly maxSize: number;
  constructor(leaves: readonly Leaf[]) {
    this.byPa = [...leaves].sort((a, b) => a.pa - b.pa);
    this.maxSize = leaves.reduce((m, l) => Math.max(m, l.size), 0);
  }

  /** Leaves whose physical range overlaps [lo, hi). */
  overlapping(lo: number, hi: number): Leaf[] {
    // A leaf overlapping lo starts at most maxSize below it: binary-search the first candidate.
    let a = 0;
    let b = this.byPa.length;
    const from = lo - this.maxSize;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (this.byPa[m].pa < from) a = m + 1;
      else b = m;
    }
    const out: Leaf[] = [];
    for (let i = a; i < this.byPa.length && this.byPa[i].pa < hi; i++) {
      const l = this.byPa[i];
      if (l.pa + l.size > lo) out.push(l);
    }
    return out;
  }
}
