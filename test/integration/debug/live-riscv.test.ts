// Live walks of the RISC-V Sv39 guest through cdt-gdb-adapter and gdb-multiarch (a foreign
// architecture for the host's GDB), for every strategy: satp against `info registers`, leaves
// against the offline core path, the session left clean (cases in support.ts).
import { describe } from 'mocha';
import { liveGuestCases } from './support';

describe('live riscv-sv39 through cdt-gdb-adapter + gdb-multiarch', function () {
  this.timeout(120000);
  // The guest maps RAM (PA 0x80000000) at 0xffffffc000000000 and its text at 0xffffffff80000000.
  liveGuestCases({
    guest: 'riscv-sv39',
    arch: 'riscv64',
    registers: ['satp'],
    coreRegisters: ['satp'],
    directMap: 0xffffffc000000000n - 0x80000000n,
    probeVa: 0xffffffff80000000n,
  });
});
