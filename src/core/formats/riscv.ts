// RISC-V Sv32/Sv39/Sv48/Sv57 as data for the generic walker, following the privileged spec and
// QEMU's target/riscv/cpu_helper.c: a PTE with R=W=X=0 points to the next level, W without R is
// reserved, superpages must be aligned, bits 63:54 must be zero except PBMT (62:61, Svpbmt) and
// N (63, Svnapot) on leaves. Non-leaf PTEs carry no permissions. The walk faults on "any bits or
// encodings that are reserved for future standard use" (privileged spec §4.3.2 step 3): bits
// 60:54, PBMT=3 (Svpbmt), D/A/U and PBMT/N in non-leaf PTEs (§4.3.1; QEMU TCG ignores D/A/U
// there), N on a superpage or with a NAPOT size other than 64 KiB (Svnapot: ppn[0][3:0]=1000).
// A 64 KiB NAPOT page takes PA[15:12] from VA[15:12], i.e. from the entry's index. S-mode may not execute U pages,
// reads U pages only with sstatus.SUM, and reads execute-only pages only with sstatus.MXR.

import { VirtAddr, hex, signExtend, virtAddr } from '../addr';
import { EntryKind, Field, Flag, LevelDesc, PagingFormat, Perm, Restriction, rawEntry } from '../format';
import { AddressSpace, RegisterError, Registers, Root, requireReg } from '../space';
import type { SpaceOptions } from './registry';

const V = 1;
const R = 2;
const W = 4;
const X = 8;
const U = 16;
const G = 32;
const A = 64;
const D = 128;
const TWO32 = 2 ** 32;

export type RiscvMode = 'Sv32' | 'Sv39' | 'Sv48' | 'Sv57';

export interface RiscvContext {
  readonly mode: RiscvMode;
  /** sstatus.SUM: S-mode may read/write U pages. */
  readonly sum: boolean;
  /** sstatus.MXR: loads from executable pages succeed. */
  readonly mxr: boolean;
}

const LEVELS: Record<RiscvMode, number> = { Sv32: 2, Sv39: 3, Sv48: 4, Sv57: 5 };

export function riscvFormat(ctx: RiscvContext): PagingFormat {
  const n = LEVELS[ctx.mode];
  const rv32 = ctx.mode === 'Sv32';
  const bits = rv32 ? 10 : 9;
  const levels: LevelDesc[] = Array.from({ length: n }, (_, i) => ({
    name: `L${n - 1 - i}`,
    shift: 12 + (n - 1 - i) * bits,
    indexBits: bits,
  }));
  // PPN → PA: RV64 PPN is PTE bits 53:10; Sv32 PPN is bits 31:10 (a 34-bit PA).
  const ppnPa = (lo: number, hi: number): number =>
    rv32 ? ((lo >>> 10) * 4096) : (hi & 0x3fffff) * TWO32 * 4 + ((lo & 0xfffffc00) >>> 0) * 4;
  const isLeaf = (lo: number) => (lo & (R | X)) !== 0;

  const f: PagingFormat = {
    arch: rv32 ? 'riscv32' : 'riscv64',
    mode: ctx.mode,
    entryBytes: rv32 ? 4 : 8,
    levels,
    memTypes: ['PMA', 'NC', 'IO', 'reserved'],
    // Svpbmt (privileged spec, "Svpbmt" chapter): PBMT=2 IO is non-cacheable, strongly ordered I/O.
    deviceMemType: (t) => t === 2,

    addressBitsLo(level) {
      // PPN bits of the low word are pure address (a superpage's low PPN bits must be zero,
      // which reservedBits checks, so they stay in the key for levels above 0), except ppn[0][3:0]
      // (bits 13:10) on RV64: with N=1 they encode the NAPOT size, which reservedBits checks.
      return level === n - 1 ? (rv32 ? 0xfffffc00 | 0 : 0xffffc000 | 0) : 0;
    },

    classify(lo, _hi, level) {
      if (!(lo & V)) return EntryKind.Invalid;
      if ((lo & (R | W)) === W) return EntryKind.Reserved; // W without R
      if (!isLeaf(lo)) return (lo & W) ? EntryKind.Reserved : EntryKind.Table;
      void level;
      return EntryKind.Leaf;
    },

    tablePa(lo, hi) {
      return ppnPa(lo, hi);
    },

    leafPa(lo, hi, level, index) {
      // Svnapot: the PTE names the 64 KiB region; each of its 16 pages is PA base + VA[15:12].
      if (!rv32 && hi & 0x80000000 && level === n - 1) return ppnPa(lo, hi) - (ppnPa(lo, hi) % 0x10000) + ((index ?? 0) & 15) * 4096;
      return ppnPa(lo, hi);
    },

    tableRestricts() {
      return 0; // RISC-V non-leaf PTEs carry no permissions
    },

    // Privileged spec §4.3.1/§4.3.2: U=1 pages are U-mode's; S-mode reads and writes them only
    // with sstatus.SUM=1 (the same rule for both: v1 applied SUM to read only) and never executes
    // them; U=0 pages are S-mode's only. MXR makes executable pages readable for both modes.
    leafPerms(lo) {
      const read = (lo & R) !== 0 || (ctx.mxr && (lo & X) !== 0);
      const w = (lo & W) !== 0;
      const x = (lo & X) !== 0;
      if (lo & U) {
        let p = (read ? Perm.UserRead : 0) | (w ? Perm.UserWrite : 0) | (x ? Perm.UserExec : 0);
        if (ctx.sum) p |= (read ? Perm.Read : 0) | (w ? Perm.Write : 0);
        return p;
      }
      return (read ? Perm.Read : 0) | (w ? Perm.Write : 0) | (x ? Perm.Exec : 0);
    },

    leafFlags(lo, hi) {
      let fl = 0;
      if (lo & G) fl |= Flag.Global;
      if (lo & A) fl |= Flag.Accessed;
      if (lo & D) fl |= Flag.Dirty;
      if (!rv32 && hi & 0x80000000) fl |= Flag.Contiguous; // Svnapot N
      return fl;
    },

    // §4.3.1: "Global mappings ... If the G bit is set in a non-leaf PTE, all mappings in that
    // subsequent page table are global."
    tableFlags(lo) {
      return lo & G ? Flag.Global : 0;
    },

    leafMemType(_lo, hi) {
      return rv32 ? 0 : (hi >>> 29) & 3;
    },

    reservedBits(lo, hi, level, kind) {
      if (rv32) {
        // Sv32 superpage (4 MiB) must have PPN[0] = 0.
        if (kind === EntryKind.Leaf && level < n - 1 && (lo >>> 10) & 0x3ff) return BigInt(((lo >>> 10) & 0x3ff) << 10);
        return 0;
      }
      // Bits 60:54 are reserved; PBMT and N are reserved on non-leaf PTEs; PBMT=3 is reserved.
      let rhi = hi & 0x1fc00000;
      let rlo = 0;
      if (kind === EntryKind.Table) {
        rhi |= hi & 0xe0000000;
        rlo |= lo & (D | A | U);
      } else {
        if (((hi >>> 29) & 3) === 3) rhi |= 0x60000000;
        if (hi & 0x80000000 && (level !== n - 1 || ((lo >>> 10) & 0xf) !== 0b1000)) rhi |= 0x80000000 | 0; // N: superpage or size other than 64 KiB
      }
      if (rhi || rlo) return (BigInt(rhi >>> 0) << 32n) | BigInt(rlo >>> 0);
      if (kind === EntryKind.Leaf && level < n - 1) {
        // A superpage's low PPN fields must be zero (else a misaligned-superpage fault).
        const lowPpnBits = (n - 1 - level) * 9;
        const ppn = ppnPa(lo, hi) / 4096;
        if (ppn % 2 ** lowPpnBits !== 0) return BigInt(ppn % 2 ** lowPpnBits) << 10n;
      }
      return 0;
    },

    explainRestrictions(lo, _hi, level, kind) {
      if (kind !== EntryKind.Leaf) return [];
      const name = levels[level].name;
      const out: Restriction[] = [];
      const user = (lo & U) !== 0;
      const noR = ctx.mxr && lo & X ? '' : `${name} R=0${lo & X ? ' (sstatus.MXR=0)' : ''}`;
      if (!(lo & R)) out.push({ perm: Perm.Read, because: noR }, { perm: Perm.UserRead, because: noR });
      if (user && !ctx.sum) {
        const why = `${name} U=1 and sstatus.SUM=0 (S-mode cannot access user pages)`;
        out.push({ perm: Perm.Read, because: why }, { perm: Perm.Write, because: why });
      }
      if (!(lo & W)) out.push({ perm: Perm.Write, because: `${name} W=0` }, { perm: Perm.UserWrite, because: `${name} W=0` });
      if (!(lo & X)) {
        out.push({ perm: Perm.Exec, because: `${name} X=0` }, { perm: Perm.UserExec, because: `${name} X=0` });
      } else if (user) out.push({ perm: Perm.Exec, because: `${name} U=1 (S-mode never executes user pages)` });
      if (!user) for (const perm of [Perm.UserRead, Perm.UserWrite, Perm.UserExec]) out.push({ perm, because: `${name} U=0` });
      return out.filter((r) => r.because);
    },

    describe(lo, hi, level, kind) {
      const bit = (b: number) => (lo & b) !== 0;
      const fields: Field[] = [{ name: 'V', value: bit(V), description: 'valid', clear: 'not valid: the walk stops with a page fault' }];
      if (!bit(V)) return fields;
      if (kind === EntryKind.Table) {
        fields.push({ name: 'type', value: 'pointer', description: `R=W=X=0: next level ${levels[level + 1]?.name ?? '?'}` });
        fields.push({ name: 'address', value: hex(ppnPa(lo, hi)) });
      } else {
        fields.push(
          { name: 'R', value: bit(R), description: 'readable', clear: 'not readable' },
          { name: 'W', value: bit(W), description: 'writable', clear: 'not writable' },
          { name: 'X', value: bit(X), description: 'executable', clear: 'not executable' },
          { name: 'U', value: bit(U), description: bit(U) ? 'user page: U-mode may access; S-mode only with SUM, never executes' : 'supervisor page' },
          { name: 'G', value: bit(G), description: 'global: in every address space (ASID)', clear: 'not global: only this ASID (unless a level above has G)' },
          { name: 'A', value: bit(A), description: 'accessed', clear: 'not accessed (the first access faults, or hardware sets it with Svadu)' },
          { name: 'D', value: bit(D), description: 'dirty', clear: 'clean (the first write faults, or hardware sets it with Svadu)' },
          { name: 'address', value: hex(ppnPa(lo, hi)), description: `${hex(2 ** levels[level].shift)}-byte ${level < n - 1 ? 'superpage' : 'page'}` },
        );
        if (!rv32) {
          fields.push({ name: 'PBMT', value: f.memTypes[(hi >>> 29) & 3], description: 'Svpbmt memory type' });
          fields.push({ name: 'N', value: (hi & 0x80000000) !== 0, description: 'Svnapot: part of a naturally aligned power-of-two range', clear: 'not part of a NAPOT range' });
        }
      }
      fields.push({ name: 'RSW', value: (lo >>> 8) & 3, description: 'reserved for software' });
      const res = f.reservedBits(lo, hi, level, kind);
      if (res) fields.push({ name: 'reserved', value: hex(res), description: 'reserved bits or misaligned superpage: access faults' });
      fields.push({ name: 'raw', value: hex(rawEntry(lo, hi), rv32 ? 8 : 16) });
      return fields;
    },

    flagString(lo) {
      // QEMU `info mem` letters: rwxugad.
      const b = (m: number, c: string) => (lo & m ? c : '-');
      return b(R, 'r') + b(W, 'w') + b(X, 'x') + b(U, 'u') + b(G, 'g') + b(A, 'a') + b(D, 'd');
    },
  };
  return f;
}

export const RISCV_REGISTERS = ['satp', 'sstatus', 'mstatus', 'pc', 'priv'];

export function buildRiscvSpace(arch: 'riscv64' | 'riscv32', regs: Registers, opts: SpaceOptions = {}): AddressSpace {
  const satp = requireReg(regs, 'satp', 'satp holds the paging mode and root table');
  const notes: string[] = [];
  let mode: RiscvMode;
  let ppn: bigint;
  let asid: bigint;
  if (arch === 'riscv32') {
    if (!((satp >> 31n) & 1n)) throw new RegisterError('paging is off (satp.MODE=Bare): addresses are not translated');
    mode = 'Sv32';
    ppn = satp & 0x3fffffn;
    asid = (satp >> 22n) & 0x1ffn;
  } else {
    const m = Number(satp >> 60n);
    if (m === 0) throw new RegisterError('paging is off (satp.MODE=Bare): addresses are not translated');
    const byMode: Record<number, RiscvMode> = { 8: 'Sv39', 9: 'Sv48', 10: 'Sv57' };
    if (!byMode[m]) throw new RegisterError(`satp.MODE=${m} is not a paging mode ptview knows (8 Sv39, 9 Sv48, 10 Sv57)`);
    mode = byMode[m];
    ppn = satp & 0xfffffffffffn;
    asid = (satp >> 44n) & 0xffffn;
  }
  const status = regs.get('sstatus') ?? regs.get('mstatus');
  if (status === undefined) notes.push('control state unknown: assuming sstatus.SUM=0 and MXR=0, as Linux runs outside its user-access windows (give --reg sstatus=…)');
  const ctx: RiscvContext = { mode, sum: status !== undefined && ((status >> 18n) & 1n) === 1n, mxr: status !== undefined && ((status >> 19n) & 1n) === 1n };
  const format = riscvFormat(ctx);
  const inputBits = { Sv32: 32, Sv39: 39, Sv48: 48, Sv57: 57 }[mode];
  const mask = (1n << BigInt(inputBits)) - 1n;
  const info: [string, string][] = [['mode', mode], ['ASID', String(asid)]];
  const make = (name: string, tablePa: number): Root => ({
    name, format, tablePa: tablePa as Root['tablePa'], inputBits, info,
    toVirt: (linear: number): VirtAddr => virtAddr(arch === 'riscv32' ? BigInt(linear) : signExtend(BigInt(linear), inputBits)),
    toLinear: (va: bigint) => (arch === 'riscv32' ? (va <= mask ? Number(va) : undefined) : signExtend(va, inputBits) === va ? Number(va & mask) : undefined),
    describeVa: (va: bigint) =>
      (arch === 'riscv32' ? va <= mask : signExtend(va, inputBits) === va)
        ? undefined
        : `${hex(va)} is not a valid ${mode} address (bits 63:${inputBits - 1} must all equal bit ${inputBits - 1})`,
  });
  const roots: Root[] = [];
  for (const want of opts.roots ?? ['satp']) {
    const w = want.toLowerCase();
    if (w === 'satp') roots.push(make('satp', Number(ppn) * 4096));
    else if (w.startsWith('table@')) roots.push(make(`table@${hex(Number(BigInt(w.slice(6))))}`, Number(BigInt(w.slice(6)))));
    else throw new RegisterError(`unknown root '${want}' for RISC-V (use satp or table@0x…)`);
  }
  return { arch, roots, notes };
}
