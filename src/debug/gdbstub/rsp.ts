// GDB Remote Serial Protocol framing (GDB manual, "Remote Protocol": "Overview" for packets,
// checksums, acknowledgments, `}` escapes and `*` run-length encoding; "Packets" for `m`/`p`/`g`;
// "General Query Packets" for qSupported, qXfer and qRcmd).
//
// Hand-written: the npm registry has no maintained RSP client library (the GDB packages there,
// e.g. gdb-js, drive a GDB process over MI, which is what this client exists to avoid), and the
// part ptview needs (framing, a request queue, a dozen query packets) is small.

/** Modulo-256 sum of the packet data's bytes, two lower-case hex digits. */
export function checksum(data: string): string {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum = (sum + data.charCodeAt(i)) & 0xff;
  return sum.toString(16).padStart(2, '0');
}

/** `$data#cs`, with `$ # } *` escaped as `}` + (byte ^ 0x20). Data is latin1 text. */
export function encodePacket(data: string): string {
  const body = data.replace(/[$#}*]/g, (c) => '}' + String.fromCharCode(c.charCodeAt(0) ^ 0x20));
  return `$${body}#${checksum(body)}`;
}

/**
 * The packet body as sent (between `$` and `#`) to its data: `}x` is x ^ 0x20, and `c*n` repeats
 * c (n - 29) more times (the count character is printable, n >= 29 + 3).
 */
export function decodeBody(body: string): string {
  if (!body.includes('}') && !body.includes('*')) return body;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '}') {
      out += String.fromCharCode(body.charCodeAt(++i) ^ 0x20);
    } else if (c === '*' && out.length > 0) {
      const n = body.charCodeAt(++i) - 29;
      out += out[out.length - 1].repeat(n);
    } else out += c;
  }
  return out;
}

/** What the reader found in the byte stream. */
export type Frame = { kind: 'ack' } | { kind: 'nak' } | { kind: 'packet'; data: string; checksumOk: boolean } | { kind: 'notification'; data: string };

/**
 * Splits a byte stream (latin1 text) into acks, naks and packets. Bytes outside a packet other
 * than `+`/`-` are skipped (QEMU sends none; a stub that prints banners gets them ignored).
 */
export class FrameReader {
  private buf = '';

  push(chunk: string): Frame[] {
    this.buf += chunk;
    const out: Frame[] = [];
    let i = 0;
    while (i < this.buf.length) {
      const c = this.buf[i];
      if (c === '+') {
        out.push({ kind: 'ack' });
        i++;
      } else if (c === '-') {
        out.push({ kind: 'nak' });
        i++;
      } else if (c === '$' || c === '%') {
        const end = this.buf.indexOf('#', i + 1);
        if (end < 0 || end + 3 > this.buf.length) break;
        const body = this.buf.slice(i + 1, end);
        const cs = this.buf.slice(end + 1, end + 3);
        const data = decodeBody(body);
        out.push(c === '$' ? { kind: 'packet', data, checksumOk: checksum(body) === cs.toLowerCase() } : { kind: 'notification', data });
        i = end + 3;
      } else i++;
    }
    this.buf = this.buf.slice(i);
    return out;
  }
}

/** Hex text (`m`, `p` replies, qRcmd output) to bytes. */
export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 || /[^0-9a-f]/i.test(hex)) throw new Error(`not hex data: ${hex.length > 40 ? hex.slice(0, 40) + '…' : hex}`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** A register value as `p` returns it: target byte order, here little-endian (x86, Arm, RISC-V). */
export function littleEndianHex(hex: string): bigint {
  let v = 0n;
  for (let i = hex.length - 2; i >= 0; i -= 2) v = (v << 8n) | BigInt(parseInt(hex.slice(i, i + 2), 16));
  return v;
}

/** Text to the hex form qRcmd takes. */
export function toHex(text: string): string {
  return Buffer.from(text, 'latin1').toString('hex');
}

/** `E NN` error replies (and QEMU's `E.text` form). */
export function errorReply(reply: string): string | undefined {
  return /^E[0-9a-f]{2}$/i.test(reply) || /^E\./.test(reply) ? reply : undefined;
}

/** Stop replies (`T05…`, `S05`): QEMU sends one unasked when it stops a running VM on connect. */
export function isStopReply(reply: string): boolean {
  return /^[TS][0-9a-f]{2}/i.test(reply) || /^W[0-9a-f]{2}/i.test(reply);
}
