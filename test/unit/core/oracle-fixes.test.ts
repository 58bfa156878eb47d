// Bugs the QEMU oracle tests (test/integration/riscv, aarch64) found, on hand-built tables:
// RISC-V rights of user pages under sstatus.SUM (v2: the same rule for S-mode read and write); translate() of an unaligned VA above
// 2^53 rounded into the neighbouring page; translate() of a TBI-tagged VA added the tag to the PA.
import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { translate } from '../../../src/core/ops/translate';
import { TableStore } from '../../../src/core/walker';
import { SparseMemory } from '../../support/sparseMemory';

const V = 1n, R = 2n, W = 4n, X = 8n, U = 16n, A = 64n, D = 128n;
const pte = (pa: number, flags: bigint) => ((BigInt(pa) >> 12n) << 10n) | flags;

// Sv57, root at 0x1000: TOP[511] → L3 0x2000, [511] → L2 0x3000, [510] → L1 0x4000, [0] → L0 0x5000.
function sv57(): { mem: SparseMemory; regs: Map<string, bigint> } {
  const mem = new SparseMemory();
  mem.write64(0x1000 + 8 * 511, pte(0x2000, V));
  mem.write64(0x2000 + 8 * 511, pte(0x3000, V));
  mem.write64(0x3000 + 8 * 510, pte(0x4000, V));
  mem.write64(0x4000 + 8 * 0, pte(0x5000, V));
  mem.write64(0x5000 + 8 * 2, pte(0x80002000, V | R | W | A | D)); // kernel RW
  mem.write64(0x5000 + 8 * 3, pte(0x80000000, V | R | X | A)); // kernel text
  mem.write64(0x5000 + 8 * 4, pte(0x80300000, V | R | W | U | A | D)); // user RW
  mem.write64(0x5000 + 8 * 5, pte(0x80301000, V | R | U | A)); // user RO
  return { mem, regs: new Map([['satp', (10n << 60n) | 1n], ['mstatus', 0n]]) };
}

describe('RISC-V fixes found by the QEMU oracle', () => {
  // Rights v2 (privileged spec §4.3.1, sstatus.SUM): U-mode reads and writes a user RW page;
  // S-mode does neither with SUM=0 (v1 kept `write` there and dropped only `read`).
  it('gives U-mode the user page\'s R/W and S-mode nothing without SUM, on the same rule for read and write', async () => {
    const { mem, regs } = sv57();
    const space = spaceFromRegisters('riscv64', regs);
    const store = new TableStore(mem);
    const rw = await translate(space, 0xffffffff80004000n, store);
    assert.deepEqual(rw.rights, { read: false, write: false, exec: false, userRead: true, userWrite: true, userExec: false, user: true });
    const ro = await translate(space, 0xffffffff80005000n, store);
    assert.deepEqual(ro.rights, { read: false, write: false, exec: false, userRead: true, userWrite: false, userExec: false, user: true });
    assert.ok(ro.provenance?.some((p) => p.permName === 'userWrite' && /W=0/.test(p.because)), JSON.stringify(ro.provenance));
    assert.ok(rw.provenance?.some((p) => p.permName === 'read' && /SUM=0/.test(p.because)), JSON.stringify(rw.provenance));
    assert.ok(rw.provenance?.some((p) => p.permName === 'write' && /SUM=0/.test(p.because)), JSON.stringify(rw.provenance));
    // With SUM=1 S-mode reads and writes it too, and still never executes it.
    const sum = await translate(spaceFromRegisters('riscv64', new Map([...regs, ['mstatus', 1n << 18n]])), 0xffffffff80004000n, new TableStore(mem));
    assert.deepEqual(sum.rights, { read: true, write: true, exec: false, userRead: true, userWrite: true, userExec: false, user: true });
  });

  it('translates the last byte of a page above 2^53 to that page, not the next one', async () => {
    const { mem, regs } = sv57();
    const space = spaceFromRegisters('riscv64', regs);
    const store = new TableStore(mem);
    const t = await translate(space, 0xffffffff80002fffn, store);
    assert.equal(t.kind, 'mapped');
    assert.equal(t.pa, 0x80002fff);
    assert.equal(t.pageVa, '0xffffffff80002000');
    const u = await translate(space, 0xffffffff80003801n, store);
    assert.equal(u.pa, 0x80000801);
  });
});

describe('AArch64 fixes found by the QEMU oracle', () => {
  it('translates a TBI-tagged TTBR0 address to the PA of the untagged one', async () => {
    const mem = new SparseMemory();
    // 4K granule, 39-bit TTBR0 (T0SZ 25) with TBI0: L1 0x1000 → L2 0x2000 → L3 0x3000 → page
    mem.write64(0x1000, 0x2000n | 3n);
    mem.write64(0x2000, 0x3000n | 3n);
    mem.write64(0x3000 + 8 * 4, 0x40204000n | 3n | (1n << 10n));
    const tcr = 25n | (25n << 16n) | (2n << 30n) | (5n << 32n) | (1n << 37n);
    const space = spaceFromRegisters('aarch64', new Map([['ttbr0_el1', 0x1000n], ['ttbr1_el1', 0x4000n], ['tcr_el1', tcr], ['sctlr_el1', 1n]]));
    const store = new TableStore(mem);
    const t = await translate(space, 0x5a00000000004abcn, store);
    assert.equal(t.kind, 'mapped');
    assert.equal(t.pa, 0x40204abc);
    assert.equal(t.pageVa, '0x4000');
  });
});
