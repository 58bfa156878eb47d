// AArch64 VMSAv8-64 translation formats as data for the generic walker: stage 1 for EL1&0
// (TTBR0/TTBR1 split by TCR_EL1) and EL2 (with or without HCR_EL2.E2H), and stage 2
// (VTTBR_EL2/VTCR_EL2, concatenated root tables), with 4K/16K/64K granules, 52-bit output
// addresses (FEAT_LPA with 64K, FEAT_LPA2 with TCR.DS) and the permission rules QEMU's
// target/arm/ptw.c applies: APTable folded into AP, UXN/PXNTable inherited, implicit PXN for
// EL0-writable pages, SCTLR.WXN, and hierarchical-permission disable (TCR.HPDn). Rights per actor
// (the regime's privileged EL, and EL0): PSTATE.PAN removes privileged data access to pages EL0
// may access (and with SCTLR.EPAN, FEAT_PAN3, to EL0-executable ones); unknown PAN is assumed 1
// when ID_AA64MMFR1_EL1 shows FEAT_PAN (Linux runs with PAN set outside uaccess), else 0.

import { VirtAddr, hex, virtAddr } from '../addr';
import { EntryKind, Field, Flag, LevelDesc, PagingFormat, Perm, Restriction, rawEntry } from '../format';
import { AddressSpace, RegisterError, Registers, Root, requireReg } from '../space';
import type { SpaceOptions } from './registry';

export type Granule = 4 | 16 | 64;
export type Regime = 'el1' | 'el2' | 'el2&0' | 'stage2';

export interface A64Config {
  readonly regime: Regime;
  readonly granule: Granule;
  /** Input address bits (64 - TxSZ). */
  readonly inputBits: number;
  /** Output address bits (TCR.IPS/PS, capped by ID_AA64MMFR0_EL1.PARange when known). */
  readonly outputBits: number;
  /** TCR.DS: FEAT_LPA2 descriptor layout (4K/16K 52-bit). */
  readonly ds: boolean;
  /** Hierarchical permissions disabled (TCR.HPDn): table bits do not restrict. */
  readonly hpd: boolean;
  readonly wxn: boolean;
  /** PSTATE.PAN (EL1&0 / EL2&0): no privileged data access to EL0-accessible pages. */
  readonly pan?: boolean;
  /** SCTLR.EPAN (FEAT_PAN3): PAN also covers EL0-executable pages. */
  readonly epan?: boolean;
  /** MAIR_EL1/EL2, or undefined when unknown. */
  readonly mair?: bigint;
  /** Stage 2 only: number of concatenated root tables (1..16). */
  readonly concat?: number;
  /** Stage 2 only: starting level (from VTCR.SL0). */
  readonly startLevel?: number;
}

const TWO32 = 2 ** 32;

function granuleShift(g: Granule): number {
  return g === 4 ? 12 : g === 16 ? 14 : 16;
}

/** The levels a walk uses for `inputBits`, from the start level to 3. */
export function a64Levels(cfg: A64Config): LevelDesc[] {
  const s = granuleShift(cfg.granule);
  const b = s - 3;
  let start: number;
  if (cfg.startLevel !== undefined) start = cfg.startLevel;
  else start = 4 - Math.ceil((cfg.inputBits - s) / b);
  const out: LevelDesc[] = [];
  for (let L = start; L <= 3; L++) {
    const shift = s + (3 - L) * b;
    const indexBits = L === start ? cfg.inputBits - shift : b;
    out.push({ name: `L${L}`, shift, indexBits });
  }
  return out;
}

/** MAIR attribute byte → a readable memory-type name. */
export function mairName(attr: number): string {
  // Arm ARM D8.5 (MAIR_ELx.Attr<n>): with Attr[3:0]=0000 only these Normal encodings exist.
  if (attr === 0xf0) return 'Normal-Tagged'; // FEAT_MTE2: Tagged Normal WB RA/WA non-transient (Linux MT_NORMAL_TAGGED)
  if (attr === 0x40) return 'Normal-NC(XS=0)'; // FEAT_XS
  if (attr === 0xa0) return 'Normal-WT(XS=0)'; // FEAT_XS
  if ((attr & 0x0f) === 0 && (attr & 0xf0) !== 0) return 'reserved';
  if ((attr & 0xf0) === 0) {
    const dev = ['nGnRnE', 'nGnRE', 'nGRE', 'GRE'][(attr >> 2) & 3];
    return (attr & 3) === 0 ? `Device-${dev}` : `Device-${dev}(XS)`;
  }
  const kind = (n: number): string => {
    if (n === 0b0100) return 'NC';
    if ((n & 0b1100) === 0b1000) return 'WT';
    if ((n & 0b1100) === 0b1100) return 'WB';
    if ((n & 0b1100) === 0b0000) return 'WT-transient';
    return 'WB-transient';
  };
  const o = kind(attr >> 4);
  const i = kind(attr & 0xf);
  return o === i ? `Normal-${o}` : `Normal-I${i}-O${o}`;
}

// Descriptor bits in the low word.
const VALID = 1;
const TYPE = 2;
const AP1 = 1 << 6; // EL0 access (stage 1); S2AP[0] read (stage 2)
const AP2 = 1 << 7; // read-only (stage 1); S2AP[1] write (stage 2)
const AF = 1 << 10;
const NG = 1 << 11;
// High word (bit n → 1 << (n - 32)).
const DBM_H = 1 << 19; // bit 51
const CONT_H = 1 << 20; // bit 52
const PXN_H = 1 << 21; // bit 53
const UXN_H = 1 << 22; // bit 54 (XN at EL2; XN[1] at stage 2)
const PXNT_H = 1 << 27; // bit 59
const UXNT_H = 1 << 28; // bit 60
const APT0_H = 1 << 29; // bit 61: no EL0 access below
const APT1_H = 1 << 30; // bit 62: no write below

export function aarch64Format(cfg: A64Config): PagingFormat {
  const levels = a64Levels(cfg);
  const start = Number(levels[0].name.slice(1));
  const s = granuleShift(cfg.granule);
  const stage2 = cfg.regime === 'stage2';
  const twoEL = cfg.regime === 'el1' || cfg.regime === 'el2&0'; // regimes with EL0
  const lpa64 = cfg.granule === 64 && cfg.outputBits === 52;
  const loMask = (0xffffffff << s) >>> 0;
  const hiMask = cfg.ds ? 0x3ffff : 0xffff;
  const maxPa = 2 ** cfg.outputBits;
  const attrNames = Array.from({ length: 8 }, (_, i) =>
    cfg.mair === undefined ? `AttrIndx${i}` : mairName(Number((cfg.mair >> BigInt(8 * i)) & 0xffn)),
  );
  const s2Names = Array.from({ length: 16 }, (_, m) => (m >> 2 === 0 ? `Device-${['nGnRnE', 'nGnRE', 'nGRE', 'GRE'][m & 3]}` : `Normal-S2(${m.toString(2).padStart(4, '0')})`));
  const memTypes = stage2 ? s2Names : attrNames;

  const L = (level: number) => start + level;
  const blockAllowed = (level: number): boolean => {
    const l = L(level);
    if (cfg.granule === 4) return l === 1 || l === 2 || (l === 0 && cfg.ds);
    if (cfg.granule === 16) return l === 2 || (l === 1 && cfg.ds);
    return l === 2 || (l === 1 && lpa64);
  };
  // Output address of a descriptor (table or leaf, before block alignment).
  const oa = (lo: number, hi: number): number => {
    let pa = (hi & hiMask) * TWO32 + ((lo & loMask) >>> 0);
    if (lpa64) pa += ((lo >>> 12) & 0xf) * 2 ** 48;
    else if (cfg.ds) pa += ((lo >>> 8) & 3) * 2 ** 50;
    return pa;
  };
  const size = (level: number) => 2 ** levels[level].shift;

  const s2Perms = (lo: number, hi: number): number => {
    let p = 0;
    // Stage 2 has one set of permissions: the user fields equal the privileged ones (FEAT_XNX
    // still tells EL0 and EL1 execution apart).
    if (lo & AP1) p |= Perm.Read | Perm.UserRead;
    if (lo & AP2) p |= Perm.Write | Perm.UserWrite;
    // XN[1:0] at bits 54:53 (FEAT_XNX): 00 exec at EL0 and EL1, 01 EL1 no, 10 none, 11 EL0 no.
    const xn = (hi >>> 21) & 3;
    if (xn === 0 || xn === 3) p |= Perm.Exec;
    if (xn === 0 || xn === 1) p |= Perm.UserExec;
    return p;
  };

  const f: PagingFormat = {
    arch: 'aarch64',
    mode: `${stage2 ? 'stage 2' : cfg.regime.toUpperCase()}, ${cfg.granule}K granule, ${cfg.inputBits}-bit input, start L${start}`,
    entryBytes: 8,
    levels,
    memTypes,
    // Arm ARM D8.6 (memory attributes): MAIR Attr<n>[7:4] = 0 is Device memory; stage 2
    // MemAttr[3:2] = 0 likewise (D8.6.5).
    deviceMemType: (t) => (stage2 ? t >> 2 === 0 : cfg.mair !== undefined && (Number((cfg.mair >> BigInt(8 * t)) & 0xffn) & 0xf0) === 0),

    addressBitsLo(level) {
      // Page/block address bits that are pure address: 31:max(s, blockshift) (LPA bits 15:12 and
      // LPA2 bits 9:8 stay in the key: they are address bits but share the word with attributes).
      const shift = levels[level].shift;
      return shift >= 32 ? 0 : (0xffffffff << shift) | 0;
    },

    classify(lo, _hi, level) {
      if (!(lo & VALID)) return EntryKind.Invalid;
      if (L(level) === 3) return lo & TYPE ? EntryKind.Leaf : EntryKind.Reserved;
      if (lo & TYPE) return EntryKind.Table;
      return blockAllowed(level) ? EntryKind.Leaf : EntryKind.Reserved;
    },

    tablePa(lo, hi) {
      return oa(lo, hi);
    },

    leafPa(lo, hi, level) {
      const pa = oa(lo, hi);
      return pa - (pa % size(level));
    },

    tableRestricts(_lo, hi) {
      if (stage2 || cfg.hpd) return 0;
      let r = 0;
      if (hi & APT1_H) r |= Perm.Write | Perm.UserWrite;
      if (hi & APT0_H) r |= Perm.UserRead | Perm.UserWrite;
      if (hi & PXNT_H) r |= Perm.Exec;
      if (hi & UXNT_H) r |= twoEL ? Perm.UserExec : Perm.Exec; // at EL2 bit 60 is XNTable
      return r;
    },

    leafPerms(lo, hi) {
      if (stage2) return s2Perms(lo, hi);
      let p = Perm.Read;
      if (!(lo & AP2)) p |= Perm.Write;
      if (twoEL) {
        if (lo & AP1) p |= lo & AP2 ? Perm.UserRead : Perm.UserRead | Perm.UserWrite;
        if (!(hi & PXN_H)) p |= Perm.Exec;
        if (!(hi & UXN_H)) p |= Perm.UserExec;
      } else if (!(hi & UXN_H)) p |= Perm.Exec; // EL2 single range: bit 54 is XN
      return p;
    },

    finalPerms(p) {
      if (stage2) return p;
      // Implicit PXN: privileged code never executes what EL0 can write (after APTable folding).
      if (twoEL && p & Perm.UserWrite) p &= ~Perm.Exec;
      // WXN, per actor: writable at an EL means not executable at that EL.
      if (cfg.wxn) {
        if (p & Perm.Write) p &= ~Perm.Exec;
        if (p & Perm.UserWrite) p &= ~Perm.UserExec;
      }
      if (twoEL && cfg.pan && (p & (Perm.UserRead | Perm.UserWrite) || (cfg.epan && p & Perm.UserExec))) p &= ~(Perm.Read | Perm.Write);
      return p;
    },

    leafFlags(lo, hi) {
      let fl = 0;
      if (!stage2 && !(lo & NG)) fl |= Flag.Global;
      if (lo & AF) fl |= Flag.Accessed;
      // Hardware dirty state (FEAT_HAFDBS): DBM=1 and writable.
      if (hi & DBM_H && (stage2 ? lo & AP2 : !(lo & AP2))) fl |= Flag.Dirty;
      if (hi & CONT_H) fl |= Flag.Contiguous;
      return fl;
    },

    leafMemType(lo) {
      return stage2 ? (lo >>> 2) & 0xf : (lo >>> 2) & 7;
    },

    reservedBits(lo, hi, level, kind) {
      // Address size fault: an output address beyond the configured PA size.
      if (kind !== EntryKind.Leaf && kind !== EntryKind.Table) return 0;
      const pa = oa(lo, hi);
      if (pa >= maxPa) return BigInt(pa - (pa % 2 ** cfg.outputBits));
      void level;
      return 0;
    },

    explainRestrictions(lo, hi, level, kind) {
      const name = `${levels[level].name}`;
      const out: Restriction[] = [];
      if (stage2) {
        if (kind !== EntryKind.Leaf) return out;
        if (!(lo & AP1)) out.push({ perm: Perm.Read, because: `${name} S2AP[0]=0 (no read)` }, { perm: Perm.UserRead, because: `${name} S2AP[0]=0 (no read)` });
        if (!(lo & AP2)) out.push({ perm: Perm.Write, because: `${name} S2AP[1]=0 (no write)` }, { perm: Perm.UserWrite, because: `${name} S2AP[1]=0 (no write)` });
        const xn = (hi >>> 21) & 3;
        if (xn === 1 || xn === 2) out.push({ perm: Perm.Exec, because: `${name} XN=${xn.toString(2).padStart(2, '0')}` });
        if (xn === 2 || xn === 3) out.push({ perm: Perm.UserExec, because: `${name} XN=${xn.toString(2).padStart(2, '0')}` });
        return out;
      }
      if (kind === EntryKind.Table) {
        if (cfg.hpd) return out;
        if (hi & APT1_H) out.push({ perm: Perm.Write, because: `${name} APTable[1]=1 (no write below)` }, { perm: Perm.UserWrite, because: `${name} APTable[1]=1 (no write below)` });
        if (hi & APT0_H) out.push({ perm: Perm.UserRead, because: `${name} APTable[0]=1 (no EL0 access below)` }, { perm: Perm.UserWrite, because: `${name} APTable[0]=1 (no EL0 access below)` });
        if (hi & PXNT_H) out.push({ perm: Perm.Exec, because: `${name} PXNTable=1` });
        if (hi & UXNT_H) out.push({ perm: twoEL ? Perm.UserExec : Perm.Exec, because: `${name} ${twoEL ? 'UXNTable' : 'XNTable'}=1` });
        return out;
      }
      if (lo & AP2) out.push({ perm: Perm.Write, because: `${name} AP[2]=1 (read-only)` }, { perm: Perm.UserWrite, because: `${name} AP[2]=1 (read-only)` });
      if (twoEL) {
        if (!(lo & AP1)) out.push({ perm: Perm.UserRead, because: `${name} AP[1]=0 (no EL0 data access)` }, { perm: Perm.UserWrite, because: `${name} AP[1]=0 (no EL0 data access)` });
        if (cfg.pan && (lo & AP1 || (cfg.epan && !(hi & UXN_H)))) {
          const why = lo & AP1 ? 'PSTATE.PAN=1 (EL0-accessible page)' : 'PSTATE.PAN=1 and SCTLR.EPAN=1 (EL0-executable page)';
          out.push({ perm: Perm.Read, because: why }, { perm: Perm.Write, because: why });
        }
        if (hi & PXN_H) out.push({ perm: Perm.Exec, because: `${name} PXN=1` });
        if (hi & UXN_H) out.push({ perm: Perm.UserExec, because: `${name} UXN=1` });
        if (lo & AP1 && !(lo & AP2)) out.push({ perm: Perm.Exec, because: 'EL0-writable, so PXN is implied' });
      } else if (hi & UXN_H) out.push({ perm: Perm.Exec, because: `${name} XN=1` });
      if (cfg.wxn) {
        out.push({ perm: Perm.Exec, because: 'SCTLR.WXN=1 and writable' });
        out.push({ perm: Perm.UserExec, because: 'SCTLR.WXN=1 and EL0-writable' });
      }
      return out;
    },

    describe(lo, hi, level, kind) {
      const fields: Field[] = [{ name: 'valid', value: (lo & VALID) !== 0 }];
      if (!(lo & VALID)) return fields;
      if (kind === EntryKind.Table) {
        fields.push({ name: 'type', value: 'table', description: `next level ${levels[level + 1]?.name ?? '?'}` });
        fields.push({ name: 'address', value: hex(oa(lo, hi)) });
        if (!stage2) {
          fields.push(
            { name: 'NSTable', value: (hi >>> 31) !== 0, description: 'non-secure for everything below', clear: 'security state from the entries below' },
            { name: 'APTable', value: (hi >>> 29) & 3, description: `${hi & APT1_H ? 'no write below; ' : ''}${hi & APT0_H ? 'no EL0 access below' : ''}${cfg.hpd ? ' (ignored: TCR.HPD=1)' : ''}` || 'no restriction' },
            { name: twoEL ? 'UXNTable' : 'XNTable', value: (hi & UXNT_H) !== 0, description: 'no EL0 (EL2: any) execution below', clear: 'no execute restriction from this level' },
            { name: 'PXNTable', value: (hi & PXNT_H) !== 0, description: 'no privileged execution below', clear: 'no privileged-execute restriction from this level' },
          );
        }
      } else if (kind === EntryKind.Leaf) {
        const blk = L(level) !== 3;
        fields.push({ name: 'type', value: blk ? 'block' : 'page', description: `${hex(size(level))} bytes` });
        fields.push({ name: 'address', value: hex(f.leafPa(lo, hi, level)) });
        if (stage2) {
          fields.push(
            { name: 'S2AP', value: (lo >>> 6) & 3, description: `${lo & AP1 ? 'read' : 'no read'}, ${lo & AP2 ? 'write' : 'no write'}` },
            { name: 'MemAttr', value: (lo >>> 2) & 0xf, description: s2Names[(lo >>> 2) & 0xf] },
            { name: 'XN', value: (hi >>> 21) & 3, description: 'execute-never (XN[1:0])' },
          );
        } else {
          const attr = (lo >>> 2) & 7;
          fields.push(
            { name: 'AttrIndx', value: attr, description: `${attrNames[attr]} (MAIR attribute ${attr})` },
            { name: 'AP', value: (lo >>> 6) & 3, description: ['EL1 RW, EL0 none', 'EL1 RW, EL0 RW', 'EL1 RO, EL0 none', 'EL1 RO, EL0 RO'][(lo >>> 6) & 3] },
            { name: 'NS', value: (lo & (1 << 5)) !== 0 },
            { name: 'nG', value: (lo & NG) !== 0, description: lo & NG ? 'not global: tagged with the ASID' : 'global: matches every ASID' },
            { name: twoEL ? 'UXN' : 'XN', value: (hi & UXN_H) !== 0 },
          );
          if (twoEL) fields.push({ name: 'PXN', value: (hi & PXN_H) !== 0 });
        }
        fields.push(
          { name: 'SH', value: ['non-shareable', 'reserved', 'outer shareable', 'inner shareable'][(lo >>> 8) & 3] },
          { name: 'AF', value: (lo & AF) !== 0, description: lo & AF ? 'accessed' : 'access flag clear: the first access faults (unless hardware AF update)' },
          { name: 'DBM', value: (hi & DBM_H) !== 0, description: 'dirty bit modifier', clear: 'no hardware dirty-state management' },
          { name: 'Contiguous', value: (hi & CONT_H) !== 0, description: 'part of a contiguous run sharing one TLB entry', clear: 'not part of a contiguous run' },
        );
      }
      const res = f.reservedBits(lo, hi, level, kind);
      if (res) fields.push({ name: 'address size fault', value: hex(res), description: `output address beyond ${cfg.outputBits} bits` });
      fields.push({ name: 'raw', value: hex(rawEntry(lo, hi), 16) });
      return fields;
    },

    flagString(lo, hi, level, perms) {
      // Linux arm64 ptdump: USR ro/RW NX/x SHD AF NG CON BLK UXN and the memory type.
      const blk = L(level) !== 3;
      return [
        perms & (Perm.UserRead | Perm.UserWrite) ? 'USR' : '   ',
        perms & (Perm.Write | Perm.UserWrite) ? 'RW' : 'ro',
        perms & Perm.Exec ? 'x ' : 'NX',
        ((lo >>> 8) & 3) === 3 ? 'SHD' : '   ',
        lo & AF ? 'AF' : '  ',
        lo & NG ? 'NG' : '  ',
        hi & CONT_H ? 'CON' : '   ',
        blk ? 'BLK' : '   ',
        perms & Perm.UserExec ? '   ' : 'UXN',
        memTypes[f.leafMemType(lo, hi, level)],
      ].join(' ');
    },
  };
  return f;
}

// ---- registers → address space ----

const IPS_BITS = [32, 36, 40, 42, 44, 48, 52];

const field = (v: bigint, lo: number, bits: number) => Number((v >> BigInt(lo)) & ((1n << BigInt(bits)) - 1n));

export const AARCH64_REGISTERS = [
  'ttbr0_el1', 'ttbr1_el1', 'tcr_el1', 'mair_el1', 'sctlr_el1', 'sctlr', 'id_aa64mmfr0_el1',
  'ttbr0_el2', 'ttbr1_el2', 'tcr_el2', 'mair_el2', 'sctlr_el2', 'hcr_el2', 'vttbr_el2', 'vtcr_el2', 'cpsr', 'pc', 'id_aa64mmfr1_el1',
];

function paRangeCap(regs: Registers, bits: number): number {
  const mmfr0 = regs.get('id_aa64mmfr0_el1');
  if (mmfr0 === undefined) return bits;
  return Math.min(bits, IPS_BITS[field(mmfr0, 0, 4)] ?? 48);
}

/** Root table address from a TTBR: BADDR bits 47:1 (plus 51:48 in bits 5:2 for 52-bit). */
function baddr(ttbr: bigint, wide52: boolean): number {
  let pa = ttbr & 0x0000fffffffffffen;
  if (wide52) pa = (pa & ~0x3en) | (((ttbr >> 2n) & 0xfn) << 48n);
  return Number(pa);
}

interface Half {
  readonly name: string;
  readonly upper: boolean;
  readonly cfg: A64Config;
  readonly ttbr: bigint;
  readonly tbi: boolean;
  readonly asid?: number;
}

function stage1Root(h: Half, notes: string[]): Root {
  const format = aarch64Format(h.cfg);
  const wide52 = h.cfg.outputBits === 52;
  const rootBytes = 2 ** format.levels[0].indexBits * 8;
  let tablePa = baddr(h.ttbr, wide52);
  const align = Math.max(64, rootBytes);
  if (tablePa % align !== 0) {
    notes.push(`${h.name}: table address ${hex(tablePa)} is not aligned to the ${rootBytes}-byte root table; low bits ignored`);
    tablePa -= tablePa % align;
  }
  const n = h.cfg.inputBits;
  const mask = (1n << BigInt(n)) - 1n;
  const ones = ((1n << 64n) - 1n) ^ mask;
  const info: [string, string][] = [
    ['granule', `${h.cfg.granule}K`], ['input', `${n}-bit`], ['start', format.levels[0].name],
  ];
  if (h.asid !== undefined) info.push(['ASID', String(h.asid)]);
  if (h.tbi) info.push(['TBI', 'top byte ignored']);
  return {
    name: h.name, format, tablePa: tablePa as Root['tablePa'], inputBits: n, info, half: h.upper ? 'upper' : 'lower', stage: 1,
    toVirt: (linear: number): VirtAddr => virtAddr((h.upper ? ones : 0n) | BigInt(linear)),
    toLinear: (va: bigint): number | undefined => {
      // With TBI the top byte is ignored; VA[55] then selects the half.
      const checkMask = h.tbi ? ((1n << 56n) - 1n) ^ mask : ones;
      const top = va & checkMask;
      if (top !== (h.upper ? checkMask : 0n)) return undefined;
      return Number(va & mask);
    },
    describeVa: (va: bigint): string | undefined => {
      const l = ((): number | undefined => {
        const checkMask = h.tbi ? ((1n << 56n) - 1n) ^ mask : ones;
        return (va & checkMask) === (h.upper ? checkMask : 0n) ? 0 : undefined;
      })();
      if (l !== undefined) return undefined;
      return `${hex(va)} is outside ${h.name}'s range (bits ${h.tbi ? 55 : 63}:${n} must all be ${h.upper ? 1 : 0})`;
    },
  };
}

function granule0(tg0: number): Granule | undefined {
  return tg0 === 0 ? 4 : tg0 === 1 ? 64 : tg0 === 2 ? 16 : undefined;
}

function granule1(tg1: number): Granule | undefined {
  return tg1 === 2 ? 4 : tg1 === 3 ? 64 : tg1 === 1 ? 16 : undefined;
}

/** EL1&0 (and EL2&0 with E2H): two halves from a TCR in the EL1 layout. */
function twoHalves(regs: Registers, el: 1 | 2, wanted: Set<string> | undefined, notes: string[]): Root[] {
  const sfx = `_el${el}`;
  const tcr = requireReg(regs, `tcr${sfx}`, `TCR_EL${el} gives the granules and input sizes`);
  const sctlr = regs.get(`sctlr${sfx}`) ?? (el === 1 ? regs.get('sctlr') : undefined);
  if (sctlr === undefined) notes.push(`SCTLR_EL${el} unknown: assuming the MMU is on and WXN=0`);
  else if (!(sctlr & 1n)) throw new RegisterError(`the stage 1 MMU is off (SCTLR_EL${el}.M=0): addresses are not translated`);
  const wxn = sctlr !== undefined && ((sctlr >> 19n) & 1n) === 1n;
  const mair = regs.get(`mair${sfx}`);
  if (mair === undefined) notes.push(`MAIR_EL${el} unknown: memory types shown as AttrIndx numbers`);
  const ips = paRangeCap(regs, IPS_BITS[field(tcr, 32, 3)] ?? 48);
  // PSTATE.PAN from CPSR bit 22; unknown: 1 when ID_AA64MMFR1_EL1.PAN (bits 23:20) shows FEAT_PAN.
  const cpsr = regs.get('cpsr');
  const mmfr1 = regs.get('id_aa64mmfr1_el1');
  const pan = cpsr !== undefined ? ((cpsr >> 22n) & 1n) === 1n : mmfr1 !== undefined && field(mmfr1, 20, 4) !== 0;
  if (cpsr === undefined) {
    notes.push(`control state unknown: assuming PSTATE.PAN=${pan ? 1 : 0} (${mmfr1 === undefined ? 'ID_AA64MMFR1_EL1 unknown, so no FEAT_PAN assumed' : pan ? 'ID_AA64MMFR1_EL1 shows FEAT_PAN' : 'no FEAT_PAN'}), as Linux runs outside its user-access windows (give --reg CPSR=…)`);
  }
  const epan = sctlr !== undefined && ((sctlr >> 57n) & 1n) === 1n;
  const ds = field(tcr, 59, 1) === 1;
  const asid16 = field(tcr, 36, 1) === 1;
  const a1 = field(tcr, 22, 1) === 1;
  const halves: Half[] = [];
  const want = (n: string) => !wanted || wanted.has(n);
  for (const upper of [false, true]) {
    const name = `ttbr${upper ? 1 : 0}${sfx}`;
    if (!want(name)) continue;
    const epd = field(tcr, upper ? 23 : 7, 1) === 1;
    if (epd) {
      notes.push(`${name.toUpperCase()} walks are disabled (TCR_EL${el}.EPD${upper ? 1 : 0}=1): those addresses fault`);
      if (wanted) throw new RegisterError(`${name.toUpperCase()} walks are disabled (TCR_EL${el}.EPD${upper ? 1 : 0}=1)`);
      continue;
    }
    const tsz = field(tcr, upper ? 16 : 0, 6);
    // Arm ARM D8.1.9: TnSZ is at least 12 (52-bit input, FEAT_LVA/LPA2) and at most 48 (FEAT_TTST,
    // 4K granule; 47 for 16K/64K); beyond that the input range is not a valid configuration.
    if (tsz < 12 || tsz > 48) throw new RegisterError(`TCR_EL${el}.T${upper ? 1 : 0}SZ=${tsz} is outside the architected range 12..48 (a ${64 - tsz}-bit input range)`);
    const g = upper ? granule1(field(tcr, 30, 2)) : granule0(field(tcr, 14, 2));
    if (!g) throw new RegisterError(`TCR_EL${el}.TG${upper ? 1 : 0} holds a reserved granule encoding`);
    const ttbr = requireReg(regs, name, `the ${upper ? 'upper' : 'lower'} half's table address`);
    const asidReg = a1 ? (upper ? ttbr : undefined) : upper ? undefined : ttbr;
    halves.push({
      name, upper, ttbr, tbi: field(tcr, upper ? 38 : 37, 1) === 1,
      asid: asidReg === undefined ? undefined : Number((asidReg >> 48n) & (asid16 ? 0xffffn : 0xffn)),
      cfg: { regime: el === 1 ? 'el1' : 'el2&0', granule: g, inputBits: 64 - tsz, outputBits: ips, ds, hpd: field(tcr, upper ? 42 : 41, 1) === 1, wxn, mair, pan, epan },
    });
  }
  return halves.map((h) => stage1Root(h, notes));
}

export function buildAarch64Space(regs: Registers, opts: SpaceOptions = {}): AddressSpace {
  const notes: string[] = [];
  const roots: Root[] = [];
  const names = (opts.roots ?? []).map((r) => r.toLowerCase());
  const norm = (n: string) => (/^ttbr[01]$/.test(n) ? `${n}_el1` : n === 'vttbr' ? 'vttbr_el2' : n);
  const wanted = names.length ? new Set(names.map(norm)) : undefined;
  const hcr = regs.get('hcr_el2') ?? 0n;
  const e2h = ((hcr >> 34n) & 1n) === 1n;

  if (!wanted || [...wanted].some((n) => n.endsWith('_el1') || n.startsWith('table@'))) {
    const el1Wanted = wanted ? new Set([...wanted].filter((n) => n.endsWith('_el1'))) : undefined;
    if (!wanted || el1Wanted!.size) roots.push(...twoHalves(regs, 1, el1Wanted, notes));
  }
  if (wanted?.has('ttbr0_el2') || wanted?.has('ttbr1_el2')) {
    if (e2h) roots.push(...twoHalves(regs, 2, new Set([...wanted].filter((n) => n.endsWith('_el2') && n.startsWith('ttbr'))), notes));
    else {
      if (wanted.has('ttbr1_el2')) throw new RegisterError('TTBR1_EL2 is used only with HCR_EL2.E2H=1');
      const tcr = requireReg(regs, 'tcr_el2', 'TCR_EL2 gives the EL2 granule and input size');
      const g = granule0(field(tcr, 14, 2));
      if (!g) throw new RegisterError('TCR_EL2.TG0 holds a reserved granule encoding');
      const sctlr = regs.get('sctlr_el2');
      roots.push(stage1Root({
        name: 'ttbr0_el2', upper: false, ttbr: requireReg(regs, 'ttbr0_el2', 'the EL2 table address'), tbi: field(tcr, 20, 1) === 1,
        cfg: {
          regime: 'el2', granule: g, inputBits: 64 - field(tcr, 0, 6), outputBits: paRangeCap(regs, IPS_BITS[field(tcr, 16, 3)] ?? 48),
          ds: field(tcr, 32, 1) === 1, hpd: field(tcr, 24, 1) === 1, wxn: sctlr !== undefined && ((sctlr >> 19n) & 1n) === 1n, mair: regs.get('mair_el2'),
        },
      }, notes));
    }
  }
  if (wanted?.has('vttbr_el2')) roots.push(stage2Root(regs, notes));
  for (const n of wanted ?? []) {
    if (!n.startsWith('table@')) continue;
    const base = roots.find((r) => r.name === 'ttbr0_el1') ?? twoHalves(regs, 1, new Set(['ttbr0_el1']), notes)[0];
    const pa = Number(BigInt(n.slice(6)));
    roots.push({ ...base, name: `table@${hex(pa)}`, tablePa: pa as Root['tablePa'] });
  }
  const known = new Set(['ttbr0_el1', 'ttbr1_el1', 'ttbr0_el2', 'ttbr1_el2', 'vttbr_el2']);
  for (const n of wanted ?? []) {
    if (!known.has(n) && !n.startsWith('table@')) {
      throw new RegisterError(`unknown root '${n}' for AArch64 (use ttbr0, ttbr1, ttbr0_el2, ttbr1_el2, vttbr or table@0x…)`);
    }
  }
  return { arch: 'aarch64', roots: roots.filter((r, i) => !wanted || wanted.has(r.name) || r.name.startsWith('table@') || i < 0), notes };
}

/** Stage 2: IPA → PA from VTTBR_EL2/VTCR_EL2, with concatenated root tables. */
function stage2Root(regs: Registers, notes: string[]): Root {
  const vtcr = requireReg(regs, 'vtcr_el2', 'VTCR_EL2 gives the stage 2 granule, input size and start level');
  const vttbr = requireReg(regs, 'vttbr_el2', 'the stage 2 table address');
  const g = granule0(field(vtcr, 14, 2));
  if (!g) throw new RegisterError('VTCR_EL2.TG0 holds a reserved granule encoding');
  const inputBits = 64 - field(vtcr, 0, 6);
  const sl0 = field(vtcr, 6, 2);
  // SL0 → start level: 4K: 0→L2, 1→L1, 2→L0; 16K/64K: 0→L3, 1→L2, 2→L1.
  const startLevel = g === 4 ? 2 - sl0 : 3 - sl0;
  const s = granuleShift(g);
  const b = s - 3;
  const shift = s + (3 - startLevel) * b;
  const rootIndexBits = inputBits - shift;
  if (rootIndexBits > b + 4 || rootIndexBits < 1) {
    throw new RegisterError(`VTCR_EL2: T0SZ=${64 - inputBits} with SL0=${sl0} needs ${rootIndexBits} root index bits (at most ${b + 4}, 16 concatenated tables)`);
  }
  const cfg: A64Config = {
    regime: 'stage2', granule: g, inputBits, outputBits: paRangeCap(regs, IPS_BITS[field(vtcr, 16, 3)] ?? 48), ds: field(vtcr, 32, 1) === 1,
    hpd: true, wxn: false, startLevel, concat: 2 ** Math.max(0, rootIndexBits - b),
  };
  const format = aarch64Format(cfg);
  const tablePa = baddr(vttbr, cfg.outputBits === 52);
  const mask = (1n << BigInt(inputBits)) - 1n;
  if ((cfg.concat ?? 1) > 1) notes.push(`stage 2 root: ${cfg.concat} concatenated tables`);
  return {
    name: 'vttbr_el2', format, tablePa: tablePa as Root['tablePa'], inputBits, stage: 2,
    info: [['VMID', String(Number((vttbr >> 48n) & 0xffffn))], ['granule', `${g}K`], ['IPA', `${inputBits}-bit`], ['start', format.levels[0].name]],
    toVirt: (linear: number) => virtAddr(BigInt(linear)),
    toLinear: (ipa: bigint) => (ipa <= mask ? Number(ipa) : undefined),
    describeVa: (ipa: bigint) => (ipa > mask ? `${hex(ipa)} is beyond the ${inputBits}-bit IPA space` : undefined),
  };
}
