// Typed addresses. Physical addresses are numbers (exact up to 2^53, which covers the 52-bit
// physical address space of every supported architecture); virtual addresses are 64-bit bigints
// in their canonical (sign- or TTBR1-extended) unsigned form. Inside the walker, virtual
// addresses travel as "linear" numbers: the page-aligned offset into one root's input range,
// exact in a double because page-aligned values below 2^65 are.

export type PhysAddr = number & { readonly __brand: 'PhysAddr' };
export type VirtAddr = bigint & { readonly __brand: 'VirtAddr' };

const U64 = (1n << 64n) - 1n;

export function physAddr(n: number | bigint): PhysAddr {
  const v = typeof n === 'bigint' ? Number(n) : n;
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`physical address out of range: ${String(n)}`);
  return v as PhysAddr;
}

export function virtAddr(n: bigint): VirtAddr {
  if (n < 0n || n > U64) throw new RangeError(`virtual address out of range: ${n}`);
  return n as VirtAddr;
}

/** 0x-prefixed lower-case hex, optionally zero-padded to `width` digits. */
export function hex(n: number | bigint, width = 0): string {
  const s = (typeof n === 'bigint' ? n : BigInt(n)).toString(16);
  return '0x' + s.padStart(width, '0');
}

/** Sign-extends `value` from bit `bits - 1` to 64 bits (unsigned form). */
export function signExtend(value: bigint, bits: number): bigint {
  const b = BigInt(bits);
  const low = value & ((1n << b) - 1n);
  return (low >> (b - 1n)) & 1n ? (low | (U64 ^ ((1n << b) - 1n))) : low;
}

export class AddressSyntaxError extends Error {
  override name = 'AddressSyntaxError';
}

/**
 * Parses a user-supplied address: 0x-hex, plain hex with a-f digits, decimal, with optional
 * `_` or `'` digit separators (as GDB and Rust print them). Rejects anything else precisely.
 */
export function parseAddress(text: string, what = 'address'): bigint {
  const t = text.trim().replace(/[_']/g, '');
  let v: bigint;
  if (/^0x[0-9a-f]+$/i.test(t)) v = BigInt(t);
  else if (/^[0-9]+$/.test(t)) v = BigInt(t);
  else if (/^[0-9a-f]+h?$/i.test(t) && /[a-f]/i.test(t)) v = BigInt('0x' + t.replace(/h$/i, ''));
  else throw new AddressSyntaxError(`invalid ${what} '${text}': expected hex (0x1234abcd) or decimal`);
  if (v > U64) throw new AddressSyntaxError(`invalid ${what} '${text}': larger than 64 bits`);
  return v;
}

/**
 * Parses a number typed on a command line strictly: 0x-hex or decimal (optional `_` digit
 * separators), at most 64 bits. Nothing is guessed: `1e5`, `0b101`, `abc`, `-1` are refused (a
 * bare `abc` read as hex, or `1e5` as 0x1e5, silently walked the wrong table).
 */
export function parseNumber(text: string, what = 'number'): bigint {
  const t = text.trim().replace(/_/g, '');
  let v: bigint;
  if (/^0x[0-9a-f]+$/i.test(t)) v = BigInt(t);
  else if (/^[0-9]+$/.test(t)) v = BigInt(t);
  else throw new AddressSyntaxError(`invalid ${what} '${text}': expected 0x-prefixed hex (0x1234abcd) or decimal`);
  if (v > U64) throw new AddressSyntaxError(`invalid ${what} '${text}': larger than 64 bits`);
  return v;
}

/** Human size with binary units, as Linux ptdump prints it (4K, 2M, 1G). */
export function sizeLabel(bytes: number): string {
  const units = ['', 'K', 'M', 'G', 'T', 'P', 'E'];
  let i = 0;
  let v = bytes;
  while (v >= 1024 && v % 1024 === 0 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v}${units[i]}`;
}
