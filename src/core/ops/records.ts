// Plain JSON-able records of leaves and merged ranges (the CLI's --json, the extension's export).
// Addresses are 0x-prefixed lower-case hex strings (VAs exceed 2^53); sizes are numbers of bytes.
import { hex } from '../addr';
import { Flag, rawEntry } from '../format';
import { Leaf } from '../walker';
import { effectiveRights } from './explain';
import { MergedRange, rangeEndVa, rangeVa } from './merge';

export interface AttrRecord {
  root: string;
  /** Level name of the leaf entries (PT, PD, L3, ...). */
  level: string;
  read: boolean;
  write: boolean;
  exec: boolean;
  user: boolean;
  userExec: boolean;
  global: boolean;
  accessed: boolean;
  dirty: boolean;
  /** AArch64 contiguous hint / RISC-V Svnapot; always false on x86. */
  contiguous: boolean;
  memType: string;
}

export interface LeafRecord extends AttrRecord {
  va: string;
  pa: string;
  size: number;
  /** Raw descriptor, zero-padded to the entry width. */
  entry: string;
  /** Physical address of the descriptor itself. */
  entryPa: string;
}

export interface RangeRecord extends AttrRecord {
  va: string;
  /** Exclusive end VA. */
  end: string;
  /** PA of the first page. */
  pa: string;
  paContiguous: boolean;
  size: number;
  pages: number;
  pageSize: number;
}

function attrs(root: string, level: string, perms: number, flags: number, memType: string): AttrRecord {
  return {
    root, level, ...effectiveRights(perms),
    global: (flags & Flag.Global) !== 0, accessed: (flags & Flag.Accessed) !== 0, dirty: (flags & Flag.Dirty) !== 0,
    contiguous: (flags & Flag.Contiguous) !== 0, memType,
  };
}

export function leafRecord(l: Leaf): LeafRecord {
  const f = l.root.format;
  return {
    va: hex(l.root.toVirt(l.linear)), pa: hex(l.pa), size: l.size,
    entry: hex(rawEntry(l.lo, l.hi), f.entryBytes * 2), entryPa: hex(l.tablePa + l.index * f.entryBytes),
    ...attrs(l.root.name, f.levels[l.level].name, l.perms, l.flags, f.memTypes[l.memType] ?? `#${l.memType}`),
  };
}

/** Accessed/dirty in a range record mean "some page of the range" (see merge.ts). */
export function rangeRecord(r: MergedRange): RangeRecord {
  const f = r.root.format;
  return {
    va: hex(rangeVa(r)), end: hex(rangeEndVa(r)), pa: hex(r.pa),
    paContiguous: r.paContiguous, size: r.size, pages: r.pages, pageSize: r.leafSize,
    ...attrs(r.root.name, f.levels[r.level].name, r.perms, r.flags, f.memTypes[r.memType] ?? `#${r.memType}`),
  };
}
