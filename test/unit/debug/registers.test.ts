// The paging registers of a stop: the architecture probed at the first stop, then read directly.
import assert from 'node:assert/strict';
import { RegisterSource, readTargetRegisters } from '../../../src/debug/registers';

/** A target with these registers (names as the debugger spells them); records each batch asked. */
function source(regs: Record<string, bigint>, pcBytes?: bigint): RegisterSource & { batches: string[][] } {
  const batches: string[][] = [];
  return {
    batches,
    async readAll(names) {
      batches.push([...names]);
      const out = new Map<string, bigint>();
      for (const n of names) if (regs[n] !== undefined) out.set(n.toLowerCase(), regs[n]);
      return out;
    },
    async pcBytes() {
      return pcBytes;
    },
  };
}

const X86 = { cr0: 0x80050033n, cr3: 0x1234000n, cr4: 0x3606f0n, efer: 0xd01n, pc: 0xffffffff81000000n };
const A64 = { TTBR0_EL1: 0x40000000n, TTBR1_EL1: 0x40001000n, TCR_EL1: 0x35b5503510n, SCTLR_EL1: 0x30d0199dn, cpsr: 0x3c5n, pc: 0xffff800010000000n };

describe('paging registers', () => {
  it('probes the families at the first stop, and at the next reads the known one in one batch with the same result', async () => {
    const first = source(X86);
    const a = await readTargetRegisters(first);
    assert.equal(first.batches.length, 2, 'probe, then the x86 registers');
    assert.equal(a.arch, 'x86_64');
    const next = source(X86);
    const b = await readTargetRegisters(next, undefined, a.arch);
    assert.equal(next.batches.length, 1);
    assert.deepEqual(b, a);
  });

  it('probes again when the known family\'s root register does not evaluate', async () => {
    const s = source(A64);
    const r = await readTargetRegisters(s, undefined, 'x86_64');
    assert.equal(r.arch, 'aarch64');
    assert.equal(r.registers.get('el'), 1n);
    assert.equal(r.registers.has('sctlr'), false);
    assert.equal(s.batches.length, 3, 'the x86 registers, the probe, the AArch64 registers');
    assert.deepEqual(r, await readTargetRegisters(source(A64)));
  });

  it('RISC-V: the XLEN from the PC size at the first stop; a stop of a known target keeps the session\'s, without asking', async () => {
    let asked = 0;
    const regs = { satp: 0x8000000000080400n, sstatus: 0n, priv: 1n, pc: 0x80200000n };
    const s = { ...source(regs), pcBytes: async () => (asked++, 4n) };
    assert.equal((await readTargetRegisters(s)).arch, 'riscv32');
    assert.equal(asked, 1);
    const k = { ...source(regs), pcBytes: async () => (asked++, 4n) };
    const r = await readTargetRegisters(k, undefined, 'riscv64');
    assert.equal(r.arch, 'riscv64');
    assert.equal(k.batches.length, 1);
    assert.equal(asked, 1, 'no sizeof($pc) at a known stop');
  });

  it('refuses a target with no paging register, known or not', async () => {
    await assert.rejects(readTargetRegisters(source({ pc: 1n }), undefined, 'x86_64'), /none of CR3/);
    await assert.rejects(readTargetRegisters(source({ pc: 1n })), /none of CR3/);
  });
});
