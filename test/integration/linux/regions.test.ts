// Region labels on Debian's own kernels, checked against what the kernel says of its own layout:
// /proc/kcore's program headers (fs/proc/kcore.c: a PT_LOAD per RAM range at its direct-map VA
// with its PA, the kernel text with its PA, vmalloc and modules areas with no PA, vmemmap) and
// /proc/vmallocinfo (mm/vmalloc.c), printed by the guest's init at boot. x86_64 is checked over two
// boots (KASLR moves the direct map, vmalloc and vmemmap between them).
import assert from 'node:assert/strict';
import { hex } from '../../../src/core/addr';
import { spaceFromRegisters } from '../../../src/core/formats';
import { rangeVa } from '../../../src/core/ops/merge';
import { regionLabeler } from '../../../src/core/ops/regions';
import { PageTableSession } from '../../../src/core/ops/session';
import { AddressSpace } from '../../../src/core/space';
import { LinuxRun, bootLinux, sharedLinux } from '../../harness/linux';
import { aarch64RegistersAt, capture } from './support';

const NO_PA = (1n << 64n) - 1n;
const PT_LOAD = 1;

interface Labelled {
  va: bigint;
  end: bigint;
  label: string | undefined;
}

async function labelled(space: AddressSpace, session: PageTableSession, ram: Parameters<typeof regionLabeler>[2]): Promise<{ layout?: string; ranges: Labelled[] }> {
  const ranges = await session.ranges();
  const l = regionLabeler(space, ranges, ram);
  return {
    layout: l?.layout,
    ranges: ranges.map((r) => ({ va: rangeVa(r), end: rangeVa(r) + BigInt(r.size), label: l?.(r.start, r.root) })),
  };
}

const inside = (r: Labelled, a: bigint, z: bigint) => a <= r.va && r.end <= z;

/** Checks every labelled kernel range against the kernel's own account; returns the direct map's offset. */
function checkX86(run: LinuxRun, got: Labelled[]): bigint {
  const k = run.kernelInfo;
  const loads = k.kcore.filter((s) => s.type === PT_LOAD);
  const ramSegs = loads.filter((s) => s.paddr !== NO_PA && s.vaddr < 0xffffffff80000000n);
  assert.ok(ramSegs.length > 0, 'kcore lists RAM');
  const offset = ramSegs[0].vaddr - ramSegs[0].paddr;
  for (const s of ramSegs) assert.equal(hex(s.vaddr - s.paddr), hex(offset), 'one direct-map offset');
  const text = loads.find((s) => s.paddr !== NO_PA && s.vaddr >= 0xffffffff80000000n);
  const noPa = loads.filter((s) => s.paddr === NO_PA).sort((a, b) => (a.memsz > b.memsz ? -1 : 1));
  const vmalloc = noPa[0]; // VMALLOC_START..VMALLOC_END: by far the largest
  const modules = noPa.find((s) => s.vaddr === 0xffffffffc0000000n);
  const vmemmapSegs = noPa.filter((s) => s !== vmalloc && s !== modules);
  assert.ok(text && vmalloc && modules && vmemmapSegs.length, `kcore segments: ${loads.map((s) => hex(s.vaddr)).join(' ')}`);
  const MiB2 = 2n * 1024n * 1024n;
  const vmemmapLo = vmemmapSegs.reduce((m, s) => (s.vaddr < m ? s.vaddr : m), vmemmapSegs[0].vaddr);
  const vmemmapHi = vmemmapSegs.reduce((m, s) => (s.vaddr + s.memsz > m ? s.vaddr + s.memsz : m), 0n);

  const count = new Map<string, number>();
  for (const r of got) {
    if (r.label === undefined) continue;
    count.set(r.label, (count.get(r.label) ?? 0) + 1);
    const where = `${hex(r.va)}-${hex(r.end)} labelled ${r.label}`;
    switch (r.label) {
      case 'Direct map':
        assert.ok(r.va >= offset, where);
        break;
      case 'vmalloc':
        assert.ok(inside(r, vmalloc.vaddr, vmalloc.vaddr + vmalloc.memsz), `${where}: kcore's vmalloc is ${hex(vmalloc.vaddr)}+${hex(vmalloc.memsz)}`);
        break;
      case 'vmemmap':
        assert.ok(inside(r, vmemmapLo - (vmemmapLo % MiB2), vmemmapHi + MiB2), `${where}: kcore's vmemmap is ${hex(vmemmapLo)}-${hex(vmemmapHi)}`);
        break;
      case 'Kernel image':
        assert.ok(inside(r, 0xffffffff80000000n, 0xffffffffc0000000n), where);
        break;
      case 'Modules':
        assert.ok(inside(r, modules.vaddr, modules.vaddr + modules.memsz), where);
        break;
      default:
        // Fixed regions (cpu_entry_area, ESPfix, fixmap, ...): never inside a region kcore names.
        assert.ok(!inside(r, vmalloc.vaddr, vmalloc.vaddr + vmalloc.memsz) && r.va >= 0xfffffe0000000000n, where);
    }
  }
  // Conversely: the kernel's own regions carry their labels.
  const labelAt = (va: bigint) => got.find((r) => r.va <= va && va < r.end)?.label;
  for (const s of ramSegs) assert.equal(labelAt(s.vaddr + 0x1000n < s.vaddr + s.memsz ? s.vaddr + 0x1000n : s.vaddr), 'Direct map', `RAM ${hex(s.paddr)} at ${hex(s.vaddr)}`);
  assert.equal(labelAt(text.vaddr), 'Kernel image');
  let checked = 0;
  for (const a of k.vmalloc) {
    if (!a.pages) continue;
    const label = labelAt(a.start);
    if (label === undefined) continue; // not mapped at this stop (freed since boot)
    const want: string = a.start >= modules.vaddr && a.start < modules.vaddr + modules.memsz ? 'Modules' : 'vmalloc';
    assert.equal(label, want, `vmallocinfo ${hex(a.start)} ${a.line}`);
    checked++;
  }
  assert.ok(checked > 5, `${checked} vmallocinfo areas checked`);
  assert.ok((count.get('vmemmap') ?? 0) > 0 && (count.get('vmalloc') ?? 0) > 0, `labels: ${[...count].join(' ')}`);
  return offset;
}

describe('Linux region labels vs the kernel\'s own /proc/kcore and /proc/vmallocinfo', function () {
  this.timeout(600000);

  it('x86_64 4-level: every label where the kernel says, over two KASLR boots', async () => {
    const offsets: bigint[] = [];
    for (const boot of ['shared', 'fresh'] as const) {
      const run = boot === 'shared' ? await sharedLinux('x86_64-4level') : await bootLinux('x86_64-4level', { gdb: true });
      try {
        const stop = await capture(run, `regions-${boot}`, await run.stopInKernel(), []);
        const session = new PageTableSession(stop.space, stop.core.memory);
        const got = await labelled(stop.space, session, stop.core.memory.ram);
        assert.equal(got.layout, 'Linux x86_64 4-level');
        offsets.push(checkX86(run, got.ranges));
        await stop.core.close();
      } finally {
        if (boot === 'fresh') await run.kill();
        else await run.stopInUser();
      }
    }
    assert.notEqual(hex(offsets[0]), hex(offsets[1]), 'KASLR moved the direct map between the boots');
  });

  it('x86_64 5-level: the same labels where the kernel says', async () => {
    const run = await sharedLinux('x86_64-5level');
    try {
      const stop = await capture(run, 'regions', await run.stopInKernel(), []);
      const got = await labelled(stop.space, new PageTableSession(stop.space, stop.core.memory), stop.core.memory.ram);
      assert.equal(got.layout, 'Linux x86_64 5-level');
      checkX86(run, got.ranges);
      await stop.core.close();
    } finally {
      await run.stopInUser();
    }
  });

  it('arm64: the linear map where kcore puts it (TTBR1 at EL1)', async () => {
    const run = await sharedLinux('arm64-max');
    try {
      // The registers at EL1 first (gdb's detach lets the guest run), then a stop to dump.
      const regs = await aarch64RegistersAt(run, 1);
      const stop = await capture(run, 'regions', await run.stopInKernel(), []);
      const space = spaceFromRegisters('aarch64', regs);
      const got = await labelled(space, new PageTableSession(space, stop.core.memory), stop.core.memory.ram);
      assert.equal(got.layout, 'Linux arm64');
      // kcore's RAM segments share the linear map's offset; its text segment (the kernel image,
      // mapped in the vmalloc area on arm64) has another one. The offset with most bytes is RAM's.
      const withPa = run.kernelInfo.kcore.filter((x) => x.type === PT_LOAD && x.paddr !== NO_PA);
      const bytes = new Map<bigint, bigint>();
      for (const x of withPa) bytes.set(x.vaddr - x.paddr, (bytes.get(x.vaddr - x.paddr) ?? 0n) + x.memsz);
      const ramOffset = [...bytes].sort((a, b) => (a[1] > b[1] ? -1 : 1))[0][0];
      const ramSegs = withPa.filter((x) => x.vaddr - x.paddr === ramOffset);
      assert.ok(ramSegs.length > 0);
      const lo = ramSegs.reduce((m, x) => (x.vaddr < m ? x.vaddr : m), ramSegs[0].vaddr);
      const hi = ramSegs.reduce((m, x) => (x.vaddr + x.memsz > m ? x.vaddr + x.memsz : m), 0n);
      let n = 0;
      for (const r of got.ranges) {
        if (r.label === undefined) continue;
        assert.equal(r.label, 'Linear map', `${hex(r.va)}: only the linear map is named on arm64`);
        assert.ok(r.va >= lo && r.end <= hi, `${hex(r.va)}-${hex(r.end)} labelled Linear map, kcore's RAM is ${hex(lo)}-${hex(hi)}`);
        n++;
      }
      assert.ok(n > 0);
      const labelAt = (va: bigint) => got.ranges.find((r) => r.va <= va && va < r.end)?.label;
      for (const seg of ramSegs) assert.equal(labelAt(seg.vaddr + 0x10000n), 'Linear map', hex(seg.vaddr));
      await stop.core.close();
    } finally {
      await run.stopInUser();
    }
  });

  it('riscv64: the linear map and the kernel image where kcore puts them', async () => {
    // A guest of its own, stopped in the kernel (the kernel half is the same in every address
    // space): the shared guest is handed out stopped in user mode, which under load can take long.
    const run = await bootLinux('riscv64-sv39', { gdb: true });
    try {
      // A kernel stop: the kernel half is the same in every address space.
      const stop = await capture(run, 'regions', await run.stopInKernel(), []);
      const q = stop.qregs;
      const space = spaceFromRegisters('riscv64', new Map([['satp', q.get('satp')!], ['mstatus', q.get('mstatus')!]]));
      const got = await labelled(space, new PageTableSession(space, stop.core.memory), stop.core.memory.ram);
      assert.equal(got.layout, 'Linux riscv64');
      const loads = run.kernelInfo.kcore.filter((s) => s.type === PT_LOAD && s.paddr !== NO_PA);
      const ramSegs = loads.filter((s) => s.vaddr < 0xffffffff80000000n);
      const text = loads.find((s) => s.vaddr >= 0xffffffff80000000n);
      assert.ok(ramSegs.length && text);
      for (const r of got.ranges) {
        if (r.label === 'Linear map') assert.ok(ramSegs.some((s) => r.va >= s.vaddr - (s.vaddr % (1n << 30n)) && r.end <= s.vaddr + s.memsz + (1n << 30n)), `${hex(r.va)} labelled Linear map`);
        if (r.label === 'Kernel image') assert.ok(r.va >= 0xffffffff80000000n, `${hex(r.va)} labelled Kernel image`);
      }
      const labelAt = (va: bigint) => got.ranges.find((r) => r.va <= va && va < r.end)?.label;
      for (const s of ramSegs) assert.equal(labelAt(s.vaddr + 0x1000n), 'Linear map', hex(s.vaddr));
      assert.equal(labelAt(text!.vaddr), 'Kernel image');
      await stop.core.close();
    } finally {
      await run.kill();
    }
  });
});
