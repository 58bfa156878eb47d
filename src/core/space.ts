import { PhysAddr, VirtAddr } from './addr';
import { Arch, PagingFormat } from './format';

/**
 * Register values by name, lower-case, as the architecture manuals and GDB spell them
 * ("cr3", "efer", "ttbr1_el1", "satp", "ia32_pat"). Values are unsigned 64-bit.
 */
export type Registers = ReadonlyMap<string, bigint>;

/** One translation root: a table tree plus how its linear input maps to virtual addresses. */
export interface Root {
  /** "cr3", "ttbr0_el1", "ttbr1_el1", "satp", "vttbr_el2", "ttbr0_el2", or "table@0x…". */
  readonly name: string;
  readonly format: PagingFormat;
  readonly tablePa: PhysAddr;
  /** Width of this root's linear input range in bits (e.g. 48). */
  readonly inputBits: number;
  /** Linear (page-aligned number) → canonical VA. */
  toVirt(linear: number): VirtAddr;
  /** Canonical VA → linear offset, or undefined when the VA is not translated by this root. */
  toLinear(va: bigint): number | undefined;
  /** Why a VA outside this root's range is rejected (non-canonical, other half, TBI...). */
  describeVa?(va: bigint): string | undefined;
  /** Items shown beside the root (PCID, ASID, mode, EPD, …). */
  readonly info: ReadonlyArray<readonly [string, string]>;
  /** Upper half (kernel) or lower half (user) when the architecture splits them. */
  readonly half?: 'lower' | 'upper';
  /** Stage 2 roots translate IPAs, not VAs. */
  readonly stage?: 1 | 2;
}

export interface AddressSpace {
  readonly arch: Arch;
  readonly roots: readonly Root[];
  /** Notes about register state worth showing (paging disabled, EPD1 set, NXE off...). */
  readonly notes: readonly string[];
}

export class RegisterError extends Error {
  override name = 'RegisterError';
}

/** Throws a RegisterError naming the register when it is missing. */
export function requireReg(regs: Registers, name: string, why: string): bigint {
  const v = regs.get(name);
  if (v === undefined) {
    throw new RegisterError(`register ${name.toUpperCase()} is required (${why}); give it with --reg ${name.toUpperCase()}=VALUE`);
  }
  return v;
}

const upperCache = new WeakMap<Root, number>();

/** First linear address of the root's upper (kernel) half; Infinity when it has none. */
export function upperHalfStart(root: Root): number {
  let v = upperCache.get(root);
  if (v === undefined) {
    if (root.half) v = root.half === 'upper' ? 0 : Infinity;
    else {
      // Sign-extended spaces (x86_64, RISC-V): the top half of the linear range is the upper half.
      const mid = 2 ** (root.inputBits - 1);
      v = root.inputBits < 64 && BigInt(root.toVirt(mid)) >> 63n === 1n ? mid : Infinity;
    }
    upperCache.set(root, v);
  }
  return v;
}

/**
 * Kernel half: the root is an upper-half root (TTBR1), or its VA has bit 63 set (sign-extended
 * spaces). Spaces without halves (32-bit x86) have no kernel half here.
 */
export function isUpperHalf(root: Root, linear: number): boolean {
  return linear >= upperHalfStart(root);
}
