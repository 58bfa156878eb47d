// Rights contract v2, table-driven per architecture: each case is one page under one control
// state, with the manual's rule it checks. The walk (dump), translate and the lazy tree must give
// the same seven fields; the note for an unknown control bit is printed once.
import assert from 'node:assert/strict';
import { Flag } from '../../../src/core/format';
import { spaceFromRegisters } from '../../../src/core/formats';
import { effectiveRights, Rights } from '../../../src/core/ops/explain';
import { PageTableSession } from '../../../src/core/ops/session';
import { childTable, rootTable, tableEntries } from '../../../src/core/tree';
import { Arch } from '../../../src/core/format';
import { SparseMemory } from '../../support/sparseMemory';

type R = Partial<Rights>;
const letters = (r: Rights) =>
  `${r.read ? 'r' : '-'}${r.write ? 'w' : '-'}${r.exec ? 'x' : '-'} ${r.userRead ? 'r' : '-'}${r.userWrite ? 'w' : '-'}${r.userExec ? 'x' : '-'}`;

interface Case {
  what: string;
  /** The manual's section (and QEMU's function where it is the oracle). */
  cite: string;
  regs: Record<string, bigint>;
  /** "rwx rwx": privileged, then user. */
  want: string;
  global?: boolean;
  note?: RegExp;
  why?: RegExp;
}

/** One page at VA 0 through a chain of tables, from the leaf entry and the table entries' bits. */
async function check(arch: Arch, mem: SparseMemory, c: Case): Promise<void> {
  const space = spaceFromRegisters(arch, new Map(Object.entries(c.regs)));
  const s = new PageTableSession(space, mem);
  const [leaf] = await s.leaves();
  assert.ok(leaf, `${c.what}: a leaf`);
  const r = effectiveRights(leaf.perms);
  assert.equal(letters(r), c.want, `${c.what} (${c.cite})`);
  assert.equal(r.user, r.userRead || r.userWrite);
  const t = await s.translate(BigInt(leaf.root.toVirt(leaf.linear)));
  assert.deepEqual(t.rights, r, `${c.what}: translate = dump`);
  if (c.why) assert.ok(t.provenance!.some((p) => c.why!.test(p.because)), `${c.what}: ${JSON.stringify(t.provenance)}`);
  if (c.global !== undefined) assert.equal((leaf.flags & Flag.Global) !== 0, c.global, `${c.what}: global`);
  if (c.note) assert.equal(space.notes.filter((n) => c.note!.test(n)).length, 1, `${c.what}: one note: ${space.notes.join(' | ')}`);
  // The lazy tree, entry by entry down to the leaf, gives the same rights and flags.
  let node = rootTable(space.roots[0]);
  for (;;) {
    const es = await tableEntries(node, s.store);
    if (!Array.isArray(es)) throw es;
    const e = es.find((x) => x.linear <= leaf.linear && leaf.linear < x.linear + x.size)!;
    const next = childTable(e);
    if (!next) {
      assert.equal(e.perms, leaf.perms, `${c.what}: tree = dump`);
      assert.equal(e.flags & Flag.Global, leaf.flags & Flag.Global);
      break;
    }
    node = next;
  }
}

describe('rights v2: x86 (Intel SDM vol. 3 §4.6, §4.10.2)', () => {
  const P = 1n, RW = 2n, US = 4n, G = 256n, NX = 1n << 63n;
  const page = (leaf: bigint, table = P | RW | US) => {
    const m = new SparseMemory();
    m.write64(0x1000, 0x2000n | table);
    m.write64(0x2000, 0x3000n | table);
    m.write64(0x3000, 0x4000n | table);
    m.write64(0x4000, 0x100000n | leaf);
    return m;
  };
  const base = { cr0: 0x80010011n, cr3: 0x1000n, cr4: 0x20n, efer: 0xd00n };
  const SMEP = 1n << 20n, SMAP = 1n << 21n, PKE = 1n << 22n, PGE = 1n << 7n, AC = 1n << 18n;
  const pk = (k: number) => BigInt(k) << 59n;
  const cases: [bigint, bigint | undefined, Case][] = [
    [P | RW | US, undefined, { what: 'user RW page', cite: '§4.6.1', regs: base, want: 'rwx rwx' }],
    [P | US, undefined, { what: 'user RO page, CR0.WP=1', cite: '§4.6.1', regs: base, want: 'r-x r-x', why: /R\/W=0|not granted/ }],
    [P | US, undefined, { what: 'user RO page, CR0.WP=0: supervisor writes ignore R/W', cite: '§4.6.1 (CR0.WP)', regs: { ...base, cr0: 0x80000011n }, want: 'rwx r-x' }],
    [P, undefined, { what: 'supervisor RO page, CR0.WP=0', cite: '§4.6.1', regs: { ...base, cr0: 0x80000011n }, want: 'rwx ---' }],
    [P | RW | US, undefined, { what: 'CR4.SMEP: no supervisor execute of user pages', cite: '§4.6.1 (SMEP)', regs: { ...base, cr4: 0x20n | SMEP }, want: 'rw- rwx', why: /SMEP/ }],
    [P | RW | US, undefined, { what: 'CR4.SMAP, EFLAGS unknown: AC=0 assumed (note)', cite: '§4.6.1 (SMAP)', regs: { ...base, cr4: 0x20n | SMAP }, want: '--x rwx', note: /assuming EFLAGS\.AC=0/, why: /CR4\.SMAP=1 and EFLAGS\.AC=0/ }],
    [P | RW | US, undefined, { what: 'CR4.SMAP with EFLAGS.AC=1', cite: '§4.6.1 (SMAP, AC)', regs: { ...base, cr4: 0x20n | SMAP, eflags: AC }, want: 'rwx rwx' }],
    [P | RW, undefined, { what: 'CR4.SMAP on a supervisor page', cite: '§4.6.1', regs: { ...base, cr4: 0x20n | SMAP, eflags: 0n }, want: 'rwx ---' }],
    [P | RW | US | pk(3), undefined, { what: 'PKRU.AD3: no data access for either actor', cite: '§4.6.2', regs: { ...base, cr4: 0x20n | PKE, pkru: 1n << 6n }, want: '--x --x', why: /PKRU\.AD3=1/ }],
    [P | RW | US | pk(3), undefined, { what: 'PKRU.WD3: no writes', cite: '§4.6.2', regs: { ...base, cr4: 0x20n | PKE, pkru: 2n << 6n }, want: 'r-x r-x', why: /PKRU\.WD3=1/ }],
    [P | RW | US, undefined, { what: 'PKE with PKRU unknown: Linux default, key 0 open (note)', cite: '§4.6.2', regs: { ...base, cr4: 0x20n | PKE }, want: 'rwx rwx', note: /PKRU=0x55555554/ }],
    [P | RW | US | pk(1), undefined, { what: 'PKE with PKRU unknown: key 1 access-disabled', cite: '§4.6.2', regs: { ...base, cr4: 0x20n | PKE }, want: '--x --x' }],
    [P | RW | NX, undefined, { what: 'XD with EFER.NXE=1', cite: '§4.6.2', regs: base, want: 'rw- ---' }],
    [P | RW | G, undefined, { what: 'G with CR4.PGE=1 is global', cite: '§4.10.2.4', regs: { ...base, cr4: 0x20n | PGE }, want: 'rwx ---', global: true }],
    [P | RW | G, undefined, { what: 'G with CR4.PGE=0 is not', cite: '§4.10.2.4', regs: base, want: 'rwx ---', global: false, note: /CR4\.PGE=0/ }],
    [P | RW | US, P | US, { what: 'R/W=0 above a user RW leaf', cite: '§4.6.1', regs: base, want: 'r-x r-x' }],
    [P | RW | US, P | RW, { what: 'U/S=0 above a user leaf', cite: '§4.6.1', regs: base, want: 'rwx ---' }],
  ];
  for (const [leaf, table, c] of cases) it(`${c.what} (${c.cite})`, () => check('x86_64', page(leaf, table), c));
});

describe('rights v2: AArch64 (Arm ARM D8.4 permissions, QEMU target/arm/ptw.c get_S1prot)', () => {
  const V = 3n, AF = 1n << 10n, AP1 = 1n << 6n, AP2 = 1n << 7n, PXN = 1n << 53n, UXN = 1n << 54n, NG = 1n << 11n;
  const page = (leaf: bigint) => {
    const m = new SparseMemory();
    m.write64(0x1000, 0x2000n | V);
    m.write64(0x2000, 0x3000n | V);
    m.write64(0x3000, 0x100000n | V | AF | leaf);
    return m;
  };
  // 39-bit TTBR0 (T0SZ 25), 4K granule, EPD1.
  const base = { ttbr0_el1: 0x1000n, tcr_el1: 25n | (1n << 23n) | (5n << 32n), sctlr_el1: 1n, mair_el1: 0xffn, cpsr: 0x3c5n };
  const PAN = 1n << 22n;
  const cases: [bigint, Case][] = [
    [AP1, { what: 'EL0 RW page: implicit PXN', cite: 'D8.4.1 (AP[2:1]=01)', regs: base, want: 'rw- rwx', why: /PXN is implied/ }],
    [AP1 | AP2, { what: 'EL0 RO page', cite: 'D8.4.1 (AP[2:1]=11)', regs: base, want: 'r-x r-x' }],
    [AP1 | AP2 | UXN, { what: 'PSTATE.PAN=1: no EL1 data access to EL0-readable pages', cite: 'D8.4.2 (PAN)', regs: { ...base, cpsr: 0x3c5n | PAN }, want: '--x r--', why: /PSTATE\.PAN=1/ }],
    [UXN, { what: 'PAN does not touch EL1-only pages', cite: 'D8.4.2', regs: { ...base, cpsr: 0x3c5n | PAN }, want: 'rwx ---' }],
    [PXN, { what: 'SCTLR.EPAN: PAN covers EL0-executable pages too', cite: 'D8.4.2 (FEAT_PAN3)', regs: { ...base, cpsr: 0x3c5n | PAN, sctlr_el1: 1n | (1n << 57n) }, want: '--- --x' }],
    [PXN, { what: 'without EPAN an EL0-execute-only page stays EL1-accessible', cite: 'D8.4.2', regs: { ...base, cpsr: 0x3c5n | PAN }, want: 'rw- --x' }],
    [AP1 | AP2 | UXN, { what: 'CPSR unknown, ID_AA64MMFR1_EL1 shows PAN: PAN=1 assumed (note)', cite: 'D8.4.2', regs: { ...base, cpsr: undefined as never, id_aa64mmfr1_el1: 1n << 20n }, want: '--x r--', note: /assuming PSTATE\.PAN=1/ }],
    [AP1 | AP2 | UXN, { what: 'CPSR and MMFR1 unknown: PAN=0 assumed (note)', cite: 'D8.4.2', regs: { ...base, cpsr: undefined as never }, want: 'r-x r--', note: /assuming PSTATE\.PAN=0/ }],
    [UXN, { what: 'SCTLR.WXN: writable at EL1 is not EL1-executable', cite: 'D8.4.3 (WXN)', regs: { ...base, sctlr_el1: 1n | (1n << 19n) }, want: 'rw- ---', why: /WXN/ }],
    [AP1 | PXN, { what: 'WXN: EL0-writable is not EL0-executable', cite: 'D8.4.3', regs: { ...base, sctlr_el1: 1n | (1n << 19n) }, want: 'rw- rw-' }],
    [UXN | NG, { what: 'nG=1 is not global', cite: 'D8.16 (nG)', regs: base, want: 'rwx ---', global: false }],
    [UXN, { what: 'nG=0 is global', cite: 'D8.16', regs: base, want: 'rwx ---', global: true }],
  ];
  for (const [leaf, c] of cases) {
    it(`${c.what} (${c.cite})`, () => {
      const regs = Object.fromEntries(Object.entries(c.regs).filter(([, v]) => v !== undefined)) as Record<string, bigint>;
      return check('aarch64', page(leaf), { ...c, regs });
    });
  }
});

describe('rights v2: RISC-V (privileged spec §4.3.1 PTE format, §3.1.6.3 SUM/MXR; QEMU get_physical_address)', () => {
  const V = 1n, R = 2n, W = 4n, X = 8n, U = 16n, G = 32n, A = 64n, D = 128n;
  const pte = (pa: number, f: bigint) => ((BigInt(pa) >> 12n) << 10n) | f;
  const page = (leaf: bigint, nonLeaf = V) => {
    const m = new SparseMemory();
    m.write64(0x1000, pte(0x2000, nonLeaf));
    m.write64(0x2000, pte(0x3000, V));
    m.write64(0x3000, pte(0x100000, V | A | D | leaf));
    return m;
  };
  const base = { satp: (8n << 60n) | 1n, sstatus: 0n };
  const SUM = 1n << 18n, MXR = 1n << 19n;
  const cases: [bigint, bigint | undefined, Case][] = [
    [R | W | U, undefined, { what: 'U page, SUM=0: S-mode neither reads nor writes it', cite: '§3.1.6.3 (SUM)', regs: base, want: '--- rw-', why: /SUM=0/ }],
    [R | W | U, undefined, { what: 'U page, SUM=1: S-mode reads and writes', cite: '§3.1.6.3', regs: { ...base, sstatus: SUM }, want: 'rw- rw-' }],
    [R | X | U, undefined, { what: 'U page is never S-executable', cite: '§4.3.1 (U)', regs: { ...base, sstatus: SUM }, want: 'r-- r-x', why: /never executes/ }],
    [X, undefined, { what: 'execute-only S page, MXR=0', cite: '§3.1.6.3 (MXR)', regs: base, want: '--x ---' }],
    [X, undefined, { what: 'execute-only S page, MXR=1: readable', cite: '§3.1.6.3 (MXR)', regs: { ...base, sstatus: MXR }, want: 'r-x ---' }],
    [X | U, undefined, { what: 'execute-only U page, MXR=1: U-mode reads it', cite: '§3.1.6.3', regs: { ...base, sstatus: MXR }, want: '--- r-x' }],
    [R | W, undefined, { what: 'sstatus unknown: SUM=0, MXR=0 assumed (note)', cite: '§3.1.6.3', regs: { satp: base.satp }, want: 'rw- ---', note: /assuming sstatus\.SUM=0 and MXR=0/ }],
    [R | W | G, undefined, { what: 'G in the leaf', cite: '§4.3.1 (G)', regs: base, want: 'rw- ---', global: true }],
    [R | W, V | G, { what: 'G in a non-leaf PTE: everything below is global', cite: '§4.3.1 (G, non-leaf)', regs: base, want: 'rw- ---', global: true }],
    [R | W, undefined, { what: 'no G anywhere', cite: '§4.3.1', regs: base, want: 'rw- ---', global: false }],
  ];
  for (const [leaf, nonLeaf, c] of cases) it(`${c.what} (${c.cite})`, () => check('riscv64', page(leaf, nonLeaf), c));
});
