import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { PageTableSession } from '../../../src/core/ops/session';
import { buildMapData, exportCsv, exportJson, filterRows, keyHex, parseSpan, rowRecord, vaKey } from '../../../src/extension/mapData';
import { addressFromValue } from '../../../src/debug/expression';
import { addressTokenAt, literalAddress, md, translationMarkdown, translationText } from '../../../src/extension/text';
import { X86_REGS, x86Memory } from './fakeTarget';
import { ESPFIX_VA, espfixMemory } from '../../support/espfix';
import { x86_64 } from '../../support/randomTables';

async function session() {
  return new PageTableSession(spaceFromRegisters('x86_64', X86_REGS), x86Memory());
}

describe('extension map data', () => {
  it('holds every merged range with audit findings attached', async () => {
    const s = await session();
    const ranges = await s.ranges();
    const report = await s.audit();
    const d = buildMapData(ranges, report);
    assert.equal(d.count, ranges.length);
    const recs = Array.from({ length: d.count }, (_, i) => rowRecord(d, i));
    const k = recs.find((r) => r.va === '0xffff800000000000')!;
    assert.equal(k.end, '0xffff800040000000');
    assert.equal(k.write && k.exec, true);
    assert.equal(k.severity, 'error', 'the kernel W+X page carries the audit error');
    assert.match(k.finding, /writable and executable/);
    assert.equal(recs.find((r) => r.va === '0x0')!.severity, '', 'a user page with R/W=0 above is clean');
    // String order of the padded keys is numeric order.
    assert.ok(vaKey(0xfffn) < vaKey(0x1000n) && vaKey(0x1000n) < vaKey(1n << 64n));
  });

  it('filters by W+X, w, u, page size, memory type, VA and PA ranges and text', async () => {
    const s = await session();
    const d = buildMapData(await s.ranges(), await s.audit());
    const vas = (f: Parameters<typeof filterRows>[1]) => Array.from(filterRows(d, f), (i) => keyHex(d.va[i]));
    assert.deepEqual(vas({ wx: true }), ['0xffff800000000000']);
    assert.deepEqual(vas({ w: true }), ['0xffff800000000000']);
    assert.deepEqual(vas({ pageSize: 2 << 20 }), ['0x200000']);
    assert.deepEqual(vas({ memType: 'uc-' }), ['0x200000']);
    assert.deepEqual(vas({ findings: true }), ['0xffff800000000000']);
    assert.deepEqual(vas({ va: '0x1000-0x3000' }), ['0x1000', '0x2000']);
    assert.deepEqual(vas({ pa: '0x100000+0x1000' }), ['0x0', '0x2000'], 'both VAs of frame 0x100000');
    assert.deepEqual(vas({ u: true, text: 'UC-' }), ['0x200000']);
    assert.deepEqual(vas({ text: '0x52c000' }), ['0x400000'], 'text matches the end VA too');
    assert.equal(vas({ va: 'nonsense' }).length, d.count, 'a malformed range does not filter');
    assert.equal(parseSpan('0x10+0x10')?.[1], 0x20n);
    assert.equal(parseSpan('0x20-0x10'), undefined);
  });

  it('exports the shown rows as CSV and JSON with the CLI field names', async () => {
    const s = await session();
    const d = buildMapData(await s.ranges(), await s.audit());
    const rows = filterRows(d, { wx: true });
    const csv = exportCsv(d, rows).trim().split('\n');
    assert.equal(csv.length, 2);
    assert.match(csv[0], /^root,va,end,pa,size,pageSize,pages,level,read,write,exec,userRead,userWrite,userExec,user,global,memType/);
    assert.match(csv[1], /^cr3,0xffff800000000000,0xffff800040000000,0x40000000,1073741824,1073741824,1,PDPT,true,true,true,false,false,false,false,true,WB/);
    const json = JSON.parse(exportJson(d, rows));
    assert.equal(json.length, 1);
    assert.equal(json[0].pa, '0x40000000');
  });
});

describe('extension text helpers', () => {
  it('finds the address literal under the cursor', () => {
    const line = 'ptr = 0xffff888000001000; len = 4096; id deadbeef00 x';
    assert.equal(addressTokenAt(line, 8)?.value, 0xffff888000001000n);
    assert.equal(addressTokenAt(line, 6)?.text, '0xffff888000001000');
    assert.equal(addressTokenAt(line, 33), undefined, 'decimal 4096 is not taken for an address');
    assert.equal(addressTokenAt(line, 45)?.value, 0xdeadbeef00n);
    assert.equal(addressTokenAt("0xffff'8880'0000'0000", 3)?.value, 0xffff888000000000n);
  });

  it('reads literals and debugger values', () => {
    assert.equal(literalAddress(' 0x1000 '), 0x1000n);
    assert.equal(literalAddress('4096'), 4096n);
    assert.equal(literalAddress('&pt[3]'), undefined);
    assert.equal(addressFromValue('(uint64_t *) 0x401000 <pml4>'), 0x401000n);
    assert.equal(addressFromValue('-1'), (1n << 64n) - 1n);
    assert.equal(addressFromValue('{...}', '0x2000'), 0x2000n);
    assert.equal(addressFromValue('"text"'), undefined);
  });

  it('escapes adapter text in Markdown and prints a per-level trace', async () => {
    assert.equal(md('<img src=x>[a](command:x)'), '\\<img src=x\\>\\[a\\](command:x)');
    const s = await session();
    const t = await s.translate(0x1234n);
    const text = translationText(t);
    assert.match(text, /^0x1234 → 0x101234 \(4K page, PT\[1\]/);
    assert.match(text, /PML4\[0\] @ 0x1000 = 0x0000000000002007/);
    assert.match(text, /PT\[1\] @ 0x4008 = 0x8000000000101103  leaf/);
    assert.match(text, /write removed at PDPT\[0\]/);
    assert.match(translationMarkdown(t), /\*\*0x1234 → 0x101234\*\*/);
    const miss = await s.translate(0x40000000000n);
    assert.equal(miss.kind, 'not-mapped');
    assert.match(translationMarkdown(miss), /not mapped/);
  });
});

describe('extension map data: folded repeats', () => {
  it('one row for the ESPfix area: its span, one copy\'s size and PA, the copies and stride', async () => {
    const { mem, pml4, page } = espfixMemory();
    const s = new PageTableSession(spaceFromRegisters('x86_64', x86_64.regs(pml4)), mem);
    const d = buildMapData(await s.ranges(), await s.audit());
    assert.equal(d.count, 2);
    const r = rowRecord(d, 0);
    assert.equal(r.va, '0x' + ESPFIX_VA.toString(16));
    assert.equal(r.end, '0x' + (ESPFIX_VA + 0x1_0000_0000n - 0xf000n).toString(16), 'to the last copy\'s end');
    assert.equal(r.pa, '0x' + page.toString(16));
    assert.equal(r.size, 4096);
    assert.equal(r.repeat, 65536);
    assert.equal(r.stride, 0x10000);
    assert.equal(rowRecord(d, 1).repeat, undefined);
    assert.deepEqual(Array.from(filterRows(d, { va: '0x' + (ESPFIX_VA + 0x8000_0000n).toString(16) })), [0], 'a VA inside the span finds the row');
    const csv = exportCsv(d, [0, 1]).trim().split('\n');
    assert.match(csv[0], /,repeat,stride$/);
    assert.match(csv[1], /,65536,65536$/);
    assert.match(csv[2], /,,$/);
  });
});
