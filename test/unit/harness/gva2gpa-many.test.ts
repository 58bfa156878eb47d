// The gva2gpa batching and probe-offset helpers (pure logic; a fake monitor answers).
import assert from 'node:assert/strict';
import { gva2gpaMany, leafProbeOffsets } from '../../harness/oracles';

describe('gva2gpa helpers', () => {
  it('pipelines the commands in batches and returns the answers in request order', async () => {
    const asked: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const hmp = async (cmd: string) => {
      asked.push(cmd);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // answer odd addresses late so a wrong ordering would show
      const va = BigInt(cmd.split(' ')[1]);
      await new Promise((r) => setTimeout(r, Number(va % 2n) * 5));
      inFlight--;
      return va === 0x3000n ? 'Unmapped\r\n' : va === 0x5n ? "invalid char 'z' in expression\r\n" : `gpa: 0x${(va + 0x80000000n).toString(16)}\r\n`;
    };
    const vas = [0x1n, 0x2000n, 0x3000n, 0x5n, 0x7n];
    const r = await gva2gpaMany(hmp, vas, 2);
    assert.deepEqual(asked, ['gva2gpa 0x1', 'gva2gpa 0x2000', 'gva2gpa 0x3000', 'gva2gpa 0x5', 'gva2gpa 0x7']);
    assert.equal(maxInFlight, 2);
    assert.deepEqual(r.slice(0, 3), [{ kind: 'mapped', pa: 0x80000001n }, { kind: 'mapped', pa: 0x80002000n }, { kind: 'unmapped' }]);
    assert.equal(r[3].kind, 'error');
    assert.deepEqual(r[4], { kind: 'mapped', pa: 0x80000007n });
  });

  it('probes first, middle and last byte of a page, a few more 4 KiB frames of a superpage', () => {
    assert.deepEqual(leafProbeOffsets(0x1000n), [0n, 0x923n, 0xfffn]);
    const big = leafProbeOffsets(1n << 30n, 7);
    assert.equal(big.length, 6);
    assert.ok(big.every((o) => o >= 0n && o < 1n << 30n));
    assert.equal(new Set(big.map((o) => o >> 12n)).size, 6, 'six different 4 KiB frames');
    assert.deepEqual(leafProbeOffsets(1n << 30n, 7), big, 'deterministic');
    assert.notDeepEqual(leafProbeOffsets(1n << 30n, 8), big, 'the seed moves the extra probes');
  });
});
