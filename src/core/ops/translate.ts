// VA → PA with the full per-level trace, on whichever root translates the VA.
import { hex, sizeLabel } from '../addr';
import { EntryKind, Field, rawEntry } from '../format';
import { AddressSpace, Root } from '../space';
import { TableStore, TranslateOutcome, effectivePerms, translateLinear } from '../walker';
import { Provenance, Rights, effectiveRights, provenance, rightsString } from './explain';

export class TranslateError extends Error {
  override name = 'TranslateError';
}

export type StepKind = 'invalid' | 'table' | 'leaf' | 'reserved';

export interface TraceRecord {
  /** Index into format.levels, and its name (PML4, L1, ...). */
  level: number;
  levelName: string;
  index: number;
  tablePa: number;
  entryPa: number;
  /** Raw entry, 0x-hex zero-padded to the entry width. */
  raw: string;
  kind: StepKind;
  /** format.describe of the entry (empty for an invalid entry). */
  fields: Field[];
  /**
   * Rights an access still has after this step: for a table, what it and every entry above allow
   * below it; for the leaf, the page's effective rights; for an invalid or faulting entry, none.
   */
  allowedAfter: Rights;
}

export interface Translation {
  /** The VA asked for, 0x-hex. */
  va: string;
  /** Name of the root that translated it. */
  root: string;
  kind: 'mapped' | 'not-mapped' | 'invalid';
  /** Mapped: the PA of the VA itself (page PA + offset). */
  pa?: number;
  /** Mapped: page size in bytes. */
  size?: number;
  /** Mapped: the page's first VA (0x-hex). */
  pageVa?: string;
  /** Level name of the last entry read (the leaf, or where the walk stopped). */
  level?: string;
  rights?: Rights;
  /** Mapped: for every missing right, the first entry that removed it. */
  provenance?: Provenance[];
  memType?: string;
  trace: TraceRecord[];
  message: string;
}

const KIND: readonly StepKind[] = ['invalid', 'table', 'leaf', 'reserved'];
const NONE = effectiveRights(0);

/** Why `root` does not translate `va`, in the architecture's words when the root says. */
function rejection(root: Root, va: bigint): string {
  const why = root.describeVa?.(va);
  if (why) return why;
  if (root.half) return `${hex(va)} is not in its ${root.half} half`;
  return `${hex(va)} is outside its ${root.inputBits}-bit input range`;
}

/**
 * Picks the first root that translates `va` (optionally only roots named `rootName`, a prefix
 * such as "ttbr1" matching "ttbr1_el1"); when none does, the error lists every root and why it
 * refused (non-canonical, other half, EPD, TBI...).
 */
export function rootFor(space: AddressSpace, va: bigint, rootName?: string): Root {
  const want = rootName?.toLowerCase();
  const roots = want ? space.roots.filter((r) => r.name.toLowerCase() === want || r.name.toLowerCase().startsWith(want)) : space.roots;
  if (want && roots.length === 0) {
    throw new TranslateError(`no root named '${rootName}' (roots: ${space.roots.map((r) => r.name).join(', ') || 'none'})`);
  }
  if (roots.length === 0) throw new TranslateError('the address space has no roots to translate with');
  for (const r of roots) if (r.toLinear(va) !== undefined) return r;
  const why = roots.map((r) => `${r.name}: ${rejection(r, va)}`).join('; ');
  throw new TranslateError(`${hex(va)} is not translated by any root (${why})`);
}

export async function translate(
  space: AddressSpace,
  va: bigint,
  store: TableStore,
  opts: { root?: string; signal?: AbortSignal } = {},
): Promise<Translation> {
  const root = rootFor(space, va, opts.root);
  // Linear numbers are page-aligned (exact in a double); an unaligned one above 2^53 (Sv57,
  // LA57, 52-bit VAs) would round into the neighbouring page. The offset is added back below.
  const linear = root.toLinear(va & ~0xfffn)!;
  const out: TranslateOutcome = await translateLinear(root, linear, store, opts.signal);
  const f = root.format;
  const trace: TraceRecord[] = out.trace.map((s) => {
    let after = NONE;
    if (s.kind === EntryKind.Table) after = effectiveRights(s.allowed);
    else if (s.kind === EntryKind.Leaf) after = effectiveRights(effectivePerms(f, s.lo, s.hi, s.level, s.allowed));
    return {
      level: s.level, levelName: s.levelName, index: s.index, tablePa: s.tablePa, entryPa: s.entryPa,
      raw: hex(rawEntry(s.lo, s.hi), f.entryBytes * 2), kind: KIND[s.kind],
      fields: s.kind === EntryKind.Invalid ? [] : f.describe(s.lo, s.hi, s.level, s.kind), allowedAfter: after,
    };
  });
  const base = { va: hex(va), root: root.name, trace };
  if (out.kind === 'mapped') {
    const l = out.leaf;
    const pageVa = BigInt(root.toVirt(l.linear));
    // The offset inside the page: va - pageVa would keep a TBI tag (pageVa has none).
    const pa = l.pa + Number(va & BigInt(l.size - 1));
    const levelName = f.levels[l.level].name;
    return {
      ...base, kind: 'mapped', pa, size: l.size, pageVa: hex(pageVa), level: levelName,
      rights: effectiveRights(l.perms), provenance: provenance(l), memType: f.memTypes[l.memType],
      message: `${hex(va)} → ${hex(pa)} (${sizeLabel(l.size)} page, ${levelName}[${l.index}], ${rightsString(l.perms)}, ${f.memTypes[l.memType]})`,
    };
  }
  const last = out.trace.at(-1);
  const levelName = f.levels[out.level].name;
  if (out.kind === 'not-mapped') {
    return {
      ...base, kind: 'not-mapped', level: levelName,
      message: `${hex(va)} is not mapped: ${levelName}[${last?.index ?? '?'}] is not present`,
    };
  }
  return { ...base, kind: 'invalid', level: levelName, message: `${hex(va)} cannot be translated: ${out.message}` };
}
