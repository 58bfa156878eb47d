// Plain JSON-able records of leaves and merged ranges (the CLI's --json and the UI's export).
import { hex } from '../addr';
import { Flag, rawEntry } from '../format';
import { Leaf } from '../walker';
import { effectiveRights } from './explain';
import { MergedRange } from './merge';

export interface AttrRecord {
  root: string;
  read: boolean;
  write: boolean;
  exec: boolean;
  user: boolean;
  userExec: boolean;
  global: boolean;
  accessed: boolean;
  dirty: boolean;
  contiguous: boolean;
  memType: string;
  level: string;
}

export interface LeafRecord extends AttrRecord {
  va: string;
  pa: string;
  size: number;
  entry: string;
  entryPa: string;
}

export interface RangeRecord extends AttrRecord {
  va: string;
  end: string;
  pa: string;
  paContiguous: boolean;
  size: number;
  pages: number;
  pageSize: number;
}

function attrs(root: string, perms: number, flags: number, memType: string, level: string): AttrRecord {
  return {
    root, ...effectiveRights(perms),
    global: (flags & Flag.Global) !== 0, accessed: (flags & Flag.Accessed) !== 0, dirty: (flags & Flag.Dirty) !== 0,
    contiguous: (flags & Flag.Contiguous) !== 0, memType, level,
  };
}

export function leafRecord(l: Leaf): LeafRecord {
  const f = l.root.format;
  return {
    va: hex(l.root.toVirt(l.linear)), pa: hex(l.pa), size: l.size,
    entry: hex(rawEntry(l.lo, l.hi), f.entryBytes * 2), entryPa: hex(l.tablePa + l.index * f.entryBytes),
    ...attrs(l.root.name, l.perms, l.flags, f.memTypes[l.memType], f.levels[l.level].name),
  };
}

export function rangeRecord(r: MergedRange): RangeRecord {
  const f = r.root.format;
  return {
    va: hex(r.root.toVirt(r.start)), end: hex(BigInt(r.root.toVirt(r.start)) + BigInt(r.end - r.start)), pa: hex(r.pa),
    paContiguous: r.paContiguous, size: r.end - r.start, pages: r.pages, pageSize: r.leafSize,
    ...attrs(r.root.name, r.perms, r.flags, f.memTypes[r.memType], f.levels[r.level].name),
  };
}
