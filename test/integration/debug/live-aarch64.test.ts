// Live walks of the AArch64 4K-granule guest (both TTBRs) through cdt-gdb-adapter and
// gdb-multiarch, for every strategy (cases in support.ts). AArch64 `info registers` has no
// system registers, so the oracle is a separate plain gdb-multiarch session, as in the
// AArch64 oracle test.
import { describe } from 'mocha';
import { LIVE_GUESTS, liveGuestCases } from './support';

describe('live aarch64-4k through cdt-gdb-adapter + gdb-multiarch', function () {
  this.timeout(120000);
  liveGuestCases(LIVE_GUESTS['aarch64-4k']);
});
