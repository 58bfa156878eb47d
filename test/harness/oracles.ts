// Parsers for QEMU's own answers (the oracles): HMP `info tlb`, `info mem`, `gva2gpa` and
// `info registers`. Semantics per QEMU target/i386/monitor.c: `info tlb` prints every present
// leaf with its own bits (X means XD set); `info mem` merges ranges by effective U/W.

export interface TlbLine {
  va: bigint;
  pa: bigint;
  nx: boolean;
  global: boolean;
  pse: boolean; // P column: PS for large pages / PAT for 4K
  dirty: boolean;
  accessed: boolean;
  pcd: boolean;
  pwt: boolean;
  user: boolean;
  write: boolean;
}

export function parseInfoTlb(text: string): TlbLine[] {
  const out: TlbLine[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-f]+): ([0-9a-f]+) ([X-][G-][P-][D-][A-][C-][T-][U-][W-])\s*$/i.exec(line.trim());
    if (!m) continue;
    const f = m[3];
    out.push({
      va: BigInt('0x' + m[1]), pa: BigInt('0x' + m[2]),
      nx: f[0] === 'X', global: f[1] === 'G', pse: f[2] === 'P', dirty: f[3] === 'D', accessed: f[4] === 'A',
      pcd: f[5] === 'C', pwt: f[6] === 'T', user: f[7] === 'U', write: f[8] === 'W',
    });
  }
  return out;
}

export interface MemRange {
  start: bigint;
  end: bigint;
  user: boolean;
  write: boolean;
}

/** x86 `info mem`: `start-end size urw` (r always printed; no X column). */
export function parseInfoMemX86(text: string): MemRange[] {
  const out: MemRange[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) ([0-9a-f]+) ([u-])r([w-])\s*$/i.exec(line.trim());
    if (m) out.push({ start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), user: m[4] === 'u', write: m[5] === 'w' });
  }
  return out;
}

/** `gva2gpa ADDR` → the guest-physical address, or undefined when unmapped. QEMU prints
 * with %#x, so zero comes out as "gpa: 0". */
export function parseGva2gpa(text: string): bigint | undefined {
  const m = /gpa:\s*(0x[0-9a-f]+|0)\b/i.exec(text);
  return m ? BigInt(m[1]) : undefined;
}

/** `info registers`: NAME=hex pairs (CR0, CR3, CR4, EFER, RIP, ... on x86). */
export function parseInfoRegisters(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const m of text.matchAll(/\b([A-Za-z][A-Za-z0-9_]*)\s*=\s*([0-9a-fA-F]{4,16})\b/g)) {
    if (!out.has(m[1].toLowerCase())) out.set(m[1].toLowerCase(), BigInt('0x' + m[2]));
  }
  return out;
}
