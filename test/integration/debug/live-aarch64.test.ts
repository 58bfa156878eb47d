// Live walks of the AArch64 4K-granule guest (both TTBRs) through cdt-gdb-adapter and
// gdb-multiarch, for every strategy (cases in support.ts). AArch64 `info registers` has no
// system registers, so the oracle is a separate plain gdb-multiarch session, as in the
// AArch64 oracle test.
import { describe } from 'mocha';
import { gdbRegisters } from '../aarch64/gdbRegisters';
import { liveGuestCases } from './support';

const REGS = ['TTBR0_EL1', 'TTBR1_EL1', 'TCR_EL1', 'MAIR_EL1', 'SCTLR', 'ID_AA64MMFR0_EL1', 'cpsr'];

describe('live aarch64-4k through cdt-gdb-adapter + gdb-multiarch', function () {
  this.timeout(120000);
  // The guest maps RAM (PA 0x40000000) at 0xffff800000000000 and its text at 0xffffffff80000000.
  liveGuestCases({
    guest: 'aarch64-4k',
    arch: 'aarch64',
    registers: REGS.map((r) => r.toLowerCase()),
    coreRegisters: ['ttbr0_el1', 'ttbr1_el1', 'tcr_el1', 'mair_el1', 'sctlr', 'id_aa64mmfr0_el1'],
    directMap: 0xffff800000000000n - 0x40000000n,
    probeVa: 0xffffffff80000000n,
    oracleRegisters: async (run) => {
      const g = await gdbRegisters(run.gdbPort!, REGS);
      const out = new Map<string, bigint>();
      for (const [k, v] of g) if (v !== undefined) out.set(k, v);
      return out;
    },
  });
});
