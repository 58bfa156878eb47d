// x86 paging formats: 32-bit (PSE, PSE-36), PAE, 4-level and 5-level (LA57), as data for the
// generic walker. Semantics follow the Intel SDM vol. 3 §4 and QEMU's target/i386 walker:
// U/S and R/W are ANDed across levels, XD is ORed (only with EFER.NXE; otherwise bit 63 is
// reserved), PAT/PCD/PWT select an IA32_PAT entry (the default PAT when the register is unknown).
// Rights per actor (SDM §4.6): supervisor (CPL 0) and user (CPL 3). CR0.WP=0 lets supervisor
// writes ignore R/W; CR4.SMEP forbids supervisor execution and CR4.SMAP (with EFLAGS.AC=0)
// supervisor data access of user pages; with CR4.PKE the leaf's protection key (bits 62:59,
// IA-32e paging only) and PKRU's AD/WD bits limit data access to user pages by both actors
// (§4.6.2); G counts only with CR4.PGE=1. Unknown EFLAGS/PKRU: what Linux runs with outside its
// user-access windows (AC=0; PKRU=0x55555554, every key but 0 access-disabled).

import { VirtAddr, hex, signExtend, virtAddr } from '../addr';
import { EntryKind, Field, Flag, LevelDesc, PagingFormat, Perm, Restriction, rawEntry } from '../format';
import { AddressSpace, RegisterError, Registers, Root, requireReg } from '../space';
import type { SpaceOptions } from './registry';

type X86Mode = '32-bit' | 'PAE' | '4-level' | '5-level';

export interface X86Context {
  readonly mode: X86Mode;
  readonly nxe: boolean;
  readonly pse: boolean; // CR4.PSE (32-bit mode 4 MiB pages)
  readonly smep: boolean;
  readonly wp: boolean;
  /** CR4.SMAP and EFLAGS.AC=0: supervisor data access to user pages faults. */
  readonly smapBlocks: boolean;
  /** CR4.PKE: PKRU applies (IA-32e paging only); the PKRU value. */
  readonly pke: boolean;
  readonly pkru: number;
  /** CR4.PGE: the G bit makes a translation global. */
  readonly pge: boolean;
  readonly pat: bigint; // IA32_PAT
  readonly maxPhyAddr: number;
}

export const DEFAULT_PAT = 0x0007040600070406n;
const PAT_TYPES: Record<number, string> = { 0: 'UC', 1: 'WC', 4: 'WT', 5: 'WP', 6: 'WB', 7: 'UC-' };
const MEM_TYPES = ['WB', 'WT', 'UC-', 'UC', 'WC', 'WP', 'reserved'];

// Entry bits (low word).
const P = 1 << 0;
const RW = 1 << 1;
const US = 1 << 2;
const PWT = 1 << 3;
const PCD = 1 << 4;
const A = 1 << 5;
const D = 1 << 6;
const PS = 1 << 7;
const G = 1 << 8;
const NX_HI = 0x80000000; // bit 63 in the high word

const LEVELS: Record<X86Mode, LevelDesc[]> = {
  '32-bit': [
    { name: 'PD', shift: 22, indexBits: 10 },
    { name: 'PT', shift: 12, indexBits: 10 },
  ],
  PAE: [
    { name: 'PDPT', shift: 30, indexBits: 2 },
    { name: 'PD', shift: 21, indexBits: 9 },
    { name: 'PT', shift: 12, indexBits: 9 },
  ],
  '4-level': [
    { name: 'PML4', shift: 39, indexBits: 9 },
    { name: 'PDPT', shift: 30, indexBits: 9 },
    { name: 'PD', shift: 21, indexBits: 9 },
    { name: 'PT', shift: 12, indexBits: 9 },
  ],
  '5-level': [
    { name: 'PML5', shift: 48, indexBits: 9 },
    { name: 'PML4', shift: 39, indexBits: 9 },
    { name: 'PDPT', shift: 30, indexBits: 9 },
    { name: 'PD', shift: 21, indexBits: 9 },
    { name: 'PT', shift: 12, indexBits: 9 },
  ],
};

const TWO32 = 2 ** 32;

export function x86Format(ctx: X86Context): PagingFormat {
  const levels = LEVELS[ctx.mode];
  const n = levels.length;
  const wide = ctx.mode !== '32-bit';
  const pdptPae = ctx.mode === 'PAE';
  // Address bits at and above MAXPHYADDR (up to bit 51) are reserved in every 64-bit entry.
  const resHiAddr = wide ? (0xfffff & ~((1 << Math.max(0, ctx.maxPhyAddr - 32)) - 1)) >>> 0 : 0;
  const resHiNx = ctx.nxe ? 0 : NX_HI;
  // PAE entries (SDM Tables 4-8 to 4-10): bits 62:MAXPHYADDR are reserved, not just up to 51
  // (IA-32e paging ignores 62:52 instead, and uses 62:59 as the protection key).
  const resHiPae = ctx.mode === 'PAE' ? 0x7ff00000 : 0;
  const patIndexToType = (idx: number): number => {
    const t = Number((ctx.pat >> BigInt(idx * 8)) & 7n);
    const name = PAT_TYPES[t] ?? 'reserved';
    return MEM_TYPES.indexOf(name);
  };
  const patTable = Array.from({ length: 8 }, (_, i) => patIndexToType(i));

  // Level roles by depth from the leaf end: PT = n-1, PD = n-2, PDPT = n-3.
  const isPT = (level: number) => level === n - 1;
  const isPD = (level: number) => level === n - 2;
  const isPDPT = (level: number) => level === n - 3;
  const hugeAllowed = (level: number): boolean =>
    ctx.mode === '32-bit' ? isPD(level) && ctx.pse : isPD(level) || (isPDPT(level) && !pdptPae);

  const isLeaf = (lo: number, level: number): boolean => isPT(level) || (hugeAllowed(level) && (lo & PS) !== 0);

  const f: PagingFormat = {
    arch: ctx.mode === '4-level' || ctx.mode === '5-level' ? 'x86_64' : 'x86',
    mode: ctx.mode,
    entryBytes: wide ? 8 : 4,
    levels,
    memTypes: MEM_TYPES,
    // Intel SDM Vol. 3A §12.3 (memory types): UC and UC- are the uncached, non-speculative types.
    deviceMemType: (t) => t === 2 || t === 3,

    // Leaf address bits: PT 31:12; 2 MiB 31:21; 1 GiB 31:30; 4 MiB 31:22 (20:13 are reserved or
    // PSE-36 address bits and stay in the decoded key). Bit 12 is PAT for large pages.
    addressBitsLo(level) {
      if (isPT(level)) return 0xfffff000 | 0;
      if (!wide) return 0xffc00000 | 0;
      return isPD(level) ? 0xffe00000 | 0 : 0xc0000000 | 0;
    },

    classify(lo, _hi, level) {
      if ((lo & P) === 0) return EntryKind.Invalid;
      return isLeaf(lo, level) ? EntryKind.Leaf : EntryKind.Table;
    },

    tablePa(lo, hi, level) {
      if (pdptPae && level === 0) return (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
      return wide ? (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0) : (lo & 0xfffff000) >>> 0;
    },

    leafPa(lo, hi, level) {
      if (!wide) {
        if (isPT(level)) return (lo & 0xfffff000) >>> 0;
        // 4 MiB page; PSE-36 puts PA bits 39:32 in bits 20:13.
        return ((lo & 0xffc00000) >>> 0) + ((lo >>> 13) & 0xff) * TWO32;
      }
      const top = (hi & 0xfffff) * TWO32;
      if (isPT(level)) return top + ((lo & 0xfffff000) >>> 0);
      if (isPD(level)) return top + ((lo & 0xffe00000) >>> 0);
      return top + ((lo & 0xc0000000) >>> 0); // 1 GiB
    },

    tableRestricts(lo, hi, level) {
      if (pdptPae && level === 0) return 0; // PAE PDPTEs carry no rights
      let r = 0;
      if ((lo & RW) === 0) r |= ctx.wp ? Perm.Write | Perm.UserWrite : Perm.UserWrite;
      if ((lo & US) === 0) r |= Perm.UserRead | Perm.UserWrite | Perm.UserExec;
      if (ctx.nxe && (hi & NX_HI) !== 0) r |= Perm.Exec | Perm.UserExec;
      return r;
    },

    leafPerms(lo, hi) {
      let p = Perm.Read;
      if (lo & RW || !ctx.wp) p |= Perm.Write;
      const x = !(ctx.nxe && (hi & NX_HI) !== 0);
      if (x) p |= Perm.Exec;
      if (lo & US) {
        p |= Perm.UserRead;
        if (lo & RW) p |= Perm.UserWrite;
        if (x) p |= Perm.UserExec;
      }
      return p;
    },

    // A user page is one whose U/S is 1 at every level: only U/S removes UserRead.
    finalPerms: ctx.smep || ctx.smapBlocks || (ctx.pke && wide && n >= 4)
      ? (p, _lo, hi) => {
        if ((p & Perm.UserRead) === 0) return p;
        if (ctx.smep) p &= ~Perm.Exec;
        if (ctx.smapBlocks) p &= ~(Perm.Read | Perm.Write);
        if (ctx.pke && n >= 4) {
          const key = (hi >>> 27) & 0xf;
          if ((ctx.pkru >>> (2 * key)) & 1) p &= ~(Perm.Read | Perm.Write | Perm.UserRead | Perm.UserWrite);
          else if ((ctx.pkru >>> (2 * key + 1)) & 1) p &= ~(ctx.wp ? Perm.Write | Perm.UserWrite : Perm.UserWrite);
        }
        return p;
      }
      : undefined,

    leafFlags(lo) {
      let fl = 0;
      if (lo & G && ctx.pge) fl |= Flag.Global;
      if (lo & A) fl |= Flag.Accessed;
      if (lo & D) fl |= Flag.Dirty;
      return fl;
    },

    leafMemType(lo, _hi, level) {
      const patBit = isPT(level) ? (lo >>> 7) & 1 : (lo >>> 12) & 1;
      return patTable[(patBit << 2) | ((lo & PCD) ? 2 : 0) | ((lo & PWT) ? 1 : 0)];
    },

    reservedBits(lo, hi, level, kind) {
      if (!wide) {
        // 32-bit: only 4 MiB PDEs have reserved bits (bit 21, and PSE-36 bits above MAXPHYADDR).
        if (kind !== EntryKind.Leaf || isPT(level)) return 0;
        const pseHighBits = Math.max(0, Math.min(8, ctx.maxPhyAddr - 32));
        const res = (1 << 21) | ((0xff & ~((1 << pseHighBits) - 1)) << 13);
        return lo & res ? BigInt((lo & res) >>> 0) : 0;
      }
      let rlo = 0;
      let rhi = (hi & (resHiAddr | resHiNx | resHiPae)) >>> 0;
      if (pdptPae && level === 0) {
        // PAE PDPTEs: Intel reserves bits 1, 2, 5-8 and 63 (a load into CR3 faults), but QEMU
        // TCG faults only on bit 63 and address bits, and itself sets A (bit 5) in PDPTEs. We
        // follow what the guest actually runs on; describe() still points the others out.
        rhi |= hi & NX_HI;
      } else if (level < n - 3 || (level === n - 3 && pdptPae)) {
        rlo |= lo & PS; // PS is reserved in PML4E/PML5E
      } else if (kind === EntryKind.Leaf && isPD(level)) {
        rlo |= lo & 0x001fe000; // 2 MiB page: bits 20:13
      } else if (kind === EntryKind.Leaf && isPDPT(level)) {
        rlo |= lo & 0x3fffe000; // 1 GiB page: bits 29:13
      }
      return (rlo | rhi) === 0 ? 0 : (BigInt(rhi >>> 0) << 32n) | BigInt(rlo >>> 0);
    },

    // SDM vol. 3 §4.4.1, Table 4-8: PAE PDPTE bits 2:1 and 8:5 are reserved (the PDPTE load at
    // MOV CR3 faults); QEMU TCG ignores them and sets A (bit 5) itself.
    laxBits: pdptPae ? (lo, _hi, level) => (level === 0 && lo & 0x1e6 ? BigInt(lo & 0x1e6) : 0) : undefined,

    explainRestrictions(lo, hi, level, kind) {
      const name = levels[level].name;
      const out: Restriction[] = [];
      if (pdptPae && level === 0) return out;
      if ((lo & RW) === 0) {
        if (ctx.wp) out.push({ perm: Perm.Write, because: `${name} R/W=0 (CR0.WP=1)` });
        out.push({ perm: Perm.UserWrite, because: `${name} R/W=0` });
      }
      if ((lo & US) === 0) {
        for (const perm of [Perm.UserRead, Perm.UserWrite, Perm.UserExec]) out.push({ perm, because: `${name} U/S=0` });
      }
      if (ctx.nxe && hi & NX_HI) {
        out.push({ perm: Perm.Exec, because: `${name} XD=1` });
        out.push({ perm: Perm.UserExec, because: `${name} XD=1` });
      }
      if (kind === EntryKind.Leaf && lo & US) {
        if (ctx.smep) out.push({ perm: Perm.Exec, because: 'CR4.SMEP=1 (user page)' });
        if (ctx.smapBlocks) {
          out.push({ perm: Perm.Read, because: 'CR4.SMAP=1 and EFLAGS.AC=0 (user page)' });
          out.push({ perm: Perm.Write, because: 'CR4.SMAP=1 and EFLAGS.AC=0 (user page)' });
        }
        if (ctx.pke && n >= 4) {
          const key = (hi >>> 27) & 0xf;
          if ((ctx.pkru >>> (2 * key)) & 1) {
            for (const perm of [Perm.Read, Perm.Write, Perm.UserRead, Perm.UserWrite]) out.push({ perm, because: `CR4.PKE=1 and PKRU.AD${key}=1 (protection key ${key})` });
          } else if ((ctx.pkru >>> (2 * key + 1)) & 1) {
            if (ctx.wp) out.push({ perm: Perm.Write, because: `CR4.PKE=1 and PKRU.WD${key}=1 (protection key ${key}, CR0.WP=1)` });
            out.push({ perm: Perm.UserWrite, because: `CR4.PKE=1 and PKRU.WD${key}=1 (protection key ${key})` });
          }
        }
      }
      return out;
    },

    describe(lo, hi, level, kind) {
      const fields: Field[] = [
        { name: 'P', value: (lo & P) !== 0, description: 'present', clear: 'not present' },
      ];
      if (pdptPae && level === 0) {
        if (lo & (RW | US | D | PS | G)) {
          fields.push({ name: 'Intel-reserved', value: hex(lo & (RW | US | D | PS | G)), description: 'bits 1, 2, 6-8 are reserved on Intel CPUs (MOV to CR3 faults); QEMU TCG ignores them' });
        }
        fields.push({ name: 'A', value: (lo & A) !== 0, description: 'accessed (QEMU TCG sets it; reserved on Intel)', clear: 'not accessed (QEMU TCG sets it; reserved on Intel)' });
        fields.push({ name: 'PWT', value: (lo & PWT) !== 0, description: 'write-through for the page directory', clear: 'write-back for the page directory' });
        fields.push({ name: 'PCD', value: (lo & PCD) !== 0, description: 'cache disabled for the page directory', clear: 'cacheable page directory' });
        if (lo & P) fields.push({ name: 'address', value: hex(f.tablePa(lo, hi, level)), description: 'page directory' });
        return fields;
      }
      fields.push(
        { name: 'R/W', value: (lo & RW) !== 0, description: lo & RW ? 'writable (if every level allows)' : 'read-only for everything below' },
        { name: 'U/S', value: (lo & US) !== 0, description: lo & US ? 'user-accessible (if every level allows)' : 'supervisor only for everything below' },
        { name: 'PWT', value: (lo & PWT) !== 0, description: 'page-level write-through', clear: 'PAT index bit 0 clear' },
        { name: 'PCD', value: (lo & PCD) !== 0, description: 'page-level cache disable', clear: 'PAT index bit 1 clear' },
        { name: 'A', value: (lo & A) !== 0, description: 'accessed: the CPU has used this entry', clear: 'not accessed since the bit was last cleared' },
      );
      if (kind === EntryKind.Leaf) {
        fields.push({ name: 'D', value: (lo & D) !== 0, description: 'dirty: the page has been written', clear: 'clean: not written since the bit was last cleared' });
        if (!isPT(level)) fields.push({ name: 'PS', value: true, description: `large page (${hugeLabel(levels[level].shift)})` });
        const patBit = isPT(level) ? (lo >>> 7) & 1 : (lo >>> 12) & 1;
        fields.push({ name: 'PAT', value: patBit === 1, description: 'PAT index bit 2', clear: 'PAT index bit 2 clear' });
        fields.push({ name: 'G', value: (lo & G) !== 0, description: 'global: kept in the TLB across CR3 loads (CR4.PGE)', clear: 'not global: flushed from the TLB by CR3 loads' });
        fields.push({ name: 'memory type', value: MEM_TYPES[f.leafMemType(lo, hi, level)], description: 'from IA32_PAT[PAT:PCD:PWT] (MTRRs not applied)' });
        fields.push({ name: 'address', value: hex(f.leafPa(lo, hi, level)), description: 'page frame' });
        if (wide) fields.push({ name: 'PK', value: (hi >>> 27) & 0xf, description: 'protection key (CR4.PKE/PKS)' });
      } else if (kind === EntryKind.Table) {
        fields.push({ name: 'address', value: hex(f.tablePa(lo, hi, level)), description: `next table (${levels[level + 1]?.name ?? '?'})` });
      }
      if (wide) {
        fields.push({
          name: 'XD', value: (hi & NX_HI) !== 0,
          description: ctx.nxe ? 'execute-disable for everything below' : 'reserved: EFER.NXE=0',
        });
      }
      const res = f.reservedBits(lo, hi, level, kind);
      if (res) fields.push({ name: 'reserved', value: hex(res), description: 'reserved bits set: access faults' });
      fields.push({ name: 'raw', value: hex(rawEntry(lo, hi), wide ? 16 : 8) });
      return fields;
    },

    flagString(lo, _hi, level, perms) {
      // Linux x86 ptdump order: USR RW PWT PCD PSE PAT GLB NX.
      const patBit = isPT(level) ? (lo >>> 7) & 1 : (lo >>> 12) & 1;
      return [
        perms & (Perm.UserRead | Perm.UserWrite) ? 'USR' : '   ',
        perms & (Perm.Write | Perm.UserWrite) ? 'RW' : 'ro',
        lo & PWT ? 'PWT' : '   ',
        lo & PCD ? 'PCD' : '   ',
        !isPT(level) ? 'PSE' : '   ',
        patBit ? 'PAT' : '   ',
        lo & G && ctx.pge ? 'GLB' : '   ',
        perms & Perm.Exec ? 'x ' : 'NX',
      ].join(' ');
    },
  };
  return f;
}

function hugeLabel(shift: number): string {
  return shift === 30 ? '1 GiB' : shift === 22 ? '4 MiB' : '2 MiB';
}

const CR0_WP = 1n << 16n;
const CR0_PG = 1n << 31n;
const CR4_PSE = 1n << 4n;
const CR4_PAE = 1n << 5n;
const CR4_PCIDE = 1n << 17n;
const CR4_SMEP = 1n << 20n;
const CR4_SMAP = 1n << 21n;
const CR4_PKE = 1n << 22n;
const CR4_PGE = 1n << 7n;
const EFLAGS_AC = 1n << 18n;
/** Linux's init_pkru_value: access-disable for every key but 0. */
export const LINUX_DEFAULT_PKRU = 0x55555554;
const CR4_LA57 = 1n << 12n;
const EFER_NXE = 1n << 11n;
const EFER_LMA = 1n << 10n;

export const X86_REGISTERS = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'ia32_pat', 'maxphyaddr', 'eflags', 'rflags', 'pkru'];

/** Builds the x86 address space from control registers. */
export function buildX86Space(archWanted: 'x86_64' | 'x86', regs: Registers, opts: SpaceOptions = {}): AddressSpace {
  const cr0 = requireReg(regs, 'cr0', 'CR0.PG tells whether paging is on');
  const cr3 = requireReg(regs, 'cr3', 'CR3 holds the root table address');
  const cr4 = requireReg(regs, 'cr4', 'CR4.PAE/PSE/LA57 select the paging mode');
  if (!(cr0 & CR0_PG)) throw new RegisterError('paging is disabled (CR0.PG=0): there are no page tables to walk');
  const notes: string[] = [];
  let efer = regs.get('efer');
  const pae = (cr4 & CR4_PAE) !== 0n;
  if (efer === undefined) {
    // Unknown control state is assumed as Linux runs (the rule for every architecture), said in a
    // note: long mode for an x86_64 target (QEMU writes an x86_64 core only when its first CPU
    // had EFER.LMA=1: target/i386/arch_dump.c, cpu_get_dump_info) and NXE=1 with PAE paging.
    const long = archWanted === 'x86_64';
    efer = (long ? EFER_LMA : 0n) | (pae || long ? EFER_NXE : 0n);
    if (pae || long) {
      notes.push(
        `EFER unknown: assuming ${long ? 'LMA=1 (long mode) and ' : ''}NXE=1 (bit 63 is execute-disable), as Linux runs (give --reg EFER=…; QEMU's \`info registers\` prints it)`,
      );
    }
  }
  const lma = (efer & EFER_LMA) !== 0n;
  let mode: X86Mode;
  if (lma) {
    if (!pae) throw new RegisterError('inconsistent registers: EFER.LMA=1 requires CR4.PAE=1');
    mode = cr4 & CR4_LA57 ? '5-level' : '4-level';
  } else mode = pae ? 'PAE' : '32-bit';
  if (archWanted === 'x86_64' && !lma) notes.push(`EFER.LMA=0: the guest runs in 32-bit ${mode} paging`);
  const pat = regs.get('ia32_pat') ?? regs.get('pat');
  if (pat === undefined) notes.push('IA32_PAT unknown: memory types use the power-on default PAT (give --reg IA32_PAT=… to override)');
  const maxPhyAddr = Number(regs.get('maxphyaddr') ?? 52n);
  if (regs.get('maxphyaddr') === undefined && pae) {
    notes.push('MAXPHYADDR unknown: assuming 52 bits, so address bits 51:MAXPHYADDR of the real CPU are not checked as reserved (give --reg MAXPHYADDR=…; QEMU: the CPU\'s phys-bits)');
  }
  // Control state the rights depend on; unknown parts as Linux runs outside user-access windows.
  const eflags = regs.get('eflags') ?? regs.get('rflags');
  const smap = (cr4 & CR4_SMAP) !== 0n;
  const pke = (cr4 & CR4_PKE) !== 0n && lma;
  const pkru = regs.get('pkru');
  const assumed: string[] = [];
  if (smap && eflags === undefined) assumed.push('EFLAGS.AC=0 (SMAP blocks supervisor access to user pages)');
  if (pke && pkru === undefined) assumed.push(`PKRU=${hex(LINUX_DEFAULT_PKRU)} (every protection key but 0 access-disabled)`);
  if (assumed.length) notes.push(`control state unknown: assuming ${assumed.join(' and ')}, as Linux runs outside its user-access windows (give --reg EFLAGS=…${pke ? ', PKRU=…' : ''})`);
  const ctx: X86Context = {
    mode,
    nxe: (efer & EFER_NXE) !== 0n,
    pse: (cr4 & CR4_PSE) !== 0n,
    smep: (cr4 & CR4_SMEP) !== 0n,
    wp: (cr0 & CR0_WP) !== 0n,
    smapBlocks: smap && ((eflags ?? 0n) & EFLAGS_AC) === 0n,
    pke,
    pkru: pkru === undefined ? LINUX_DEFAULT_PKRU : Number(pkru & 0xffffffffn),
    pge: (cr4 & CR4_PGE) !== 0n,
    pat: pat ?? DEFAULT_PAT,
    maxPhyAddr,
  };
  if (!ctx.wp) notes.push('CR0.WP=0: supervisor writes ignore R/W (write is the supervisor\'s right, userWrite the user\'s)');
  if (!ctx.pge) notes.push('CR4.PGE=0: no translation is global (G bits are ignored)');
  if (!ctx.nxe && mode !== '32-bit') notes.push('EFER.NXE=0: no page is execute-disabled; bit 63 is reserved');
  const format = x86Format(ctx);
  const pcide = (cr4 & CR4_PCIDE) !== 0n && lma;
  const tablePa =
    mode === 'PAE' ? Number(cr3 & 0xffffffe0n) : mode === '32-bit' ? Number(cr3 & 0xfffff000n) : Number(cr3 & 0x000ffffffffff000n);
  const info: [string, string][] = [['mode', mode]];
  if (pcide) info.push(['PCID', String(Number(cr3 & 0xfffn))]);
  else if (lma && (cr3 & 0xfffn) !== 0n) info.push(['CR3 low bits', hex(cr3 & 0xfffn)]);
  const inputBits = mode === '5-level' ? 57 : mode === '4-level' ? 48 : 32;
  const root = x86Root(format, 'cr3', tablePa, inputBits, info);

  const roots: Root[] = [];
  for (const want of opts.roots ?? ['cr3']) {
    const w = want.toLowerCase();
    if (w === 'cr3') roots.push(root);
    else if (w.startsWith('table@')) {
      const pa = Number(BigInt(w.slice(6)));
      roots.push(x86Root(format, `table@${hex(pa)}`, pa, inputBits, info));
    } else throw new RegisterError(`unknown root '${want}' for x86 (use cr3 or table@0x…)`);
  }
  return { arch: format.arch, roots, notes };
}

function x86Root(format: PagingFormat, name: string, tablePa: number, inputBits: number, info: [string, string][]): Root {
  const mask = (1n << BigInt(inputBits)) - 1n;
  const wide = inputBits > 32;
  return {
    name,
    format,
    tablePa: tablePa as Root['tablePa'],
    inputBits,
    info,
    toVirt: (linear: number): VirtAddr => virtAddr(wide ? signExtend(BigInt(linear), inputBits) : BigInt(linear)),
    toLinear: (va: bigint): number | undefined => {
      if (!wide) return va <= mask ? Number(va) : undefined;
      return signExtend(va, inputBits) === va ? Number(va & mask) : undefined;
    },
    describeVa: (va: bigint): string | undefined => {
      if (!wide) return va > mask ? `${hex(va)} is wider than 32 bits` : undefined;
      return signExtend(va, inputBits) !== va
        ? `${hex(va)} is not canonical for ${inputBits}-bit virtual addresses (bits 63:${inputBits - 1} must all equal bit ${inputBits - 1})`
        : undefined;
    },
  };
}
