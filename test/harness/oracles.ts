// Parsers for QEMU's own answers (the oracles): HMP `info tlb`, `info mem`, `gva2gpa` and
// `info registers`, as QEMU 7.2 prints them (fixtures in test/harness/fixtures, captured from our
// guests). Semantics per QEMU target/i386/monitor.c and target/riscv/monitor.c:
// - x86 `info tlb` prints every present leaf with its own bits only (X means XD set), not the TLB;
// - x86 `info mem` merges ranges by effective U/W (ANDed across levels), no X column;
// - RISC-V `info mem` prints leaves (contiguous ones merged) with rwxugad letters;
// - AArch64 has neither; `gva2gpa` works on all three.

export interface TlbLine {
  va: bigint;
  /** The address column exactly as printed. QEMU 7.2 quirks: for PAE it still contains XD
   * (bit 63) when set; for 32-bit 4 MiB pages it drops the PSE-36 bits (PA 39:32). */
  pa: bigint;
  /** `pa` without bits 63:52 (XD, protection keys, ignored bits): the frame address. */
  frame: bigint;
  /** The nine letters as printed, e.g. "X-PDA--UW". */
  flags: string;
  nx: boolean; // X: XD set (not executable)
  global: boolean; // G
  /** P: bit 7, i.e. PS on 2 MiB / 4 MiB / 1 GiB leaves. QEMU masks bit 7 (PAT) on 4 KiB leaves,
   * and never shows the large-page PAT bit (12). */
  pse: boolean;
  dirty: boolean; // D
  accessed: boolean; // A
  pcd: boolean; // C
  pwt: boolean; // T
  user: boolean; // U (this leaf's bit, not the effective right)
  write: boolean; // W (this leaf's bit, not the effective right)
}

const FRAME_MASK = (1n << 52n) - 1n;

/** x86 `info tlb`: `vaddr: paddr XGPDACTUW` per present leaf. Other lines are ignored. */
export function parseInfoTlb(text: string): TlbLine[] {
  const out: TlbLine[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-f]+): ([0-9a-f]+) ([X-][G-][P-][D-][A-][C-][T-][U-][W-])$/i.exec(line.trim());
    if (!m) continue;
    const f = m[3];
    const pa = BigInt('0x' + m[2]);
    out.push({
      va: BigInt('0x' + m[1]), pa, frame: pa & FRAME_MASK, flags: f,
      nx: f[0] === 'X', global: f[1] === 'G', pse: f[2] === 'P', dirty: f[3] === 'D', accessed: f[4] === 'A',
      pcd: f[5] === 'C', pwt: f[6] === 'T', user: f[7] === 'U', write: f[8] === 'W',
    });
  }
  return out;
}

export interface MemRange {
  start: bigint;
  /** Exclusive. A range ending at the top of a 32-bit space prints (and parses) as 0x100000000. */
  end: bigint;
  size: bigint;
  user: boolean;
  write: boolean;
}

/** x86 `info mem`: `start-end size urw` (`r` always printed; no X column; effective U/W). */
export function parseInfoMemX86(text: string): MemRange[] {
  const out: MemRange[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) ([0-9a-f]+) ([u-])r([w-])$/i.exec(line.trim());
    if (!m) continue;
    out.push({
      start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), size: BigInt('0x' + m[3]),
      user: m[4] === 'u', write: m[5] === 'w',
    });
  }
  return out;
}

export interface RiscvMemRange {
  va: bigint;
  pa: bigint;
  size: bigint;
  /** The seven letters as printed, e.g. "rwxu-ad". */
  attrs: string;
  read: boolean;
  write: boolean;
  exec: boolean;
  user: boolean;
  global: boolean;
  accessed: boolean;
  dirty: boolean;
}

/** RISC-V `info mem`: a header, then `vaddr paddr size attr` (attr letters rwxugad). QEMU merges
 * leaves that continue each other in VA and PA with equal attributes. */
export function parseInfoMemRiscv(text: string): RiscvMemRange[] {
  const out: RiscvMemRange[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+) ([r-][w-][x-][u-][g-][a-][d-])$/i.exec(line.trim());
    if (!m) continue;
    const a = m[4];
    out.push({
      va: BigInt('0x' + m[1]), pa: BigInt('0x' + m[2]), size: BigInt('0x' + m[3]), attrs: a,
      read: a[0] === 'r', write: a[1] === 'w', exec: a[2] === 'x', user: a[3] === 'u',
      global: a[4] === 'g', accessed: a[5] === 'a', dirty: a[6] === 'd',
    });
  }
  return out;
}

export type Gva2gpa = { kind: 'mapped'; pa: bigint } | { kind: 'unmapped' } | { kind: 'error'; message: string };

/** `gva2gpa ADDR`: "gpa: 0x..." (zero prints as "gpa: 0"), "Unmapped", or an error text such as
 * "invalid char 'z' in expression". Translation uses the CPU's current mode (a RISC-V hart in
 * M-mode answers identity). */
export function parseGva2gpaResult(text: string): Gva2gpa {
  const m = /gpa:\s*(0x[0-9a-f]+|0)\b/i.exec(text);
  if (m) return { kind: 'mapped', pa: BigInt(m[1]) };
  if (/^\s*Unmapped\s*$/i.test(text)) return { kind: 'unmapped' };
  return { kind: 'error', message: text.trim() };
}

/** `gva2gpa ADDR` → the guest-physical address, or undefined when unmapped (or an error). */
export function parseGva2gpa(text: string): bigint | undefined {
  const r = parseGva2gpaResult(text);
  return r.kind === 'mapped' ? r.pa : undefined;
}

/**
 * `info registers` → lower-case name → value, for whatever the target prints:
 * - x86 `RAX=... CR0=... EFER=...`, segment lines give the selector (`cs`), `GDT=` the base, flags
 *   such as `CPL=0 HLT=1` are included; `XMM00=hi lo` gives only the first word;
 * - AArch64 `PC=... X00=... PSTATE=...`, `Q00=hi:lo` as one 128-bit value;
 * - RISC-V `pc  0000...` / `x10/a0   0000...` columns (stored as `x10/a0`, `x10` and `a0`).
 * The first occurrence of a name wins (x86 prints `DPL=` on every segment line).
 */
export function parseInfoRegisters(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const set = (name: string, v: bigint) => {
    const k = name.toLowerCase();
    if (!out.has(k)) out.set(k, v);
  };
  for (const line of text.split(/\r?\n/)) {
    if (line.includes('=')) {
      for (const m of line.matchAll(/\b([A-Za-z][A-Za-z0-9_]*)\s*=\s*([0-9a-fA-F]+)(?::([0-9a-fA-F]+))?(?=\s|$)/g)) {
        set(m[1], BigInt('0x' + m[2] + (m[3] ?? '')));
      }
    } else {
      for (const m of line.matchAll(/(?:^|\s)([a-z][a-z0-9]*(?:\/[a-z][a-z0-9]*)?)\s+([0-9a-f]+)(?=\s|$)/gi)) {
        const v = BigInt('0x' + m[2]);
        set(m[1], v);
        if (m[1].includes('/')) for (const alias of m[1].split('/')) set(alias, v);
      }
    }
  }
  return out;
}

export interface X86PagingState {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
  /** CR0.PG */
  paging: boolean;
  /** CR0.WP */
  wp: boolean;
  /** CR4.PSE (ignored with PAE) */
  pse: boolean;
  pae: boolean;
  pge: boolean;
  la57: boolean;
  pcide: boolean;
  smep: boolean;
  smap: boolean;
  /** EFER.LME / LMA / NXE */
  lme: boolean;
  lma: boolean;
  nxe: boolean;
  /** What the control registers select: "none", "32-bit", "PAE", "4-level" or "5-level". */
  mode: 'none' | '32-bit' | 'PAE' | '4-level' | '5-level';
}

/** The paging controls from a parsed x86 `info registers`. Throws if CR0/CR3/CR4/EFER are absent. */
export function x86PagingState(regs: Map<string, bigint>): X86PagingState {
  const get = (n: string) => {
    const v = regs.get(n);
    if (v === undefined) throw new Error(`info registers has no ${n.toUpperCase()}`);
    return v;
  };
  const cr0 = get('cr0');
  const cr3 = get('cr3');
  const cr4 = get('cr4');
  const efer = get('efer');
  const bit = (v: bigint, n: number) => ((v >> BigInt(n)) & 1n) === 1n;
  const s = {
    cr0, cr3, cr4, efer,
    paging: bit(cr0, 31), wp: bit(cr0, 16),
    pse: bit(cr4, 4), pae: bit(cr4, 5), pge: bit(cr4, 7), la57: bit(cr4, 12), pcide: bit(cr4, 17),
    smep: bit(cr4, 20), smap: bit(cr4, 21),
    lme: bit(efer, 8), lma: bit(efer, 10), nxe: bit(efer, 11),
  };
  const mode = !s.paging ? 'none' : !s.pae ? '32-bit' : !s.lma ? 'PAE' : s.la57 ? '5-level' : '4-level';
  return { ...s, mode };
}

/**
 * Asks `gva2gpa` for many addresses at once: the commands are pipelined over QMP (answered in
 * order), `batch` at a time so the monitor's queue stays short. Answers come back in `vas` order.
 */
export async function gva2gpaMany(
  hmp: (cmd: string) => Promise<string>, vas: readonly bigint[], batch = 64,
): Promise<Gva2gpa[]> {
  const out: Gva2gpa[] = [];
  for (let i = 0; i < vas.length; i += batch) {
    const answers = await Promise.all(vas.slice(i, i + batch).map((va) => hmp(`gva2gpa 0x${va.toString(16)}`)));
    out.push(...answers.map(parseGva2gpaResult));
  }
  return out;
}

/**
 * Byte offsets worth asking gva2gpa about inside one leaf of `size` bytes: the first and last
 * byte and one in the middle, plus for superpages `extra` more spread over its 4 KiB frames
 * (deterministic, from `seed`), never one per 4 KiB page.
 */
export function leafProbeOffsets(size: bigint, seed = 1, extra = 3): bigint[] {
  const offs = new Set<bigint>([0n, size / 2n + 0x123n, size - 1n]);
  if (size > 0x1000n) {
    let x = BigInt(seed) * 0x9e3779b97f4a7c15n;
    for (let i = 0; i < extra; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
      offs.add(((x >> 17n) % (size / 0x1000n)) * 0x1000n + (x & 0xff8n));
    }
  }
  return [...offs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A deterministic 64-bit LCG (Knuth's MMIX constants): reproducible probe addresses. */
export function lcg(seed: bigint): () => bigint {
  let x = seed & ((1n << 64n) - 1n);
  return () => (x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n));
}

/**
 * `n` addresses for gva2gpa near known mappings: each from one size below a leaf to two sizes
 * above it, so they hit leaf edges, holes between leaves and neighbours (mapped or not).
 */
export function probesAround(leaves: readonly { va: bigint; size: bigint }[], n: number, next: () => bigint): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const l = leaves[Number(next() % BigInt(leaves.length))];
    out.push((l.va - l.size + (next() % (3n * l.size))) & ((1n << 64n) - 1n));
  }
  return out;
}
