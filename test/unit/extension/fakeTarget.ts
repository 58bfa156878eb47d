// An in-memory LiveTarget over SparseMemory with a hand-built x86-64 4-level space, for unit
// tests of the extension's pure logic (the real one comes from src/debug).
import type { DapChannel, DapObserver, LiveOptions, LiveTarget, OpenLiveTarget } from '../../../src/debug/api';
import { LiveAccessError } from '../../../src/debug/api';
import { SparseMemory } from '../../support/sparseMemory';

export const P = 1n, RW = 2n, US = 4n, PCD = 16n, A = 32n, D = 64n, PS = 128n, G = 256n, NX = 1n << 63n;

/**
 * PML4 0x1000 → PDPT 0x2000 (R/W=0) → PD 0x3000 → PT 0x4000, plus a 2 MiB page, a 1 GiB page, a
 * kernel-half PDPT at 0x5000 with a writable+executable 1 GiB page, and a PT with 300 entries.
 */
export function x86Memory(): SparseMemory {
  const m = new SparseMemory();
  m.write64(0x1000, 0x2000n | P | RW | US);
  m.write64(0x2000, 0x3000n | P | US); // nothing below is writable
  m.write64(0x3000, 0x4000n | P | RW | US);
  m.write64(0x4000, 0x100000n | P | RW | US | A | D); // VA 0 → 0x100000, user, but R/W=0 above
  m.write64(0x4000 + 8, 0x101000n | P | RW | NX | G); // VA 0x1000: kernel, NX
  m.write64(0x4000 + 16, 0x100000n | P | NX); // VA 0x2000: a second VA of frame 0x100000
  m.write64(0x3000 + 8, 0x200000n | P | RW | US | PS | PCD); // VA 0x200000 2 MiB
  m.write64(0x3000 + 16, 0x6000n | P | RW | US); // VA 0x400000: PT with 300 pages
  for (let i = 0; i < 300; i++) m.write64(0x6000 + 8 * i, BigInt(0x800000 + i * 0x1000) | P | US);
  m.write64(0x1000 + 8 * 256, 0x5000n | P | RW); // kernel half
  m.write64(0x5000, 0x40000000n | P | RW | PS | G); // 0xffff800000000000: 1 GiB, W+X
  return m;
}

export const X86_REGS = new Map<string, bigint>([
  ['cr0', (1n << 31n) | (1n << 16n) | 1n],
  ['cr3', 0x1000n],
  ['cr4', (1n << 5n) | (1n << 7n)], // PAE, PGE (G bits count)
  ['efer', (1n << 10n) | (1n << 11n) | (1n << 8n)],
]);

export class FakeTarget implements LiveTarget {
  readonly arch = 'x86_64' as const;
  readonly dialect = 'cdt-gdb' as const;
  readonly strategy = 'phymem-mode' as const;
  readonly connection = 'fake adapter';
  readonly strategyNotes = [];
  readonly stats = { dapRequests: 0, errorResponses: 0, bytesRead: 0, cacheHits: 0, reads: 0, phases: {}, adapterMs: 0 };
  invalidations = 0;
  disposed = 0;
  constructor(readonly memory: SparseMemory = x86Memory(), readonly registers = X86_REGS) {}
  resetStats(): void {}
  invalidate(): void {
    this.invalidations++;
  }
  async dispose(): Promise<void> {
    this.disposed++;
  }
}

/** An OpenLiveTarget that records its calls and can be told to fail or to be slow. */
export function fakeOpener() {
  const calls: { channel: DapChannel; observer: DapObserver; options?: LiveOptions }[] = [];
  const made: FakeTarget[] = [];
  const ctl = {
    calls,
    made,
    fail: undefined as LiveAccessError | undefined,
    gate: undefined as Promise<void> | undefined,
    open: (async (channel, observer, options) => {
      calls.push({ channel, observer, options });
      if (ctl.gate) await ctl.gate;
      if (ctl.fail) throw ctl.fail;
      const t = new FakeTarget();
      made.push(t);
      return t;
    }) as OpenLiveTarget,
  };
  return ctl;
}

export const channel: DapChannel = { type: 'gdb', request: async () => ({}) };
