// `dump --leaves --json` lines written straight into an output buffer: a real kernel has 10^4 to
// 10^5 leaves, and a string per line (built, then joined into chunks, then encoded) cost more
// than the walk. The bytes are exactly leafJsonLine's (../core/ops/records.ts), whose text for
// each distinct attribute part is taken once and kept as bytes; addresses are written as hex
// digits without intermediate strings. Checked against leafJsonLine in test/unit/cli/jsonLines.test.ts.
import { leafJsonLine } from '../core/ops/records';
import { Root } from '../core/space';
import { Leaf } from '../core/walker';

/** The longest line part this module writes besides the attribute bytes (five fields of ≤ 16 hex digits). */
const FIXED_MAX = 160;

const attrBytes = new WeakMap<Root, Map<number, Buffer>>();
/** Per root, per 4 GiB block of linear addresses: the VA's upper 32 bits in hex ('' when 0), or null (use leafJsonLine). */
const upperHex = new WeakMap<Root, Map<number, string | null>>();

const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** Writes n (0 ≤ n < 2^53) in hex, at least `pad` digits; returns the new position. */
function putHex(buf: Buffer, pos: number, n: number, pad: number): number {
  let digits = 1;
  for (let v = n; v >= 16; v = Math.floor(v / 16)) digits++;
  if (digits < pad) digits = pad;
  let v = n;
  for (let i = pos + digits - 1; i >= pos; i--) {
    buf[i] = HEX[v % 16];
    v = Math.floor(v / 16);
  }
  return pos + digits;
}

function putAscii(buf: Buffer, pos: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[pos + i] = s.charCodeAt(i);
  return pos + s.length;
}

/**
 * The VA's upper half as text when the root maps this 4 GiB block of linear addresses by adding a
 * constant to the upper 32 bits (identity, sign extension, a TTBR1 prefix); null otherwise.
 */
function upperOf(root: Root, block: number): string | null {
  let m = upperHex.get(root);
  if (!m) upperHex.set(root, (m = new Map()));
  let u = m.get(block);
  if (u !== undefined) return u;
  u = null;
  const first = block * 2 ** 32;
  if (first < 2 ** root.inputBits) {
    const last = Math.min(first + 2 ** 32, 2 ** root.inputBits) - 4096;
    const v0 = BigInt(root.toVirt(first));
    const v1 = BigInt(root.toVirt(last));
    if ((v0 & 0xffffffffn) === 0n && v1 - v0 === BigInt(last - first)) u = v0 === 0n ? '' : (v0 >> 32n).toString(16);
  }
  m.set(block, u);
  return u;
}

/** The attribute part of the line (from `"root":` to the closing brace) as bytes, once per key. */
function attrOf(l: Leaf): Buffer {
  let m = attrBytes.get(l.root);
  if (!m) attrBytes.set(l.root, (m = new Map()));
  // level < 8, perms < 2^12, flags < 2^8, memType < 2^12 (as records.ts keys its cache).
  const key = ((l.level * 4096 + l.perms) * 256 + l.flags) * 4096 + l.memType;
  let b = m.get(key);
  if (b === undefined) {
    const line = leafJsonLine(l);
    b = Buffer.from(line.slice(line.indexOf(',"root":') + 1), 'utf8');
    m.set(key, b);
  }
  return b;
}

/** Bytes needed at most for the leaf's line (newline included). */
export function leafLineMax(l: Leaf): number {
  return FIXED_MAX + attrOf(l).length + 1;
}

/**
 * Writes the leaf's `dump --leaves --json` line and a newline at `pos` (leafLineMax(l) bytes must
 * be free); returns the new position.
 */
export function putLeafLine(buf: Buffer, pos: number, l: Leaf): number {
  const root = l.root;
  const eb = root.format.entryBytes;
  const block = Math.floor(l.linear / 2 ** 32);
  const upper = upperOf(root, block);
  if (upper === null) {
    pos += buf.write(leafJsonLine(l), pos, 'utf8');
    buf[pos] = 10;
    return pos + 1;
  }
  pos = putAscii(buf, pos, '{"va":"0x');
  if (upper === '') pos = putHex(buf, pos, l.linear, 1);
  else {
    pos = putAscii(buf, pos, upper);
    pos = putHex(buf, pos, l.linear - block * 2 ** 32, 8);
  }
  pos = putAscii(buf, pos, '","pa":"0x');
  pos = putHex(buf, pos, l.pa, 1);
  pos = putAscii(buf, pos, '","size":');
  pos = putAscii(buf, pos, String(l.size));
  pos = putAscii(buf, pos, ',"entry":"0x');
  if (eb === 8) pos = putHex(buf, pos, l.hi >>> 0, 8);
  pos = putHex(buf, pos, l.lo >>> 0, 8);
  pos = putAscii(buf, pos, '","entryPa":"0x');
  pos = putHex(buf, pos, l.tablePa + l.index * eb, 1);
  pos = putAscii(buf, pos, '",');
  const a = attrOf(l);
  a.copy(buf, pos);
  pos += a.length;
  buf[pos] = 10;
  return pos + 1;
}
