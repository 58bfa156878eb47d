// The edit-script report helpers: W+X created by edits, plurals, the edit's own words as title.
import assert from 'node:assert/strict';
import { createdWx, plural } from '../../../src/core/edit/script';
import type { RangeRecord } from '../../../src/core/ops/records';

function range(va: string, end: string, rights: { write: boolean; exec: boolean; userExec?: boolean }, root = 'cr3'): RangeRecord {
  return {
    root, level: 'PT', read: true, write: rights.write, exec: rights.exec, user: false, userExec: rights.userExec ?? false,
    global: false, accessed: false, dirty: false, contiguous: false, memType: 'WB',
    va, end, pa: '0x1000', paContiguous: true, size: 0x1000, pages: 1, pageSize: 0x1000,
  } as RangeRecord;
}

describe('edit script report helpers', () => {
  it('createdWx: an edit that makes a page writable and executable is reported; W+X that was already there is not', () => {
    const rx = range('0x1000', '0x2000', { write: false, exec: true });
    const wx = range('0x1000', '0x2000', { write: true, exec: true });
    assert.deepEqual(createdWx({ removed: [rx], added: [wx] }), [wx], 'protect +w on code');
    assert.deepEqual(createdWx({ removed: [wx], added: [range('0x1000', '0x1800', { write: true, exec: true })] }), [], 'a W+X range split is not new W+X');
    assert.deepEqual(createdWx({ removed: [], added: [range('0x1000', '0x2000', { write: true, exec: false, userExec: true })] }).length, 1, 'user-executable and writable');
    assert.deepEqual(createdWx({ removed: [wx], added: [range('0x1000', '0x2000', { write: true, exec: true }, 'ttbr1')] }).length, 1, 'W+X in another root is new');
    assert.deepEqual(createdWx({ removed: [wx], added: [range('0x1000', '0x2000', { write: false, exec: true })] }), []);
  });

  it('plural: "1 range", "2 ranges", "0 ranges"', () => {
    assert.equal(plural(1, 'range'), '1 range');
    assert.equal(plural(2, 'range'), '2 ranges');
    assert.equal(plural(0, 'range'), '0 ranges');
  });
});
