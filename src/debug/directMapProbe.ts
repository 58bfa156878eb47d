// Recognises a direct map (guest VA = offset + PA over all of RAM, e.g. Linux's physmap or
// linear map) when the user set no offset, so that an adapter with readMemory only can still
// read page tables. Candidates come from kernel symbols when the debugger has them, Linux's
// default layouts, then every top-level slot of the kernel half; a candidate counts only when
// the tables read through it translate offset + root back to the root for every stage-1 root
// (and offset + the last RAM page back to that page), which random memory does not do.
import { PhysAddr, hex } from '../core/addr';
import { findArch } from '../core/arch';
import type { Arch } from '../core/format';
import { spaceFromRegisters } from '../core/formats';
import { MemoryReadError, PhysicalMemory, RamRange, ReadRequest } from '../core/memory';
import { PageTableSession } from '../core/ops/session';
import type { AddressSpace, Registers } from '../core/space';
import { ProbeAccess } from './silentProbe';
import { DirectMapStrategy } from './strategies/directMap';
import { TargetCommands, Unavailable } from './strategies/types';

const U64 = (1n << 64n) - 1n;

export interface DirectMapFound {
  readonly offset: bigint;
  /** Where the offset came from, for the strategy notes ("symbol page_offset_base", …). */
  readonly source: string;
  /** Candidates tried (each at most one 8-byte read unless it passed that). */
  readonly tried: number;
}

interface Candidate {
  offset: bigint;
  source: string;
}

/**
 * Every read and symbol lookup goes through `probe`, which never makes the adapter report an error
 * (see silentProbe.ts); only a verified offset is read with plain readMemory afterwards.
 */
export async function recogniseDirectMap(
  t: TargetCommands,
  probe: ProbeAccess,
  arch: Arch,
  regs: Registers,
  ram: readonly RamRange[] | undefined,
  signal?: AbortSignal,
): Promise<DirectMapFound | Unavailable> {
  let space: AddressSpace;
  try {
    space = spaceFromRegisters(arch, regs);
  } catch (e) {
    return { unavailable: `no direct-map offset set, and none recognisable: ${(e as Error).message}` };
  }
  const roots = space.roots.filter((r) => r.stage !== 2);
  if (roots.length === 0) return { unavailable: 'no direct-map offset set, and no page-table root to recognise one with (paging off?)' };

  const seen = new Set<bigint>();
  let tried = 0;
  const consider = async (c: Candidate): Promise<DirectMapFound | undefined> => {
    const offset = c.offset & U64;
    if (seen.has(offset)) return undefined;
    seen.add(offset);
    tried++;
    // One 8-byte probe first: most candidates are not mapped at all.
    if (!(await probe.readable((offset + BigInt(roots[0].tablePa)) & U64, 8, signal))) return undefined;
    return (await verifies(t, probe, space, offset, ram, signal)) ? { offset, source: c.source, tried } : undefined;
  };

  for await (const c of candidates(arch, regs, space, ram, (e, sig) => probe.symbol(e, sig), signal)) {
    const found = await consider(c);
    if (found) return found;
  }
  return {
    unavailable:
      `no direct-map offset set, and none recognised (${tried} candidates: kernel symbols, Linux layouts, ` +
      `each top-level slot of the kernel half; none maps offset + root table back to it): set the offset (the guest VA of physical 0)`,
  };
}

/** Tables read through `offset` must map offset + each root (and the last RAM page) to itself. */
async function verifies(t: TargetCommands, probe: ProbeAccess, space: AddressSpace, offset: bigint, ram: readonly RamRange[] | undefined, signal?: AbortSignal): Promise<boolean> {
  const strategy = new DirectMapStrategy(t, offset);
  // A wrong candidate may map the root but not the tables below it: probe before each read.
  const readMany = async (reqs: readonly ReadRequest[], sig?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]> => {
    const ok = await Promise.all(reqs.map((r) => probe.readable((offset + BigInt(r.addr)) & U64, r.length, sig ?? signal)));
    const readableReqs = reqs.filter((_, i) => ok[i]);
    const got = readableReqs.length ? await strategy.readMany(readableReqs, sig ?? signal) : [];
    let k = 0;
    return reqs.map((r, i) => (ok[i] ? got[k++] : new MemoryReadError(r.addr, r.length, 'io', 'not mapped through this candidate')));
  };
  const memory: PhysicalMemory = {
    ram: ram ?? [{ start: 0 as PhysAddr, end: Number.MAX_SAFE_INTEGER as PhysAddr }],
    readMany,
    async read(addr, length, sig) {
      const [r] = await readMany([{ addr, length }], sig);
      if (r instanceof MemoryReadError) throw r;
      return r;
    },
  };
  const session = new PageTableSession(space, memory);
  const checks: number[] = space.roots.filter((r) => r.stage !== 2).map((r) => r.tablePa);
  if (ram?.length) checks.push(Math.max(...ram.map((r) => r.end)) - 4096);
  for (const pa of checks) {
    try {
      const tr = await session.translate((offset + BigInt(pa)) & U64, { signal });
      if (tr.kind !== 'mapped' || tr.pa !== pa) return false;
    } catch (e) {
      if (e instanceof MemoryReadError && e.reason !== 'io' && e.reason !== 'outside-ram') throw e;
      return false; // not translatable by any root, or a table unreadable through this offset
    }
  }
  return true;
}

/** Candidates, most likely first. */
async function* candidates(
  arch: Arch,
  regs: Registers,
  space: AddressSpace,
  ram: readonly RamRange[] | undefined,
  evaluate: (expression: string, signal?: AbortSignal) => Promise<bigint | undefined>,
  signal?: AbortSignal,
): AsyncGenerator<Candidate> {
  const ramStart = ram?.length ? Math.min(...ram.map((r) => r.start)) : undefined;
  // Where physical RAM starts is where a linear map starts on AArch64 and RISC-V; QEMU's virt
  // boards put it at 1 GiB (arm) and 2 GiB (riscv) when the monitor cannot say.
  const bases = ramStart !== undefined ? [...new Set([0, ramStart, ramStart - (ramStart % 2 ** 30)])] : [0, 0x40000000, 0x80000000];

  // The architecture module's Linux hints: kernel symbols, then default layouts.
  for (const h of findArch(arch)?.linux.directMap ?? []) {
    if ('fixed' in h) {
      yield { offset: h.fixed, source: h.source };
      continue;
    }
    const v = await evaluate(h.expression, signal);
    const offset = v === undefined ? undefined : h.offset(v, regs);
    if (offset !== undefined) yield { offset, source: h.source };
  }

  // Every top-level slot of the kernel half, minus where RAM starts.
  for (const root of space.roots) {
    if (root.stage === 2 || root.half === 'lower') continue;
    const top = root.format.levels[0];
    const slotBits = Math.min(top.indexBits, root.inputBits - top.shift);
    const slots = 2 ** slotBits;
    const first = root.half === 'upper' ? 0 : slots / 2;
    for (let i = first; i < slots; i++) {
      const va = BigInt(root.toVirt(i * 2 ** top.shift));
      for (const b of bases) yield { offset: va - BigInt(b), source: `kernel-half slot ${root.name} ${top.name}[${i}] at ${hex(va)}` };
    }
  }
}
