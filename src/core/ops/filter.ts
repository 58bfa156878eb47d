// Leaf filters in gdb-pt-dump's vocabulary, on EFFECTIVE rights (gdb-pt-dump tests leaf bits):
//   w  writable            _w  not writable
//   x  executable          _x  not executable       (kernel or user execute; see u/s below)
//   w|x writable OR executable (gdb-pt-dump's meaning; x|w too)
//   ro readable, not writable, not executable
//   u  user-accessible (data or execute)   s  supervisor only
// As in gdb-pt-dump, u and s also pick whose rights x, _x, w|x and ro look at when only one of
// them is given ("s x" = kernel-executable, "u x" = user-executable). Extensions: w+x (both: the
// W+X audit's set), g / _g (global), memory types by name (wb, uc, uc-, wc, wt, wp, normal,
// device, ...; a name matches a type equal to it or having it as a word, so uc matches UC and
// UC-, normal matches Normal-WB; _name negates), and key=value tokens va=RANGE, pa=RANGE,
// size=4K|2M|1G, half=kernel|user. Tokens may also be comma-separated.
import { AddressSyntaxError, parseNumber } from '../addr';
import { ANY_EXEC, ANY_WRITE, Flag, PagingFormat, Perm, USER_ANY } from '../format';
import { AddressSpace, Root, isUpperHalf } from '../space';
import { Leaf } from '../walker';

export const FILTER_WORDS = ['w', '_w', 'x', '_x', 'w|x', 'w+x', 'ro', 'u', 's', 'g', '_g'] as const;
export const FILTER_KEYS = ['va=RANGE', 'pa=RANGE', 'size=4K|2M|1G', 'half=kernel|user'] as const;

/**
 * Memory-type words accepted without a space to check against: x86 PAT types, AArch64 MAIR
 * classes and RISC-V Svpbmt types. With a space (or formats) the space's own names are used.
 */
export const KNOWN_MEMTYPE_WORDS = [
  'wb', 'wt', 'uc', 'uc-', 'wc', 'wp',
  'normal', 'device', 'nc', 'ngnrne', 'ngnre', 'ngre', 'gre', 'tagged',
  'pma', 'io',
] as const;

export class FilterError extends Error {
  override name = 'FilterError';
}

export interface LeafFilter {
  /** The permission / flag / memory-type tokens, normalised. */
  readonly words: readonly string[];
  /** VA range [start, end). */
  readonly va?: readonly [bigint, bigint];
  /** PA range [start, end): leaves overlapping it. */
  readonly pa?: readonly [number, number];
  readonly pageSize?: number;
  readonly half?: 'kernel' | 'user';
  /** True when the filter keeps every leaf (no need to call matches). */
  readonly empty: boolean;
  matches(l: Leaf): boolean;
  /**
   * The linear range to give the walker for `root` (WalkOptions.range): undefined = whole root,
   * null = the VA range misses this root entirely (skip it).
   */
  linearRange(root: Root): [number, number] | undefined | null;
}

/** Old object form (CLI options); parseFilters accepts it too. */
export interface FilterSpec {
  words?: readonly string[];
  va?: string;
  pa?: string;
  pageSize?: string;
  half?: string;
}

export interface FilterContext {
  /** Memory-type names are checked against these formats' names instead of the built-in list. */
  readonly space?: AddressSpace;
  readonly formats?: readonly PagingFormat[];
}

const EXEC = ANY_EXEC;
const USER = USER_ANY;

/** "0x1000-0x2000", "0x1000+0x1000" or a single address (one byte) → [start, end). */
export function parseRange(text: string, what: string): [bigint, bigint] {
  const m = /^([^-+]+)([-+])(.+)$/.exec(text.trim());
  if (!m) {
    const a = parseNumber(text, what);
    return [a, a + 1n];
  }
  const a = parseNumber(m[1], what);
  // START+LEN takes a size with a unit too (0x1000+4K); START-END takes numbers only.
  const b = m[2] === '+' && /^\s*\d+\s*[kmgtp]/i.test(m[3]) ? BigInt(parseSize(m[3], `length in ${what}`)) : parseNumber(m[3], what);
  const end = m[2] === '+' ? a + b : b;
  if (end <= a) throw new FilterError(`invalid ${what} '${text}': the end must be above the start`);
  if (end > 1n << 64n) throw new FilterError(`invalid ${what} '${text}': ends above 2^64`);
  return [a, end];
}

const SIZE_UNITS: Record<string, bigint> = { '': 1n, k: 1n << 10n, m: 1n << 20n, g: 1n << 30n, t: 1n << 40n, p: 1n << 50n };

/**
 * A byte count: "4K", "2M", "1G", "64KiB", or a number (0x-hex or decimal). Refused unless it is
 * an exact whole number of bytes between 1 and 2^53 (sizes are numbers everywhere).
 */
export function parseSize(text: string, what = 'size'): number {
  const t = text.trim();
  const m = /^(\d+)\s*([kmgtp])(i?b)?$/i.exec(t) ?? /^(\d+)\s*(i?b)$/i.exec(t);
  let v: bigint;
  try {
    v = m ? BigInt(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] ?? 1n) : parseNumber(t, what);
  } catch (e) {
    if (e instanceof AddressSyntaxError) throw new FilterError(`invalid ${what} '${text}': use e.g. 4K, 2M, 1G, 4096 or 0x1000`);
    throw e;
  }
  if (v < 1n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FilterError(`invalid ${what} '${text}': must be between 1 and 2^53 bytes`);
  return Number(v);
}

/** A page size: a power of two from 4 KiB, the smallest page of every supported format. */
export function parsePageSize(text: string): number {
  const v = parseSize(text, 'page size');
  if (v < 4096 || !Number.isInteger(Math.log2(v))) {
    throw new FilterError(`invalid page size '${text}': page sizes are powers of two from 4K (4K, 16K, 64K, 2M, 32M, 512M, 1G, …)`);
  }
  return v;
}

function memWords(name: string): string[] {
  const n = name.toLowerCase();
  return [n, ...n.split(/[^a-z0-9]+/).filter(Boolean)];
}

function vocabulary(ctx: FilterContext): { words: Set<string>; names: string[] } | undefined {
  const formats = ctx.formats ?? ctx.space?.roots.map((r) => r.format);
  if (!formats || formats.length === 0) return undefined;
  const names = [...new Set(formats.flatMap((f) => f.memTypes))];
  return { words: new Set(names.flatMap(memWords)), names };
}

function vocabMessage(tok: string, memNames: readonly string[]): string {
  return `unknown filter '${tok}': use ${FILTER_WORDS.join(' ')}, a memory type (${memNames.join(' ')}; _type negates) ` +
    `or ${FILTER_KEYS.join(' ')}`;
}

/**
 * Parses filter tokens (or the CLI's FilterSpec). Unknown tokens throw a FilterError listing the
 * vocabulary. `more` adds VA/PA/size/half from separate options.
 */
export function parseFilters(tokens: readonly string[] | FilterSpec, more: FilterSpec & FilterContext = {}): LeafFilter {
  const spec: FilterSpec = Array.isArray(tokens) ? { ...more, words: [...(more.words ?? []), ...tokens] } : { ...more, ...(tokens as FilterSpec) };
  const vocab = vocabulary(more);
  const memNames = vocab ? vocab.names.map((n) => n.toLowerCase()) : [...KNOWN_MEMTYPE_WORDS];
  const toks = (spec.words ?? []).flatMap((w) => w.split(/[,\s]+/)).map((t) => t.trim().toLowerCase()).filter(Boolean);

  let vaText = spec.va;
  let paText = spec.pa;
  let sizeText = spec.pageSize;
  let halfText = spec.half;
  const words: string[] = [];
  for (const t of toks) {
    const kv = /^([a-z-]+)=(.+)$/.exec(t);
    if (kv) {
      const [, k, v] = kv;
      if (k === 'va') vaText = v;
      else if (k === 'pa') paText = v;
      else if (k === 'size' || k === 'pagesize' || k === 'page-size') sizeText = v;
      else if (k === 'half') halfText = v;
      else throw new FilterError(vocabMessage(t, memNames));
      continue;
    }
    words.push(t === 'x|w' ? 'w|x' : t === 'wx' ? 'w+x' : t);
  }

  // u / s select whose rights w, x, _x, w|x and ro test when exactly one of them is present
  // (rights v2: privileged and user rights are separate bits; without u/s either actor counts).
  const hasU = words.includes('u');
  const hasS = words.includes('s');
  const xMask = hasS && !hasU ? Perm.Exec : hasU && !hasS ? Perm.UserExec : EXEC;
  const wMask = hasS && !hasU ? Perm.Write : hasU && !hasS ? Perm.UserWrite : ANY_WRITE;
  const readMask = hasS && !hasU ? Perm.Read : hasU && !hasS ? Perm.UserRead : Perm.Read | Perm.UserRead;

  // Rights tests compile to mask checks: all of `need` set, none of `forbid`, any of each `any`.
  let need = 0;
  let forbid = 0;
  const anyOf: number[] = [];
  let flagsNeed = 0;
  let flagsForbid = 0;
  const memTests: { name: string; neg: boolean }[] = [];
  for (const w of words) {
    switch (w) {
      case 'w': anyOf.push(wMask); break;
      case '_w': forbid |= wMask; break;
      case 'x': anyOf.push(xMask); break;
      case '_x': forbid |= xMask; break;
      case 'w|x': anyOf.push(wMask | xMask); break;
      case 'w+x': anyOf.push(wMask); anyOf.push(xMask); break;
      case 'ro': forbid |= wMask | xMask; anyOf.push(readMask); break;
      case 'u': anyOf.push(USER); break;
      case 's': forbid |= USER; break;
      case 'g': flagsNeed |= Flag.Global; break;
      case '_g': flagsForbid |= Flag.Global; break;
      default: {
        const neg = w.startsWith('_');
        const name = neg ? w.slice(1) : w;
        const known = vocab ? vocab.words.has(name) : (KNOWN_MEMTYPE_WORDS as readonly string[]).includes(name);
        if (!known) throw new FilterError(vocabMessage(w, memNames));
        memTests.push({ name, neg });
      }
    }
  }

  const va = vaText !== undefined ? parseRange(vaText, 'VA range') : undefined;
  const paRange = paText !== undefined ? parseRange(paText, 'PA range') : undefined;
  const pa = paRange ? ([Number(paRange[0]), Number(paRange[1])] as const) : undefined;
  const pageSize = sizeText !== undefined ? parsePageSize(sizeText) : undefined;
  let half: 'kernel' | 'user' | undefined;
  if (halfText !== undefined) {
    if (halfText !== 'kernel' && halfText !== 'user') throw new FilterError(`invalid half '${halfText}': use kernel or user`);
    half = halfText;
  }

  // Per-format memory-type verdicts and per-root linear ranges, computed once.
  const memCache = new Map<PagingFormat, boolean[]>();
  const memOk = (f: PagingFormat, t: number): boolean => {
    let v = memCache.get(f);
    if (!v) {
      v = f.memTypes.map((n) => {
        const ws = memWords(n);
        return memTests.every(({ name, neg }) => ws.includes(name) !== neg);
      });
      memCache.set(f, v);
    }
    return v[t] ?? false;
  };
  const rangeCache = new Map<Root, [number, number] | null | undefined>();
  const linearRange = (root: Root): [number, number] | undefined | null => {
    if (!va) return undefined;
    if (!rangeCache.has(root)) rangeCache.set(root, vaRangeToLinear(root, va[0], va[1]));
    return rangeCache.get(root)!;
  };

  const permsTest = need !== 0 || forbid !== 0 || anyOf.length > 0;
  const flagsTest = flagsNeed !== 0 || flagsForbid !== 0;
  const empty = !permsTest && !flagsTest && memTests.length === 0 && !va && !pa && pageSize === undefined && !half;
  const matches = (l: Leaf): boolean => {
    const p = l.perms;
    if (permsTest) {
      if ((p & need) !== need || (p & forbid) !== 0) return false;
      for (let i = 0; i < anyOf.length; i++) if ((p & anyOf[i]) === 0) return false;
    }
    if (flagsTest && ((l.flags & flagsNeed) !== flagsNeed || (l.flags & flagsForbid) !== 0)) return false;
    if (memTests.length > 0 && !memOk(l.root.format, l.memType)) return false;
    if (pageSize !== undefined && l.size !== pageSize) return false;
    if (pa && !(l.pa < pa[1] && l.pa + l.size > pa[0])) return false;
    if (va) {
      const r = linearRange(l.root);
      if (!r || !(l.linear < r[1] && l.linear + l.size > r[0])) return false;
    }
    if (half && isUpperHalf(l.root, l.linear) !== (half === 'kernel')) return false;
    return true;
  };
  return { words, va, pa, pageSize, half, empty, matches, linearRange };
}

const PAGE = 4096n;

/**
 * The linear range [lo, hi) of `root` covering the VA range [start, end), widened to 4 KiB pages;
 * null when no VA of the range is translated by the root. Bounds in a non-canonical hole clamp to
 * the nearest canonical address inside the range (the linear order follows the VA order).
 */
export function vaRangeToLinear(root: Root, start: bigint, end: bigint): [number, number] | null {
  if (end <= start) return null;
  const span = 2 ** root.inputBits;
  const lo = start & ~(PAGE - 1n);
  const last = (end - 1n) & ~(PAGE - 1n);
  const a = clampLinear(root, lo, 'start');
  const b = clampLinear(root, last, 'end');
  if (a === null || b === null || b < a) return null;
  return [a, Math.min(span, b + 4096)];
}

// A bound outside the root's range moves to the root's first (start) or last (end) page inside
// the range, or null when there is none on that side.
function clampLinear(root: Root, va: bigint, which: 'start' | 'end'): number | null {
  const l = root.toLinear(va);
  if (l !== undefined) return l;
  const span = 2 ** root.inputBits;
  const first = BigInt(root.toVirt(0));
  const lastPage = BigInt(root.toVirt(span - 4096));
  if (which === 'start') {
    if (va < first) return 0;
    if (va > lastPage) return null;
  } else {
    if (va > lastPage) return span - 4096;
    if (va < first) return null;
  }
  // In a hole between the halves of a sign-extended space.
  const mid = 2 ** (root.inputBits - 1);
  const midVa = BigInt(root.toVirt(mid));
  const lowTop = BigInt(root.toVirt(mid - 4096));
  if (va > lowTop && va < midVa) return which === 'start' ? mid : mid - 4096;
  return null;
}
