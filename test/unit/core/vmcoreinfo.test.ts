// Roots from VMCOREINFO, on notes written in the kernel's own format (kernel/vmcore_info.c
// VMCOREINFO_SYMBOL "%lx", VMCOREINFO_NUMBER "%ld", arm64/riscv64 0x-prefixed NUMBERs), checked
// by building the address space from them.
import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { parseVmcoreinfo, rootsFromVmcoreinfo } from '../../../src/core/sources/vmcoreinfo';

const X86 = `OSRELEASE=6.1.0-18-amd64
BUILD-ID=5ab6b1c2e6ee6ca5a8b0cce3e3c9e6bd9b95bff7
PAGESIZE=4096
SYMBOL(init_uts_ns)=ffffffffa3a139e0
OFFSET(uts_namespace.name)=0
SYMBOL(node_online_map)=ffffffffa3b1b4c0
SYMBOL(swapper_pg_dir)=ffffffffa3a0a000
SYMBOL(_stext)=ffffffffa1e00000
NUMBER(pgtable_l5_enabled)=0
KERNELOFFSET=20e00000
NUMBER(KERNEL_IMAGE_SIZE)=1073741824
NUMBER(sme_mask)=0
SYMBOL(init_top_pgt)=ffffffffa3a0a000
NUMBER(phys_base)=716177408
SYMBOL(phys_base)=ffffffffa3a12010
CRASHTIME=1717171717
`;

const ARM64 = `OSRELEASE=6.6.15-arm64
PAGESIZE=4096
SYMBOL(swapper_pg_dir)=ffffb6a5ca6b8000
SYMBOL(_stext)=ffffb6a5c8010000
NUMBER(VA_BITS)=48
NUMBER(kimage_voffset)=0xffffb6a580000000
NUMBER(PHYS_OFFSET)=0x40000000
NUMBER(TCR_EL1_T1SZ)=16
KERNELOFFSET=36a5c8000000
KERNELPACMASK=0xff80000000000000
`;

const RISCV = (pageOffset: string) => `OSRELEASE=6.6.0-riscv64
PAGESIZE=4096
SYMBOL(swapper_pg_dir)=ffffffff81a3c000
NUMBER(phys_ram_base)=2147483648
NUMBER(PAGE_OFFSET)=${pageOffset}
NUMBER(VMALLOC_START)=0xffffffc800000000
NUMBER(KERNEL_LINK_ADDR)=0xffffffff80000000
NUMBER(va_kernel_pa_offset)=0xfffffffeffe00000
`;

describe('VMCOREINFO roots', () => {
  it('parses key=value lines keeping the text', () => {
    const m = parseVmcoreinfo(X86);
    assert.equal(m.get('SYMBOL(init_top_pgt)'), 'ffffffffa3a0a000');
    assert.equal(m.get('NUMBER(phys_base)'), '716177408');
    assert.equal(m.get('KERNELOFFSET'), '20e00000');
  });

  it('x86_64: CR3 = init_top_pgt - __START_KERNEL_map + phys_base, 4-level, with a note naming the sources', () => {
    const r = rootsFromVmcoreinfo('x86_64', X86);
    assert.ok(!('missing' in r));
    assert.equal(r.registers.get('cr3'), 0xffffffffa3a0a000n - 0xffffffff80000000n + 716177408n);
    assert.match(r.note, /SYMBOL\(init_top_pgt\) 0xffffffffa3a0a000 - __START_KERNEL_map 0xffffffff80000000 \+ NUMBER\(phys_base\) 0x2ab00000 = 0x4e50a000/);
    assert.match(r.note, /KERNELOFFSET=20e00000/);
    const space = spaceFromRegisters('x86_64', r.registers);
    assert.equal(space.roots[0].tablePa, 0x4e50a000);
    assert.equal(space.roots[0].format.mode, '4-level');
  });

  it('x86_64: a negative phys_base (%ld) and 5-level paging', () => {
    const t = X86.replace('NUMBER(phys_base)=716177408', 'NUMBER(phys_base)=-16777216').replace('NUMBER(pgtable_l5_enabled)=0', 'NUMBER(pgtable_l5_enabled)=1');
    const r = rootsFromVmcoreinfo('x86_64', t);
    assert.ok(!('missing' in r));
    assert.equal(r.registers.get('cr3'), 0x23a0a000n - 0x1000000n);
    assert.equal(spaceFromRegisters('x86_64', r.registers).roots[0].format.mode, '5-level');
  });

  it('x86_64: says what is missing', () => {
    const r = rootsFromVmcoreinfo('x86_64', X86.replace(/^SYMBOL\(init_top_pgt\).*$/m, ''));
    assert.deepEqual(r, { missing: 'VMCOREINFO has no SYMBOL(init_top_pgt)' });
    assert.deepEqual(rootsFromVmcoreinfo('x86_64', X86.replace(/^NUMBER\(phys_base\).*$/m, '')), { missing: 'VMCOREINFO has no NUMBER(phys_base)' });
  });

  it('arm64: TTBR1_EL1 = swapper_pg_dir - kimage_voffset; TCR from TCR_EL1_T1SZ and PAGESIZE; TTBR0 not walked', () => {
    const r = rootsFromVmcoreinfo('aarch64', ARM64);
    assert.ok(!('missing' in r));
    assert.equal(r.registers.get('ttbr1_el1'), 0x4a6b8000n);
    const space = spaceFromRegisters('aarch64', r.registers);
    assert.deepEqual(space.roots.map((x) => [x.name, x.tablePa, x.inputBits]), [['ttbr1_el1', 0x4a6b8000, 48]]);
    assert.match(r.note, /NUMBER\(TCR_EL1_T1SZ\)=16 and PAGESIZE=4096/);
    // Older kernels: VA_BITS only; 64K pages.
    const old = rootsFromVmcoreinfo('aarch64', ARM64.replace('NUMBER(TCR_EL1_T1SZ)=16\n', '').replace('NUMBER(VA_BITS)=48', 'NUMBER(VA_BITS)=42').replace('PAGESIZE=4096', 'PAGESIZE=65536'));
    assert.ok(!('missing' in old));
    const s2 = spaceFromRegisters('aarch64', old.registers);
    assert.equal(s2.roots[0].inputBits, 42);
    assert.match(old.note, /NUMBER\(VA_BITS\)=42 and PAGESIZE=65536/);
  });

  it('riscv64: satp from swapper_pg_dir - va_kernel_pa_offset, the mode from PAGE_OFFSET', () => {
    for (const [po, mode, m] of [['0xffffffd800000000', 'Sv39', 8n], ['0xffffaf8000000000', 'Sv48', 9n], ['0xff60000000000000', 'Sv57', 10n]] as const) {
      const r = rootsFromVmcoreinfo('riscv64', RISCV(po));
      assert.ok(!('missing' in r), po);
      assert.equal(r.registers.get('satp'), (m << 60n) | (0x81c3c000n >> 12n), po);
      const space = spaceFromRegisters('riscv64', r.registers);
      assert.equal(space.roots[0].tablePa, 0x81c3c000);
      assert.equal(space.roots[0].format.mode, mode);
    }
    assert.match((rootsFromVmcoreinfo('riscv64', RISCV('0x0000000080000000')) as { missing: string }).missing, /not an Sv39\/Sv48\/Sv57 kernel address/);
  });
});
