// Writable aliases are findings for write-protected kernel code only: W+X code is already a w+x
// finding, and user code that the kernel's direct map also maps writable is Linux's design (one
// info count). Device memory outside RAM is named as such; cacheable mappings outside RAM warn.
import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { PageTableSession } from '../../../src/core/ops/session';
import { SparseMemory } from '../../support/sparseMemory';

const P = 1n, RW = 2n, PCD = 0x10n, NX = 1n << 63n;
const KERNEL = 0xffffff8000000000n; // PML4[511]

function space() {
  return spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', 0x1000n], ['cr4', 0x20n], ['efer', 0xd00n]]));
}

describe('audit: writable aliases of code', () => {
  it('reports a writable alias of read-only kernel code with its VA, none for W+X code, and counts user code aliases as info', async () => {
    const m = new SparseMemory();
    m.write64(0x1000 + 8 * 511, 0x2000n | P | RW); // PML4[511]: kernel half
    m.write64(0x2000, 0x3000n | P | RW); // PDPT[0]
    m.write64(0x3000, 0x4000n | P | RW); // PD[0]
    m.write64(0x4000 + 8 * 1, 0x100000n | P); // KERNEL+0x1000: kernel code, read-only
    m.write64(0x4000 + 8 * 2, 0x100000n | P | RW | NX); // KERNEL+0x2000: writable alias of it
    m.write64(0x4000 + 8 * 3, 0x200000n | P | RW); // KERNEL+0x3000: W+X code
    m.write64(0x4000 + 8 * 4, 0x200000n | P | RW | NX); // KERNEL+0x4000: writable alias of W+X code
    m.write64(0x4000 + 8 * 5, 0x300000n | P | RW | NX); // KERNEL+0x5000: writable alias of user code
    m.write64(0x1000, 0x5000n | P | RW | 4n); // PML4[0]: user half
    m.write64(0x5000, 0x6000n | P | RW | 4n);
    m.write64(0x6000, 0x7000n | P | RW | 4n);
    m.write64(0x7000 + 8 * 1, 0x300000n | P | 4n); // 0x1000: user code, read-only
    const r = await new PageTableSession(space(), m).audit();
    const aliases = r.findings.filter((f) => f.kind === 'writable-alias-of-exec');
    const hex = (v: bigint) => '0x' + v.toString(16);
    assert.deepEqual(aliases.map((f) => [f.va, f.aliasVa, f.pa]), [[hex(KERNEL + 0x1000n), hex(KERNEL + 0x2000n), '0x100000']]);
    assert.equal(r.findings.filter((f) => f.kind === 'w+x').length, 1);
    const user = r.findings.filter((f) => f.kind === 'user-code-writable-alias');
    assert.equal(user.length, 1);
    assert.equal(user[0].severity, 'info');
    assert.match(user[0].message, /^4K of user code \(1 run\) is also mapped writable/);
  });

  it('device memory outside RAM is named as such (info); a cacheable mapping outside RAM is info with its type', async () => {
    const m = new SparseMemory(16 * 1024 * 1024);
    m.write64(0x1000 + 8 * 511, 0x2000n | P | RW);
    m.write64(0x2000, 0x3000n | P | RW);
    m.write64(0x3000, 0x4000n | P | RW);
    // PAT reset value: PCD=1, PWT=0 selects IA32_PAT entry 2 = UC- (SDM Vol. 3A §12.12.4).
    m.write64(0x4000 + 8 * 1, 0xfec00000n | P | RW | PCD | NX); // IO-APIC, UC-
    m.write64(0x4000 + 8 * 2, 0xfed00000n | P | RW | NX); // outside RAM, WB
    const r = await new PageTableSession(space(), m).audit();
    const dev = r.findings.filter((f) => f.kind === 'device-mapping');
    assert.deepEqual(dev.map((f) => [f.severity, f.pa]), [['info', '0xfec00000']]);
    assert.match(dev[0].message, /device memory: .* as UC- \(MMIO\)/);
    const out = r.findings.filter((f) => f.kind === 'leaf-outside-ram');
    assert.deepEqual(out.map((f) => [f.severity, f.pa]), [['info', '0xfed00000']]);
  });
});
