// Leaf filters in gdb-pt-dump's vocabulary (w _w x _x w|x ro u s) plus memory types, address
// ranges, page size and half; and the per-root linear ranges the walker can prune with.
import { parseAddress } from '../addr';
import { Perm } from '../format';
import { Root } from '../space';
import { Leaf } from '../walker';

export const FILTER_WORDS = ['w', '_w', 'x', '_x', 'w|x', 'ro', 'u', 's', 'g', '_g'];

export class FilterError extends Error {
  override name = 'FilterError';
}

export interface LeafFilter {
  readonly va?: readonly [bigint, bigint];
  readonly pa?: readonly [number, number];
  readonly pageSize?: number;
  readonly half?: 'kernel' | 'user';
  matches(l: Leaf): boolean;
  /** The linear range to walk in `root`, or null when the VA range misses it entirely. */
  linearRange(root: Root): [number, number] | undefined | null;
}

const EXEC = Perm.Exec | Perm.UserExec;

function word(tok: string): ((l: Leaf) => boolean) | undefined {
  switch (tok) {
    case 'w': return (l) => (l.perms & Perm.Write) !== 0;
    case '_w': return (l) => (l.perms & Perm.Write) === 0;
    case 'x': return (l) => (l.perms & EXEC) !== 0;
    case '_x': return (l) => (l.perms & EXEC) === 0;
    case 'w|x': case 'wx': case 'w+x': return (l) => (l.perms & Perm.Write) !== 0 && (l.perms & EXEC) !== 0;
    case 'ro': return (l) => (l.perms & Perm.Write) === 0;
    case 'u': return (l) => (l.perms & Perm.User) !== 0;
    case 's': return (l) => (l.perms & Perm.User) === 0;
    case 'g': return (l) => (l.flags & 1) !== 0;
    case '_g': return (l) => (l.flags & 1) === 0;
    default: return undefined;
  }
}

/** "0x1000-0x2000" or "0x1000+0x1000" or a single address → [start, end). */
export function parseRange(text: string, what: string): [bigint, bigint] {
  const m = /^([^-+]+)([-+])(.+)$/.exec(text.trim());
  if (!m) {
    const a = parseAddress(text, what);
    return [a, a + 1n];
  }
  const a = parseAddress(m[1], what);
  const b = parseAddress(m[3], what);
  const end = m[2] === '+' ? a + b : b;
  if (end <= a) throw new FilterError(`invalid ${what} '${text}': the end must be above the start`);
  return [a, end];
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

export function parseSize(text: string): number {
  const m = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new FilterError(`invalid page size '${text}': use e.g. 4K, 2M, 1G`);
  return Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()];
}

export interface FilterSpec {
  words?: string[];
  va?: string;
  pa?: string;
  pageSize?: string;
  half?: string;
}

export function parseFilters(spec: FilterSpec): LeafFilter {
  const preds: ((l: Leaf) => boolean)[] = [];
  for (const raw of spec.words ?? []) {
    for (const tok of raw.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean)) {
      const p = word(tok);
      if (p) {
        preds.push(p);
        continue;
      }
      // Anything else must be a memory type name of the leaf's format (wb, uc, normal-wb, device...).
      preds.push((l) => {
        const t = l.root.format.memTypes[l.memType].toLowerCase();
        return t === tok || t.startsWith(tok + '-') || t.startsWith(tok);
      });
      if (!/^[a-z][a-z0-9-]*$/.test(tok)) {
        throw new FilterError(`unknown filter '${tok}': use ${FILTER_WORDS.join(' ')} or a memory type (wb, uc, wc, normal, device, …)`);
      }
    }
  }
  const va = spec.va ? parseRange(spec.va, 'VA range') : undefined;
  const paRange = spec.pa ? parseRange(spec.pa, 'PA range') : undefined;
  const pa = paRange ? ([Number(paRange[0]), Number(paRange[1])] as const) : undefined;
  const pageSize = spec.pageSize ? parseSize(spec.pageSize) : undefined;
  let half: 'kernel' | 'user' | undefined;
  if (spec.half) {
    if (spec.half !== 'kernel' && spec.half !== 'user') throw new FilterError(`invalid half '${spec.half}': use kernel or user`);
    half = spec.half;
  }
  if (pa) preds.push((l) => l.pa < pa[1] && l.pa + l.size > pa[0]);
  if (pageSize) preds.push((l) => l.size === pageSize);
  if (half) preds.push((l) => isUpperHalf(l.root, l.linear) === (half === 'kernel'));
  return {
    va, pa, pageSize, half,
    matches: (l) => preds.every((p) => p(l)),
    linearRange: (root) => {
      if (!va) return undefined;
      const lo = clampLinear(root, va[0], 'start');
      const hi = clampLinear(root, va[1] - 1n, 'end');
      if (lo === null || hi === null || hi < lo) return null;
      return [lo, hi + 1];
    },
  };
}

/** Kernel half: the root is an upper-half root, or the VA has its top bit set. */
export function isUpperHalf(root: Root, linear: number): boolean {
  if (root.half) return root.half === 'upper';
  return (BigInt(root.toVirt(linear)) >> 63n) === 1n;
}

// A VA bound outside a root's range clamps to the root's edge when it lies beyond it.
function clampLinear(root: Root, va: bigint, which: 'start' | 'end'): number | null {
  const l = root.toLinear(va);
  if (l !== undefined) return l;
  const first = BigInt(root.toVirt(0));
  const last = BigInt(root.toVirt(2 ** root.inputBits - 4096)) + 4095n;
  if (which === 'start') return va < first ? 0 : va > last ? null : lowerHalfEnd(root, va);
  return va > last ? 2 ** root.inputBits - 1 : va < first ? null : lowerHalfEnd(root, va) - 1;
}

// For sign-extended spaces a VA in the non-canonical hole: the first linear of the upper half.
function lowerHalfEnd(root: Root, _va: bigint): number {
  return 2 ** (root.inputBits - 1);
}
