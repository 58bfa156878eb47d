// Small hand-built 4-level x86-64 tables for unit tests of the stop-to-stop diff and the views
// built on it. Entry bits from Intel SDM vol. 3 §4.5: P=bit 0, R/W=1, U/S=2, A=5, PS=7, G=8,
// XD=63.
import { spaceFromRegisters } from '../../src/core/formats';
import { PageTableSession } from '../../src/core/ops/session';
import { SparseMemory } from './sparseMemory';

export const P = 1n, RW = 2n, US = 4n, A = 0x20n, PS = 0x80n, G = 0x100n, NX = 1n << 63n;

/**
 * PML4 0x1000 → PDPT 0x2000 → PD 0x3000: PD[0] → PT 0x4000 (16 pages at 0x100000, VA 0),
 * PD[1] a 2 MiB global block at 0x400000 (VA 0x200000). Callers add their own entries.
 */
export function smallTables(): SparseMemory {
  const m = new SparseMemory();
  m.write64(0x1000, 0x2000n | P | RW | US);
  m.write64(0x2000, 0x3000n | P | RW | US);
  m.write64(0x3000, 0x4000n | P | RW | US);
  for (let i = 0; i < 16; i++) m.write64(0x4000 + 8 * i, BigInt(0x100000 + i * 4096) | P | RW | NX);
  m.write64(0x3008, 0x400000n | P | RW | PS | G);
  return m;
}

/**
 * A long-mode session over `m` rooted at `cr3` (PCID in its low bits): CR0 PG|WP|PE,
 * CR4 PAE|PGE|PCIDE, EFER LME|LMA|NXE (SDM vol. 3 §2.5, §4.1).
 */
export function x86Session(m: SparseMemory, cr3 = 0x1000n): PageTableSession {
  const regs = new Map([['cr0', 0x80010011n], ['cr3', cr3], ['cr4', 0x20n | 0x80n | 0x20000n], ['efer', 0xd00n]]);
  return new PageTableSession(spaceFromRegisters('x86_64', regs), m);
}
