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

const attrBytes = new WeakMap<Root, Map<number, Parts>>();
/** Per root, per 4 GiB block of linear addresses: the VA's upper 32 bits in hex (empty when 0), or null (use leafJsonLine). */
const upperHex = new WeakMap<Root, Map<number, Buffer | null>>();

const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** Writes x (0 ≤ x < 2^32) in hex, `pad` digits at least (pad ≤ 8); returns the new position. */
function putHex32(buf: Buffer, pos: number, x: number, pad: number): number {
  let digits = (35 - Math.clz32(x)) >> 2;
  if (digits < pad) digits = pad;
  if (digits === 0) digits = 1;
  for (let shift = (digits - 1) * 4; shift >= 0; shift -= 4) buf[pos++] = HEX[(x >>> shift) & 15];
  return pos;
}

/** Writes n (0 ≤ n < 2^53) in hex without leading zeros; returns the new position. */
function putHex(buf: Buffer, pos: number, n: number): number {
  if (n < 4294967296) return putHex32(buf, pos, n, 1);
  pos = putHex32(buf, pos, Math.floor(n / 4294967296), 1);
  return putHex32(buf, pos, n >>> 0, 8);
}

const VA = Buffer.from('{"va":"0x', 'latin1');
const PA = Buffer.from('","pa":"0x', 'latin1');
const ENTRY_PA = Buffer.from('","entryPa":"0x', 'latin1');

/**
 * The VA's upper half as text when the root maps this 4 GiB block of linear addresses by adding a
 * constant to the upper 32 bits (identity, sign extension, a TTBR1 prefix); null otherwise.
 */
function upperOf(root: Root, block: number): Buffer | null {
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
    if ((v0 & 0xffffffffn) === 0n && v1 - v0 === BigInt(last - first)) u = Buffer.from(v0 === 0n ? '' : (v0 >> 32n).toString(16), 'latin1');
  }
  m.set(block, u);
  return u;
}

/** The line's constant parts for the leaf's key: after the PA (size, entry's key), and after the entry's PA (attributes, newline). */
interface Parts {
  mid: Buffer;
  tail: Buffer;
}

function partsOf(l: Leaf): Parts {
  let m = attrBytes.get(l.root);
  if (!m) attrBytes.set(l.root, (m = new Map()));
  // level < 8, perms < 2^12, flags < 2^8, memType < 2^12 (as records.ts keys its cache); the
  // level decides the size.
  const key = ((l.level * 4096 + l.perms) * 256 + l.flags) * 4096 + l.memType;
  let p = m.get(key);
  if (p === undefined) {
    const line = leafJsonLine(l);
    p = { mid: Buffer.from(`","size":${l.size},"entry":"0x`, 'latin1'), tail: Buffer.from(`",${line.slice(line.indexOf(',"root":') + 1)}\n`, 'utf8') };
    m.set(key, p);
  }
  return p;
}

/** Bytes needed at most for the leaf's line (newline included). */
export function leafLineMax(l: Leaf): number {
  const p = partsOf(l);
  return FIXED_MAX + p.mid.length + p.tail.length;
}

/**
 * Writes the leaf's `dump --leaves --json` line and a newline at `pos`; returns the new position,
 * or -1 (nothing written) when the line might not fit before the buffer's end.
 */
export function putLeafLine(buf: Buffer, pos: number, l: Leaf): number {
  const root = l.root;
  const eb = root.format.entryBytes;
  const block = Math.floor(l.linear / 4294967296);
  const upper = upperOf(root, block);
  if (upper === null) {
    const line = leafJsonLine(l);
    if (pos + Buffer.byteLength(line) + 1 > buf.length) return -1;
    pos += buf.write(line, pos, 'utf8');
    buf[pos] = 10;
    return pos + 1;
  }
  const p = partsOf(l);
  if (pos + FIXED_MAX + p.mid.length + p.tail.length > buf.length) return -1;
  buf.set(VA, pos);
  pos += VA.length;
  if (upper.length === 0) pos = putHex(buf, pos, l.linear);
  else {
    buf.set(upper, pos);
    pos = putHex32(buf, pos + upper.length, l.linear >>> 0, 8);
  }
  buf.set(PA, pos);
  pos += PA.length;
  pos = putHex(buf, pos, l.pa);
  buf.set(p.mid, pos);
  pos += p.mid.length;
  if (eb === 8) pos = putHex32(buf, pos, l.hi >>> 0, 8);
  pos = putHex32(buf, pos, l.lo >>> 0, 8);
  buf.set(ENTRY_PA, pos);
  pos += ENTRY_PA.length;
  pos = putHex(buf, pos, l.tablePa + l.index * eb);
  buf.set(p.tail, pos);
  pos += p.tail.length;
  return pos;
}

/** Leaf lines into a file descriptor in 1 MiB writes (the benches' sink; the CLI's Output adds backpressure). */
export class LeafLineWriter {
  private buf = Buffer.allocUnsafe(1 << 20);
  private pos = 0;

  constructor(private readonly fd: number, private readonly write: (fd: number, b: Buffer, off: number, len: number) => unknown) {}

  leaf(l: Leaf): void {
    let at = putLeafLine(this.buf, this.pos, l);
    if (at < 0) {
      this.write(this.fd, this.buf, 0, this.pos);
      this.buf = Buffer.allocUnsafe(Math.max(1 << 20, leafLineMax(l)));
      at = putLeafLine(this.buf, 0, l);
    }
    this.pos = at;
  }

  end(): void {
    this.write(this.fd, this.buf, 0, this.pos);
    this.pos = 0;
  }
}
