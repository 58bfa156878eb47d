// The status bar's active root: the root that translates the current PC (x86 CR3, RISC-V satp,
// AArch64 TTBR1 for an upper-half PC and TTBR0 otherwise), with its mode and the strategy.
import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { PageTableSession } from '../../../src/core/ops/session';
import { Registers } from '../../../src/core/space';
import type { State } from '../../../src/extension/controller';
import { activeRoot, statusText, statusTooltip } from '../../../src/extension/status';
import { FakeTarget, X86_REGS } from './fakeTarget';

function ready(arch: Parameters<typeof spaceFromRegisters>[0], regs: Registers): State {
  const target = new FakeTarget(undefined, regs as Map<string, bigint>);
  const space = spaceFromRegisters(arch, regs);
  return { kind: 'ready', ready: { target, space, session: new PageTableSession(space, target.memory), generation: 1, timing: { stoppedAt: 0, cpuAtStop: process.cpuUsage(), openMs: 0, treeMs: 0 } } };
}

// AArch64 EL1: T0SZ=T1SZ=25 (39-bit halves), 4K granules (TG1=2), IPS 48-bit; TTBR0 ASID 5.
const TCR = 25n | (25n << 16n) | (2n << 30n) | (5n << 32n);
const A64 = (extra: Record<string, bigint>): Registers => new Map(Object.entries({
  ttbr0_el1: 0x1000n | (5n << 48n), ttbr1_el1: 0x4000n, tcr_el1: TCR, mair_el1: 0x44ffn, sctlr: 0x30d0199dn & ~(1n << 19n), ...extra,
}));

describe('extension status bar: active root', () => {
  it('AArch64: TTBR1 for a kernel-half PC, TTBR0 for a user-half PC', () => {
    const kernel = ready('aarch64', A64({ pc: 0xffffffc000081234n }));
    assert.equal(statusText(kernel), '$(layers) TTBR1_EL1 0x4000 · EL1, 4K granule, 39-bit input, start L1 · phymem-mode');
    assert.match(statusTooltip(kernel), /ttbr1_el1 [^;]*\(active\)/);
    assert.doesNotMatch(statusTooltip(kernel), /ttbr0_el1 [^;]*\(active\)/);
    assert.match(statusTooltip(kernel), /PC 0xffffffc000081234/);
    const user = ready('aarch64', A64({ pc: 0x400123n }));
    assert.equal(statusText(user), '$(layers) TTBR0_EL1 0x1000 · EL1, 4K granule, 39-bit input, start L1 · phymem-mode');
    // Bit 55 selects the half (a tagged user pointer with TBI is still TTBR0).
    const s = spaceFromRegisters('aarch64', A64({}));
    assert.equal(activeRoot(s, A64({ pc: 0x0080_0000_0000_0000n }))?.name, 'ttbr1_el1');
    assert.equal(activeRoot(s, A64({ pc: 0x7f00_0000_0040_0000n }))?.name, 'ttbr0_el1');
  });

  it('AArch64: without a PC, or when the PC\'s half is disabled, the first root', () => {
    const s = spaceFromRegisters('aarch64', A64({}));
    assert.equal(activeRoot(s, A64({}))?.name, 'ttbr0_el1');
    const epd1 = A64({ tcr_el1: TCR | (1n << 23n), pc: 0xffffffc000081234n });
    assert.equal(activeRoot(spaceFromRegisters('aarch64', epd1), epd1)?.name, 'ttbr0_el1');
  });

  it('RISC-V: satp, whatever half the PC is in', () => {
    const regs = new Map([['satp', (8n << 60n) | (3n << 44n) | 0x80200n], ['pc', 0xffffffff80001000n]]);
    const st = ready('riscv64', regs);
    assert.equal(activeRoot((st as any).ready.space, regs)?.name, 'satp');
    assert.match(statusText(st)!, /^\$\(layers\) SATP 0x80200000 · Sv39 · phymem-mode$/);
  });

  it('x86: CR3', () => {
    const regs = new Map([...X86_REGS, ['pc', 0xffffffff81000000n]]);
    assert.equal(statusText(ready('x86_64', regs)), '$(layers) CR3 0x1000 · 4-level · phymem-mode');
  });

  it('the tooltip carries what the registers left unknown and ptview assumed (a core without EFER)', () => {
    const regs = new Map([...X86_REGS].filter(([k]) => k !== 'efer'));
    assert.match(statusTooltip(ready('x86_64', regs)), /\nnote: EFER unknown: assuming LMA=1 \(long mode\) and NXE=1/);
    assert.doesNotMatch(statusTooltip(ready('x86_64', new Map(X86_REGS))), /EFER unknown/);
  });

  it('says running / paused / error without a root', () => {
    assert.equal(statusText({ kind: 'none' }), undefined);
    assert.match(statusText({ kind: 'running' })!, /running/);
    assert.match(statusText({ kind: 'error', message: 'x' })!, /error/);
  });
});
