// Random well-formed page tables for property tests, encoded from the architecture manuals (not
// by the core's formats), with the model they were built from.
import fc from 'fast-check';
import { Arch } from '../../src/core/format';
import { spaceFromRegisters } from '../../src/core/formats';
import { PageTableSession } from '../../src/core/ops/session';
import { Leaf } from '../../src/core/walker';
import { SparseMemory } from './sparseMemory';

export interface Rights { write: boolean; user: boolean; exec: boolean }
/** A mapping request: per-level indices from the root down to the leaf level, and rights. */
export interface Req { path: number[]; frame: number; leaf: Rights; tables: Rights[] }

export interface ArchModel {
  arch: Arch;
  levels: number; // 512-entry levels, 9 index bits each, 4 KiB at the last
  leafLevels: readonly number[]; // levels where a block/page may sit
  table(pa: number, r: Rights): bigint;
  leaf(pa: number, level: number, r: Rights): bigint;
  regs(root: number): Map<string, bigint>;
  /** Effective rights from the rights of every table entry above and the leaf (the manual's rule). */
  effective(tables: Rights[], leaf: Rights): Partial<Rights>;
  checksExec: boolean;
}

const B = (b: boolean, v: bigint) => (b ? v : 0n);
const all = (rs: Rights[], k: keyof Rights) => rs.every((r) => r[k]);

// Intel SDM vol. 3 §4.5: P=1, R/W=2, U/S=4, PS=0x80, XD=bit 63. CR0.WP=1, EFER.NXE=1, no SMEP.
export const x86_64: ArchModel = {
  arch: 'x86_64', levels: 4, leafLevels: [1, 2, 3],
  table: (pa, r) => BigInt(pa) | 1n | B(r.write, 2n) | B(r.user, 4n) | B(!r.exec, 1n << 63n),
  leaf: (pa, level, r) => BigInt(pa) | 1n | B(r.write, 2n) | B(r.user, 4n) | B(level < 3, 0x80n) | B(!r.exec, 1n << 63n),
  regs: (root) => new Map([['cr0', 0x80010011n], ['cr3', BigInt(root)], ['cr4', 0x20n], ['efer', 0xd00n]]),
  effective: (t, l) => {
    const rs = [...t, l];
    return { write: all(rs, 'write'), user: all(rs, 'user'), exec: all(rs, 'exec') };
  },
  checksExec: true,
};

// RISC-V privileged spec §4.3/4.4: V=1 R=2 W=4 X=8 U=16 A=64 D=128, PPN at bit 10; non-leaf
// entries have R=W=X=0 and no rights. sstatus.SUM=1: S-mode reads/writes U pages, never executes them.
export const sv39: ArchModel = {
  arch: 'riscv64', levels: 3, leafLevels: [0, 1, 2],
  table: (pa) => (BigInt(pa / 4096) << 10n) | 1n,
  leaf: (pa, _level, r) => (BigInt(pa / 4096) << 10n) | 1n | 2n | B(r.write, 4n) | B(r.exec, 8n) | B(r.user, 16n) | 64n | 128n,
  regs: (root) => new Map([['satp', (8n << 60n) | BigInt(root / 4096)], ['sstatus', 1n << 18n]]),
  effective: (_t, l) => ({ write: l.write, user: l.user, exec: l.exec && !l.user }),
  checksExec: true,
};

// Arm ARM D8.3: table = 0b11 with APTable[0] (bit 61, no EL0 below) and APTable[1] (bit 62, no
// write below); block = 0b01, page = 0b11 at L3; AF bit 10; AP[2:1] at bits 7:6 (AP[1]: EL0
// access, AP[2]: read-only). 4K granule, T0SZ=16: four levels, blocks at L1 and L2.
export const a64: ArchModel = {
  arch: 'aarch64', levels: 4, leafLevels: [1, 2, 3],
  table: (pa, r) => BigInt(pa) | 3n | B(!r.user, 1n << 61n) | B(!r.write, 1n << 62n),
  leaf: (pa, level, r) => BigInt(pa) | (level === 3 ? 3n : 1n) | (1n << 10n) | B(r.user, 1n << 6n) | B(!r.write, 1n << 7n),
  regs: (root) => new Map([
    ['ttbr0_el1', BigInt(root)], ['ttbr1_el1', 0n],
    // T0SZ=16, TG0=4K, T1SZ=16, TG1=4K, IPS=48 bits, EPD1 (no TTBR1 walks)
    ['tcr_el1', 16n | (16n << 16n) | (2n << 30n) | (5n << 32n) | (1n << 23n)],
    ['mair_el1', 0xffn], ['sctlr', 0x30d0199dn & ~(1n << 19n)],
  ]),
  effective: (t, l) => ({ write: all([...t, l], 'write'), user: all([...t, l], 'user') }),
  checksExec: false, // EL1 exec also depends on EL0-writability (implicit PXN): unit-tested elsewhere
};

export const rights = fc.record({ write: fc.boolean(), user: fc.boolean(), exec: fc.boolean() });

export function reqArb(m: ArchModel): fc.Arbitrary<Req> {
  return fc.constantFrom(...m.leafLevels).chain((level) =>
    fc.record({
      // Few distinct indices per level, so tables are shared and subtrees collide.
      path: fc.tuple(...Array.from({ length: level + 1 }, (_, i) => (i === 0 ? fc.integer({ min: 0, max: 2 }) : fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 511 }))))),
      frame: fc.integer({ min: 0, max: 15 }), // small pool: many aliases
      leaf: rights,
      tables: fc.array(rights, { minLength: level, maxLength: level }),
    }),
  );
}

export interface Built { mem: SparseMemory; root: number; leaves: Map<string, { pa: number; size: number; r: Partial<Rights> }> }

/** Builds the tables for the requests (first wins on conflicts) and the expected leaves. */
export function build(m: ArchModel, reqs: Req[]): Built {
  const mem = new SparseMemory();
  let next = 0x100000;
  const alloc = () => ((next += 4096), next - 4096);
  const root = alloc();
  // Node: a table with its children, or a leaf marker.
  type Node = { pa: number; kids: Map<number, Node>; rights: Rights[] } | 'leaf';
  const top: Node = { pa: root, kids: new Map(), rights: [] };
  const leaves: Built['leaves'] = new Map();
  for (const q of reqs) {
    let node = top;
    let ok = true;
    for (let lv = 0; lv < q.path.length - 1 && ok; lv++) {
      const kid = node.kids.get(q.path[lv]);
      if (kid === 'leaf') ok = false;
      else if (kid) node = kid;
      else {
        const t = { pa: alloc(), kids: new Map(), rights: [...node.rights, q.tables[lv]] };
        mem.write64(node.pa + 8 * q.path[lv], m.table(t.pa, q.tables[lv]));
        node.kids.set(q.path[lv], t);
        node = t;
      }
    }
    const lv = q.path.length - 1;
    const idx = q.path[lv];
    if (!ok || node.kids.has(idx)) continue;
    const size = 2 ** (12 + 9 * (m.levels - 1 - lv));
    const pa = q.frame * size;
    mem.write64(node.pa + 8 * idx, m.leaf(pa, lv, q.leaf));
    node.kids.set(idx, 'leaf');
    let linear = 0;
    for (let i = 0; i <= lv; i++) linear += q.path[i] * 2 ** (12 + 9 * (m.levels - 1 - i));
    leaves.set(`0x${linear.toString(16)}`, { pa, size, r: m.effective(node.rights, q.leaf) });
  }
  return { mem, root, leaves };
}


/** Leaves of random tables in both halves: on AArch64 the same tables as TTBR1 too (EPD1 cleared: VAs 0xffff…). */
export async function randomLeavesBothHalves(m: ArchModel, reqs: Req[]): Promise<Leaf[]> {
  const b = build(m, reqs);
  const regs = m.regs(b.root);
  if (m === a64) {
    regs.set('ttbr1_el1', BigInt(b.root));
    regs.set('tcr_el1', regs.get('tcr_el1')! & ~(1n << 23n));
  }
  return new PageTableSession(spaceFromRegisters(m.arch, regs), b.mem).leaves();
}
