// The lazy tree view of a walk: root → tables → entries, each table read (once, through the
// store) only when someone expands it. Every entry is read by the one descent's decodeEntry
// (descent.ts): the same kinds, reserved-bit checks, rights and flags as the walk.

import { PhysAddr, VirtAddr } from './addr';
import { EntryKind, Field, Perm, entryCount, levelSize, tableBytes } from './format';
import { MemoryReadError, inRam } from './memory';
import { Root } from './space';
import { decodeEntry } from './descent';
import { PathStep, TableStore, entryAt } from './walker';

export interface TableNode {
  readonly root: Root;
  readonly pa: PhysAddr;
  readonly level: number;
  readonly levelName: string;
  /** Linear base of the VA range this table covers. */
  readonly base: number;
  /** The entry above that points here (undefined for the root table). */
  readonly parent: PathStep | undefined;
  /** Rights still allowed by the entries above. */
  readonly allowed: number;
  /** Flags every leaf below inherits (RISC-V non-leaf G). */
  readonly inherited?: number;
}

export interface EntryNode {
  readonly table: TableNode;
  readonly index: number;
  readonly entryPa: PhysAddr;
  readonly lo: number;
  readonly hi: number;
  readonly kind: EntryKind;
  /** Linear VA range [start, start + size). */
  readonly linear: number;
  readonly size: number;
  readonly va: VirtAddr;
  /** Leaf: effective rights; table: rights still allowed below it. */
  readonly perms: number;
  /** Leaf: effective flags (Global inherited from above included); table: flags passed below. */
  readonly flags: number;
  /** Leaf: mapped PA; table: next table PA. */
  readonly target?: PhysAddr;
  /** Set when a table entry cannot be followed (outside RAM). */
  readonly problem?: string;
  fields(): Field[];
}

export function rootTable(root: Root): TableNode {
  return { root, pa: root.tablePa, level: 0, levelName: root.format.levels[0].name, base: 0, parent: undefined, allowed: Perm.All, inherited: 0 };
}

/** Reads one table and decodes its entries; only non-invalid entries unless `all`. */
export async function tableEntries(
  node: TableNode,
  store: TableStore,
  opts: { all?: boolean; signal?: AbortSignal } = {},
): Promise<EntryNode[] | MemoryReadError> {
  const f = node.root.format;
  const words = await store.table(node.pa, tableBytes(f, node.level), opts.signal);
  if (words instanceof MemoryReadError) return words;
  const out: EntryNode[] = [];
  const n = entryCount(f, node.level);
  const size = levelSize(f, node.level);
  for (let i = 0; i < n; i++) {
    const [lo, hi] = entryAt(words, f.entryBytes, i);
    if (!opts.all && (lo | hi) === 0) continue;
    // The descent's reading of the entry (descent.ts: kind, reserved bits, rights and flags).
    const e = decodeEntry(f, lo, hi, node.level, i, node.allowed, node.inherited ?? 0);
    const kind = e.kind;
    if (kind === EntryKind.Invalid && !opts.all) continue;
    const linear = node.base + i * size;
    const { perms, flags, target } = e;
    let problem: string | undefined;
    if (kind === EntryKind.Table) {
      if (!inRam(store.memory.ram, target!, tableBytes(f, node.level + 1))) problem = 'next table is outside guest RAM';
      else if (onPath(node, target!)) problem = 'points back to a table on its own path (recursive mapping; not descended)';
    }
    const level = node.level;
    out.push({
      table: node, index: i, entryPa: (node.pa + i * f.entryBytes) as PhysAddr, lo, hi, kind, linear, size,
      va: node.root.toVirt(linear), perms, flags, target: target as PhysAddr | undefined, problem,
      fields: () => f.describe(lo, hi, level, kind),
    });
  }
  return out;
}

/** The table a table entry points to, as a node to expand. */
export function childTable(e: EntryNode): TableNode | undefined {
  if (e.kind !== EntryKind.Table || e.target === undefined || e.problem) return undefined;
  const t = e.table;
  const f = t.root.format;
  return {
    root: t.root, pa: e.target, level: t.level + 1, levelName: f.levels[t.level + 1].name, base: e.linear,
    parent: { parent: t.parent, level: t.level, index: e.index, tablePa: t.pa, lo: e.lo, hi: e.hi, allowed: e.perms, inherited: e.flags },
    allowed: e.perms,
    inherited: e.flags,
  };
}

/** Is `pa` the table `node` or one above it (the walker does not descend such an entry)? */
function onPath(node: TableNode, pa: number): boolean {
  if (node.pa === pa) return true;
  for (let s = node.parent; s; s = s.parent) if (s.tablePa === pa) return true;
  return false;
}
