// Reusing a stop's results at the next stop (src/core/ops/unchanged.ts): only while the registers
// are the same and every table reads the same; one changed byte anywhere in a reachable table,
// a newly reachable table or other registers mean computing again.
import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { PageTableSession } from '../../../src/core/ops/session';
import { UnchangedTables, registersKey } from '../../../src/core/ops/unchanged';
import { RecordingMemory } from '../../../src/core/sources/snapshot';
import { espfixMemory } from '../../support/espfix';
import { x86_64 } from '../../support/randomTables';

describe('results reused across stops while no table changed', () => {
  it('reuses on identical tables and registers, computes again on any change', async () => {
    const { mem, pml4 } = espfixMemory();
    const regs = x86_64.regs(pml4);
    const space = spaceFromRegisters('x86_64', regs);
    const cache = new UnchangedTables<number>();
    let computed = 0;
    const stop = (r = regs) => cache.get(new PageTableSession(space, new RecordingMemory(mem)), registersKey(r), async (s) => {
      computed++;
      return (await s.ranges()).length;
    });
    assert.deepEqual(await stop(), { value: 2, reused: false });
    assert.deepEqual(await stop(), { value: 2, reused: true });
    assert.deepEqual(await stop(new Map([...regs, ['pc', 0x1234n]])), { value: 2, reused: true }, 'the PC is not part of the key');
    assert.equal(computed, 1);
    // The last PTE table's entry: a changed byte deep in the tree.
    mem.write64(pml4 + 0x5000 + 8, x86_64.leaf(0x6000000, 3, { write: false, user: false, exec: false }));
    assert.deepEqual(await stop(), { value: 2, reused: false });
    assert.equal(computed, 2);
    // One more PUD entry: a new subtree.
    mem.write64(pml4 + 0x1000 + 8 * 5, x86_64.table(pml4 + 0x6000, { write: true, user: false, exec: true }));
    mem.write64(pml4 + 0x6000, x86_64.leaf(0x7000000, 2, { write: false, user: false, exec: false }));
    assert.deepEqual(await stop(), { value: 3, reused: false });
    assert.deepEqual(await stop(new Map([...regs, ['cr4', 0x30n]])), { value: 3, reused: false }, 'other registers');
    assert.equal(computed, 4);
    // Without a RecordingMemory nothing is kept.
    await cache.get(new PageTableSession(space, mem), registersKey(regs), async () => 0);
    assert.equal((await stop()).reused, false);
  });
});
