// VA → PA with the full per-level trace, on whichever root translates the VA.
import { hex } from '../addr';
import { EntryKind, Field, rawEntry } from '../format';
import { AddressSpace, Root } from '../space';
import { TableStore, TranslateOutcome, translateLinear } from '../walker';
import { Provenance, Rights, effectiveRights, provenance } from './explain';

export class TranslateError extends Error {
  override name = 'TranslateError';
}

export interface TraceRecord {
  level: string;
  index: number;
  tablePa: string;
  entryPa: string;
  entry: string;
  kind: 'invalid' | 'table' | 'leaf' | 'reserved';
  fields: Field[];
  /** Rights still allowed after this entry. */
  allowed: Rights;
}

export interface Translation {
  va: string;
  root: string;
  kind: 'mapped' | 'not-mapped' | 'invalid';
  pa?: string;
  pageSize?: number;
  pageVa?: string;
  level?: string;
  rights?: Rights;
  provenance?: Provenance[];
  memType?: string;
  trace: TraceRecord[];
  message: string;
}

const KIND = ['invalid', 'table', 'leaf', 'reserved'] as const;

/** Picks the root that translates `va`; explains why each root refuses when none does. */
export function rootFor(space: AddressSpace, va: bigint, rootName?: string): Root {
  const roots = rootName ? space.roots.filter((r) => r.name === rootName || r.name.startsWith(rootName)) : space.roots;
  if (rootName && roots.length === 0) {
    throw new TranslateError(`no root named '${rootName}' (roots: ${space.roots.map((r) => r.name).join(', ')})`);
  }
  for (const r of roots) if (r.toLinear(va) !== undefined) return r;
  const why = roots.map((r) => `${r.name}: ${r.describeVa?.(va) ?? 'outside its range'}`).join('; ');
  throw new TranslateError(`${hex(va)} is not translated by any root (${why})`);
}

export async function translate(
  space: AddressSpace,
  va: bigint,
  store: TableStore,
  opts: { root?: string; signal?: AbortSignal } = {},
): Promise<Translation> {
  const root = rootFor(space, va, opts.root);
  const linear = root.toLinear(va)!;
  const out: TranslateOutcome = await translateLinear(root, linear, store, opts.signal);
  const f = root.format;
  const trace: TraceRecord[] = out.trace.map((s) => ({
    level: s.levelName, index: s.index, tablePa: hex(s.tablePa), entryPa: hex(s.entryPa),
    entry: hex(rawEntry(s.lo, s.hi), f.entryBytes * 2), kind: KIND[s.kind],
    fields: s.kind === EntryKind.Invalid ? [] : f.describe(s.lo, s.hi, s.level, s.kind), allowed: effectiveRights(s.allowed),
  }));
  const base = { va: hex(va), root: root.name, trace };
  if (out.kind === 'mapped') {
    const l = out.leaf;
    const pageVa = BigInt(root.toVirt(l.linear));
    const pa = l.pa + Number(va - pageVa);
    return {
      ...base, kind: 'mapped', pa: hex(pa), pageSize: l.size, pageVa: hex(pageVa), level: f.levels[l.level].name,
      rights: effectiveRights(l.perms), provenance: provenance(l), memType: f.memTypes[l.memType],
      message: `${hex(va)} → ${hex(pa)} (${f.levels[l.level].name}, ${l.size} byte page)`,
    };
  }
  if (out.kind === 'not-mapped') {
    return { ...base, kind: 'not-mapped', level: f.levels[out.level].name, message: `${hex(va)} is not mapped: ${f.levels[out.level].name}[${out.trace.at(-1)!.index}] is not present` };
  }
  return { ...base, kind: 'invalid', level: f.levels[out.level].name, message: `${hex(va)}: ${out.message}` };
}
