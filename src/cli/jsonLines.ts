// `dump --leaves --json` lines written straight into an output buffer: a real kernel has 10^4 to
// 10^5 leaves, and a string per line (built, then joined into chunks, then encoded) cost more
// than the walk. The bytes are exactly leafJsonLine's (../core/ops/records.ts), whose text for
// each distinct attribute part is taken once and kept as bytes; addresses are written as hex
// digits without intermediate strings. Checked against leafJsonLine in test/unit/cli/jsonLines.test.ts.
import { leafAttrKey, leafJsonLine } from '../core/ops/records';
import { Root } from '../core/space';
import { Leaf, SubtreeRecorder } from '../core/walker';

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
  const key = leafAttrKey(l); // the level in it decides the size
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

/** A recording in progress: where its bytes start in the current buffer, and copies of its parts already flushed. */
interface Recording {
  key: string;
  root: Root;
  linear: number;
  span: number;
  start: number;
  parts: Buffer[];
  bytes: number;
  dead: boolean;
}

/**
 * A subtree's lines kept for replay. They differ between references only in the VA (the PA,
 * entry and entry PA come from the same table, the attributes from the same rights and flags),
 * and inside one 4 GiB block of linear addresses the VA is the block's fixed upper digits and 8
 * low ones; the subtree's span is a power of two and its start a multiple of it, so the low
 * digits below the span's bits are the same at every reference: only each line's start is kept.
 */
interface Template {
  bytes: Buffer;
  starts: Uint32Array;
  upper: Buffer;
  span: number;
}

/**
 * Bytes of one template, and of all together, at most. Memory a one-shot command touches for the
 * first time is paid in page faults (on the project's 2-core VM, 1 to 5 ms per MiB): a 5 MiB
 * template of a whole ESPfix PMD cost more than copying its 512 PTE-table templates one by one.
 */
const TEMPLATE_MAX = 256 << 10;
const TEMPLATE_BUDGET = 8 << 20;
const BLOCK = 4294967296;

/**
 * Leaf lines (and other lines) in large buffers handed to `sink` when full. The sink says whether
 * it is done with the chunk (written out): then the buffer is filled again, else a new one is
 * taken, so the sink may keep it (fresh buffers cost page faults in a one-shot command). As a
 * SubtreeRecorder it keeps the bytes of subtrees the walk repeats and copies them again with the
 * VA digits rewritten, which is what the 65,536 ESPfix lines of a Linux x86_64 kernel cost then
 * (walker.ts).
 */
export class LeafLines implements SubtreeRecorder {
  private buf: Buffer;
  private pos = 0;
  private readonly recs: Recording[] = [];
  /** Recorded subtrees: as recorded, made into a template at the first replay, or null (cannot be replayed). */
  private readonly templates = new Map<string, Recording | Template | null>();
  private kept = 0;

  constructor(private readonly sink: (chunk: Buffer) => boolean, private readonly size = 1 << 20) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Room for `bytes` more (a line longer than the buffer gets a buffer of its own). */
  private room(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    this.flush();
    if (bytes > this.buf.length) this.buf = Buffer.allocUnsafe(bytes);
  }

  line(text: string): void {
    this.room(text.length * 3 + 1);
    this.pos += this.buf.write(text, this.pos, 'utf8');
    this.buf[this.pos++] = 10;
  }

  /** One `dump --leaves --json` line. */
  leaf(l: Leaf): void {
    let at = putLeafLine(this.buf, this.pos, l);
    if (at < 0) {
      this.room(leafLineMax(l));
      at = putLeafLine(this.buf, this.pos, l);
    }
    this.pos = at;
  }

  /** Hands what is buffered to the sink. */
  flush(): void {
    if (this.pos === 0) return;
    for (const r of this.recs) {
      if (r.dead) continue;
      r.bytes += this.pos - r.start;
      if (r.bytes > TEMPLATE_MAX || this.kept + r.bytes > TEMPLATE_BUDGET) {
        r.dead = true;
        r.parts = [];
        continue;
      }
      r.parts.push(Buffer.from(this.buf.subarray(r.start, this.pos)));
      r.start = 0;
    }
    const chunk = this.buf.subarray(0, this.pos);
    this.pos = 0;
    if (!this.sink(chunk) || this.buf.length !== this.size) this.buf = Buffer.allocUnsafe(this.size);
  }

  record(key: string, root: Root, linear: number, span: number): void {
    // Only spans inside one 4 GiB block are kept, only once, within the budget.
    const dead = this.templates.has(key) || this.kept >= TEMPLATE_BUDGET || span > BLOCK || linear % span !== 0 || Math.floor(linear / BLOCK) !== Math.floor((linear + span - 1) / BLOCK);
    this.recs.push({ key, root, linear, span, start: this.pos, parts: [], bytes: 0, dead });
  }

  stop(key: string, keep: boolean): void {
    const r = this.recs.pop();
    if (r === undefined || r.key !== key) throw new Error(`LeafLines.stop(${key}) without its record()`);
    if (!keep || r.dead) return;
    r.bytes += this.pos - r.start;
    if (r.bytes > TEMPLATE_MAX || this.kept + r.bytes > TEMPLATE_BUDGET) return;
    r.parts = [Buffer.concat([...r.parts, this.buf.subarray(r.start, this.pos)])];
    // Made into a template (its lines found) at its first replay: many are never replayed.
    this.templates.set(key, r);
    this.kept += r.bytes;
  }

  replay(key: string, root: Root, linear: number): boolean {
    let t = this.templates.get(key);
    if (!t) return false;
    if (!('starts' in t)) {
      t = templateOf(t.parts[0], t);
      this.templates.set(key, t);
      if (!t) return false;
    }
    const block = Math.floor(linear / BLOCK);
    if (Math.floor((linear + t.span - 1) / BLOCK) !== block) return false;
    const upper = upperOf(root, block);
    if (upper === null || upper.length !== t.upper.length) return false;
    const newUpper = upper.equals(t.upper) ? undefined : upper;
    const { bytes, starts } = t;
    const n = starts.length;
    const at0 = VA.length;
    const lowAt = at0 + upper.length;
    // Low 32 bits of a line's VA = the subtree's start | the offset inside it: the `whole` most
    // significant digits are the start's; the next one, when the span's bits end inside it, takes
    // its bits above `relMask` from the start and keeps the recorded ones below.
    const bits = Math.log2(t.span);
    const whole = Math.floor((32 - bits) / 4);
    const relMask = bits % 4 === 0 ? 0 : (1 << (bits % 4)) - 1;
    const base = linear >>> 0;
    const digits = Buffer.allocUnsafe(whole);
    for (let q = 0; q < whole; q++) digits[q] = HEX[(base >>> (28 - 4 * q)) & 15];
    const mixed = relMask === 0 ? -1 : (base >>> (28 - 4 * whole)) & 15 & ~relMask;
    for (let i = 0; i < n; ) {
      const from = starts[i];
      const room = this.buf.length - this.pos;
      // Whole lines [i, j) that fit.
      let j: number;
      if (bytes.length - from <= room) j = n;
      else {
        let lo = i;
        let hi = n;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (starts[mid] - from <= room) lo = mid + 1;
          else hi = mid;
        }
        j = lo - 1;
      }
      if (j <= i) {
        this.room((i + 1 < n ? starts[i + 1] : bytes.length) - from);
        continue;
      }
      const end = j < n ? starts[j] : bytes.length;
      this.buf.set(bytes.subarray(from, end), this.pos);
      const p0 = this.pos - from;
      if (newUpper !== undefined) for (let k = i; k < j; k++) this.buf.set(newUpper, p0 + starts[k] + at0);
      patchLow(this.buf, p0 + lowAt, starts, i, j, digits, mixed, relMask);
      this.pos += end - from;
      i = j;
    }
    return true;
  }
}

/** Hex digit values by character code. */
const HEX_VALUE = new Uint8Array(256);
for (let i = 0; i < 16; i++) HEX_VALUE[HEX[i]] = i;

/**
 * Rewrites the most significant of the 8 low VA digits of lines [i, j) (line k's digits at
 * `at + starts[k]`): `digits` as they are, then (mixed ≥ 0) one digit made of `mixed` and the
 * recorded digit's bits under `relMask`. Its own small function: V8 optimises this loop early and
 * cheaply, which a cold one-shot command pays for (with the copy inside it, ~80 ms of TurboFan).
 */
function patchLow(buf: Buffer, at: number, starts: Uint32Array, i: number, j: number, digits: Buffer, mixed: number, relMask: number): void {
  const w = digits.length;
  for (let k = i; k < j; k++) {
    const p = at + starts[k];
    for (let q = 0; q < w; q++) buf[p + q] = digits[q];
    if (mixed >= 0) buf[p + w] = HEX[mixed | (HEX_VALUE[buf[p + w]] & relMask)];
  }
}

/** The kept form of a recording's bytes; null when its lines do not carry the VA as the block's upper digits and 8 low ones. */
function templateOf(bytes: Buffer, r: Recording): Template | null {
  const upper = upperOf(r.root, Math.floor(r.linear / BLOCK));
  if (upper === null || upper.length === 0) return null;
  // Every line of the recording went through putLeafLine's block path (one block, its upper
  // digits known) or a replay of one: only the line ends are looked for, and the shape checked.
  const lowAt = VA.length + upper.length;
  if (bytes.length > 0 && (bytes.compare(VA, 0, VA.length, 0, VA.length) !== 0 || bytes.compare(upper, 0, upper.length, VA.length, lowAt) !== 0)) return null;
  const starts: number[] = [];
  for (let p = 0; p < bytes.length; ) {
    if (bytes[p + lowAt + 8] !== 0x22) return null;
    starts.push(p);
    const nl = bytes.indexOf(10, p + lowAt);
    if (nl < 0) return null;
    p = nl + 1;
  }
  return { bytes, starts: Uint32Array.from(starts), upper, span: r.span };
}

/** Leaf lines into a file descriptor in 1 MiB writes (the benches' sink; the CLI's Output adds backpressure). */
export class LeafLineWriter extends LeafLines {
  constructor(fd: number, write: (fd: number, b: Buffer, off: number, len: number) => unknown) {
    super((chunk) => {
      write(fd, chunk, 0, chunk.length);
      return true;
    });
  }

  end(): void {
    this.flush();
  }
}
