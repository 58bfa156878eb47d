// Live walks of the RISC-V Sv39 guest through cdt-gdb-adapter and gdb-multiarch (a foreign
// architecture for the host's GDB), for every strategy: satp against `info registers`, leaves
// against the offline core path, the session left clean (cases in support.ts).
import { describe } from 'mocha';
import { LIVE_GUESTS, liveGuestCases } from './support';

describe('live riscv-sv39 through cdt-gdb-adapter + gdb-multiarch', function () {
  this.timeout(120000);
  liveGuestCases(LIVE_GUESTS['riscv-sv39']);
});
