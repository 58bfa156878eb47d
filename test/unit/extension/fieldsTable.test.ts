// The tooltip's bit table says what each bit's value means (Intel SDM Vol. 3A §4.5 Table 4-20:
// D=0 means not written since cleared; G=0 means flushed by CR3 loads).
import assert from 'node:assert/strict';
import { EntryKind } from '../../../src/core/format';
import { spaceFromRegisters } from '../../../src/core/formats';
import { fieldsTable } from '../../../src/extension/text';

describe('tooltip bit table', () => {
  const f = spaceFromRegisters('x86_64', new Map([['cr0', 0x80010011n], ['cr3', 0x1000n], ['cr4', 0xa0n], ['efer', 0xd00n]])).roots[0].format;
  const row = (table: string, bit: string) => table.split('\n').find((l) => l.startsWith(`| ${bit} |`));

  it('a clear flag says what clear means', () => {
    const t = fieldsTable(f.describe(0x100000 | 0x1 | 0x2, 0, 3, EntryKind.Leaf)); // P, R/W; A=D=G=0
    assert.match(row(t, 'D')!, /\| 0 \| clean: not written since the bit was last cleared \|/);
    assert.match(row(t, 'G')!, /\| 0 \| not global/);
    assert.doesNotMatch(t, /\| 0 \| dirty: the page has been written/);
  });

  it('a set flag says what set means', () => {
    const t = fieldsTable(f.describe(0x100000 | 0x1 | 0x2 | 0x40 | 0x100, 0, 3, EntryKind.Leaf)); // D, G
    assert.match(row(t, 'D')!, /\| 1 \| dirty: the page has been written \|/);
    assert.match(row(t, 'G')!, /\| 1 \| global/);
  });
});
