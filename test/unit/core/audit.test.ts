// Writable aliases are reported for write-protected code only: W+X code is already a w+x finding.
import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { PageTableSession } from '../../../src/core/ops/session';
import { SparseMemory } from '../../support/sparseMemory';

const P = 1n, RW = 2n, NX = 1n << 63n;

describe('audit: writable aliases of code', () => {
  it('reports a writable alias of read-only code with its VA, and none for W+X code', async () => {
    const m = new SparseMemory();
    m.write64(0x1000, 0x2000n | P | RW); // PML4[0]
    m.write64(0x2000, 0x3000n | P | RW); // PDPT[0]
    m.write64(0x3000, 0x4000n | P | RW); // PD[0]
    m.write64(0x4000 + 8 * 1, 0x100000n | P); // 0x1000: code, read-only
    m.write64(0x4000 + 8 * 2, 0x100000n | P | RW | NX); // 0x2000: writable alias of it
    m.write64(0x4000 + 8 * 3, 0x200000n | P | RW); // 0x3000: W+X code
    m.write64(0x4000 + 8 * 4, 0x200000n | P | RW | NX); // 0x4000: writable alias of W+X code
    const space = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', 0x1000n], ['cr4', 0x20n], ['efer', 0xd00n]]));
    const r = await new PageTableSession(space, m).audit();
    const aliases = r.findings.filter((f) => f.kind === 'writable-alias-of-exec');
    assert.deepEqual(aliases.map((f) => [f.va, f.aliasVa, f.pa]), [['0x1000', '0x2000', '0x100000']]);
    assert.equal(r.findings.filter((f) => f.kind === 'w+x').length, 1);
  });
});
