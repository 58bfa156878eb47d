// LZO1X decompression for kdump pages written with `makedumpfile -l` / QEMU `dump-guest-memory -l`.
// The bitstream rules are those of Linux's Documentation/staging/lzo.rst ("LZO stream format as
// understood by Linux's LZO decompressor"), version 0 (the version LZO1X-1 compressors write).
//
// Hand-written: the npm LZO packages are a native addon built with node-gyp at install time
// (`lzo`, `lzo-decompress`) or a browser-only pthread WebAssembly build (`lzo-wasm`); none is
// plain JavaScript usable in the CLI and the extension bundle alike. Every length and distance is
// checked, so a corrupt page is an error, never a read outside either buffer.

export class LzoError extends Error {
  override name = 'LzoError';
}

/** Decompresses one LZO1X block that must expand to exactly `outLength` bytes. */
export function lzo1xDecompress(input: Uint8Array, outLength: number): Uint8Array {
  const out = new Uint8Array(outLength);
  let ip = 0;
  let op = 0;
  const need = (n: number) => {
    if (ip + n > input.length) throw new LzoError(`input ends inside an instruction (byte ${ip} of ${input.length})`);
  };
  const literals = (n: number) => {
    need(n);
    if (op + n > outLength) throw new LzoError(`literals overrun the ${outLength}-byte output`);
    out.set(input.subarray(ip, ip + n), op);
    ip += n;
    op += n;
  };
  // Length extension: zero bytes add 255 each, the first non-zero byte ends it.
  const extend = (): number => {
    let n = 0;
    for (;;) {
      need(1);
      const b = input[ip++];
      if (b !== 0) return n + b;
      n += 255;
      if (n > outLength + 255) throw new LzoError('length extension longer than the output');
    }
  };
  const match = (dist: number, len: number) => {
    if (dist > op) throw new LzoError(`back-reference distance ${dist} reaches before the start of the output (at ${op})`);
    if (op + len > outLength) throw new LzoError(`a ${len}-byte match overruns the ${outLength}-byte output`);
    // Byte by byte: the source may overlap the bytes being written (runs).
    for (let i = 0; i < len; i++, op++) out[op] = out[op - dist];
  };

  let state = 0;
  need(1);
  if (input[0] > 17) {
    const t = input[ip++] - 17;
    literals(t);
    state = t < 4 ? t : 4;
  }
  for (;;) {
    need(1);
    const inst = input[ip++];
    let len: number;
    let dist: number;
    let s: number;
    if (inst < 16) {
      if (state === 0) {
        // Long literal run: 3 + (L ?: 15 + extension).
        literals(3 + (inst & 15 ? inst & 15 : 15 + extend()));
        state = 4;
        continue;
      }
      need(1);
      const h = input[ip++];
      s = inst & 3;
      if (state < 4) {
        len = 2;
        dist = (h << 2) + ((inst >> 2) & 3) + 1;
      } else {
        len = 3;
        dist = (h << 2) + ((inst >> 2) & 3) + 2049;
      }
    } else if (inst < 32) {
      const l = inst & 7;
      len = 2 + (l ? l : 7 + extend());
      need(2);
      const le = input[ip] | (input[ip + 1] << 8);
      ip += 2;
      dist = 16384 + ((inst & 8) << 11) + (le >> 2);
      s = le & 3;
      if (dist === 16384) {
        if (op !== outLength) throw new LzoError(`stream ends after ${op} bytes, expected ${outLength}`);
        return out;
      }
    } else if (inst < 64) {
      const l = inst & 31;
      len = 2 + (l ? l : 31 + extend());
      need(2);
      const le = input[ip] | (input[ip + 1] << 8);
      ip += 2;
      dist = (le >> 2) + 1;
      s = le & 3;
    } else {
      need(1);
      const h = input[ip++];
      len = inst < 128 ? 3 + ((inst >> 5) & 1) : 5 + ((inst >> 5) & 3);
      dist = (h << 3) + ((inst >> 2) & 7) + 1;
      s = inst & 3;
    }
    match(dist, len);
    literals(s);
    state = s;
  }
}
