// Plain JSON-able records of leaves and merged ranges (the CLI's --json, the extension's export).
// Addresses are 0x-prefixed lower-case hex strings (VAs exceed 2^53); sizes are numbers of bytes.
import { hex } from '../addr';
import { Flag, rawEntry } from '../format';
import { Root } from '../space';
import { Leaf } from '../walker';
import { upperHalfStart } from '../space';
import { Rights, effectiveRights } from './explain';
import { Translation } from './translate';
import { MergedRange, rangeEndVa, rangeVa } from './merge';

export interface AttrRecord {
  root: string;
  /** Level name of the leaf entries (PT, PD, L3, ...). */
  level: string;
  /** Rights v2: privileged read/write/exec, unprivileged read/write/exec, user = userRead || userWrite. */
  read: boolean;
  write: boolean;
  exec: boolean;
  userRead: boolean;
  userWrite: boolean;
  userExec: boolean;
  user: boolean;
  /** Effective: x86 G with CR4.PGE, RISC-V G here or in a non-leaf above, AArch64 nG=0. */
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
  /** Folded repeats (repeats.ts): copies, each `stride` bytes after the previous; absent for one. */
  repeat?: number;
  stride?: number;
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
    ...(r.repeat !== undefined && r.repeat > 1 ? { repeat: r.repeat, stride: r.stride! } : {}),
    ...attrs(r.root.name, f.levels[r.level].name, r.perms, r.flags, f.memTypes[r.memType] ?? `#${r.memType}`),
  };
}

// `dump --leaves --json` writes one line per leaf: ~9 k to 30 k on a real kernel, millions with
// a 4 KiB direct map. Building a record object, hex strings through BigInt and JSON.stringify
// per leaf cost ~3.5 µs; the line below is the same text from number-only hex and the
// attribute part, which few distinct (level, rights, flags, type) share, cached as JSON.
const attrJson = new WeakMap<Root, Map<number, string>>();
const vaShift = new WeakMap<Root, { brk: number; hi: number } | null>();

/**
 * A leaf's attributes (level, rights, flags, memory type) as one number, for caches of the text
 * they print as: a number, not a string, per leaf (level < 8, perms < 2^12, flags < 2^8, memType < 2^12).
 */
export function leafAttrKey(l: Leaf): number {
  return ((l.level * 4096 + l.perms) * 256 + l.flags) * 4096 + l.memType;
}

/** The attribute part of a leaf's JSON (`"root":…,"memType":…}`), cached per root and key. */
function leafAttrJson(l: Leaf): string {
  let m = attrJson.get(l.root);
  if (!m) attrJson.set(l.root, (m = new Map()));
  const key = leafAttrKey(l);
  let j = m.get(key);
  if (j === undefined) {
    const f = l.root.format;
    j = JSON.stringify(attrs(l.root.name, f.levels[l.level].name, l.perms, l.flags, f.memTypes[l.memType] ?? `#${l.memType}`)).slice(1);
    m.set(key, j);
  }
  return j;
}

/**
 * The root's linear → VA rule as "VA = linear, plus hi·2^32 from `brk` on" (sign extension,
 * TTBR1 prefix), checked on sample points; null when it is not of that form (BigInt path).
 */
function shiftOf(root: Root): { brk: number; hi: number } | null {
  let v = vaShift.get(root);
  if (v !== undefined) return v;
  v = null;
  const top = 2 ** root.inputBits;
  if (root.inputBits >= 32 && root.inputBits <= 64) {
    const brk = Math.min(upperHalfStart(root), top);
    const offAt = (lin: number) => BigInt(root.toVirt(lin)) - BigInt(lin);
    const lowOk = brk === 0 || (offAt(0) === 0n && offAt(brk - 4096) === 0n);
    const hiOff = brk < top ? offAt(brk) : 0n;
    if (lowOk && (brk >= top || (offAt(top - 4096) === hiOff && (hiOff & 0xffffffffn) === 0n))) v = { brk, hi: Number(hiOff >> 32n) };
  }
  vaShift.set(root, v);
  return v;
}

function vaHex(root: Root, linear: number): string {
  const s = shiftOf(root);
  if (s === null) return hex(root.toVirt(linear));
  if (linear < s.brk || s.hi === 0) return '0x' + linear.toString(16);
  const hi = Math.floor(linear / 2 ** 32) + s.hi;
  return '0x' + hi.toString(16) + (linear % 2 ** 32).toString(16).padStart(8, '0');
}

/** One `dump --leaves --json` line (JSON Lines): exactly JSON.stringify(leafRecord(l)). */
export function leafJsonLine(l: Leaf): string {
  const eb = l.root.format.entryBytes;
  const entry = eb === 8 ? (l.hi >>> 0).toString(16).padStart(8, '0') + (l.lo >>> 0).toString(16).padStart(8, '0') : (l.lo >>> 0).toString(16).padStart(8, '0');
  return `{"va":"${vaHex(l.root, l.linear)}","pa":"0x${l.pa.toString(16)}","size":${l.size},"entry":"0x${entry}","entryPa":"0x${(l.tablePa + l.index * eb).toString(16)}",${leafAttrJson(l)}`;
}

/** One `dump --json` line: the merged range's record. */
export function rangeJsonLine(r: MergedRange): string {
  return JSON.stringify(rangeRecord(r));
}

/** `translate --json` (contract v2, docs/cli.md): addresses as 0x-hex strings, sizes as numbers. */
export interface TranslationRecord {
  va: string;
  root: string;
  kind: Translation['kind'];
  pa?: string;
  pageSize?: number;
  pageVa?: string;
  level?: string;
  rights?: Rights;
  provenance?: { permName: string; levelName: string; index: number; because: string }[];
  memType?: string;
  trace: {
    level: number;
    levelName: string;
    index: number;
    tablePa: string;
    entryPa: string;
    /** Raw entry, zero-padded to the entry width. */
    entry: string;
    kind: string;
    fields: Translation['trace'][number]['fields'];
    /** Rights still allowed after this step (the leaf: the page's effective rights). */
    allowed: Rights;
  }[];
  message: string;
}

export function translationRecord(t: Translation): TranslationRecord {
  const out: TranslationRecord = { va: t.va, root: t.root, kind: t.kind, trace: [], message: t.message };
  if (t.pa !== undefined) out.pa = hex(t.pa);
  if (t.size !== undefined) out.pageSize = t.size;
  if (t.pageVa !== undefined) out.pageVa = t.pageVa;
  if (t.level !== undefined) out.level = t.level;
  if (t.rights) out.rights = t.rights;
  if (t.provenance) out.provenance = t.provenance.map((p) => ({ permName: p.permName, levelName: p.levelName, index: p.index, because: p.because }));
  if (t.memType !== undefined) out.memType = t.memType;
  out.trace = t.trace.map((s) => ({
    level: s.level, levelName: s.levelName, index: s.index, tablePa: hex(s.tablePa), entryPa: hex(s.entryPa), entry: s.raw,
    kind: s.kind, fields: s.fields, allowed: s.allowedAfter,
  }));
  // Keys in the documented order.
  return {
    va: out.va, root: out.root, kind: out.kind, ...(out.pa !== undefined ? { pa: out.pa } : {}), ...(out.pageSize !== undefined ? { pageSize: out.pageSize } : {}),
    ...(out.pageVa !== undefined ? { pageVa: out.pageVa } : {}), ...(out.level !== undefined ? { level: out.level } : {}), ...(out.rights ? { rights: out.rights } : {}),
    ...(out.provenance ? { provenance: out.provenance } : {}), ...(out.memType !== undefined ? { memType: out.memType } : {}), trace: out.trace, message: out.message,
  };
}
