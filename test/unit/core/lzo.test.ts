// LZO1X decoding: streams written by liblzo2's lzo1x_1_compress (python3-lzo 1.14,
// lzo.compress(data, 1, False)) decode to their input; hostile streams are errors, never reads
// or writes outside either buffer (property test on random and mutated streams).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LzoError, lzo1xDecompress } from '../../../src/core/sources/lzo';

// 4096 bytes: 'ptview kdump page ' repeated (long matches, M4 far copies, the end marker).
const REPEAT = Buffer.from('0f707476696577206b64756d7020706167652020000000000000000000000000000000ca44000f6d70207061676520707476696577206b6475110000', 'hex');
const repeatPlain = Buffer.from('ptview kdump page '.repeat(300)).subarray(0, 4096);
// 1024 bytes of (i*7 + i/13) & 0xff then 3072 zeros: literal runs, short matches, a zero run.
const MIXED = Buffer.from(
  '00cc00070e151c232a31383f464d545c636a71787f868d949ba2a9b0b8bfc6cdd4dbe2e9f0f7fe050c141b222930373e454c535a616870777e858c939aa1a8afb6bdc4ccd3dae1e8eff6fd040b121920282f363d444b525960676e757c848b9299a0a7aeb5bcc3cad1d8e0e7eef5fc030a11181f262d343c434a51585f666d747b828990989fa6adb4bbc2c9d0d7dee5ecf4fb020910171e252c333a414850575e656c737a81888f969da4acb3bac1c8cfd6dde4ebf2f900080f161d242b323940474e555c646b727980878e959ca3aab1b8c0c7ced5dce3eaf1f8ff060d141ce01b015b62697027600301b7bec5cc27600302131a212830e01b016f767d8427600302cbd2d9e0e8e01b01272e353c27600303838a9198a0a7c01b02dfe6edf4fce01b013b42495027600301979ea5ac27600303f3fa01081017c01b054f565d646c737a81801b04abb2b9c0c8cfd6a01b03070e151c242bc01b76318087c01b7731dce3eaa01b743187365b62699431843605b7bec5ccd3dae1e88436601b75314c6436601b018b9299a08436601b74318436601b06434a515860676e757c601b00049fa6adb4bcc3cad1d8dfe6edf4fb020910181f262d34601b01575e656c843601979ea5ac743102d0d7dee5ec601b060f161d242c333a4148601b016b72798027600305c7ced5dce4ebf2f92798090140474e55279809019ca3aab127980904f8ff060d141b22b94c54e01b02939aa1a8b0e01b75310ce01b024b52596068e01b7531c4e01b753120e01b015f666d7427600301bbc2c9d02760037431276003753190e01b743127600374312760037531a46436601b74312760032096fd0c00200000000000000000000000d60000000100000000000000000000000000000000000000110000',
  'hex',
);
const mixedPlain = Buffer.concat([Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 7 + Math.floor(i / 13)) & 0xff)), Buffer.alloc(3072)]);

describe('LZO1X decompression', () => {
  it('decodes liblzo2 output exactly', () => {
    assert.deepEqual(Buffer.from(lzo1xDecompress(REPEAT, 4096)), repeatPlain);
    assert.deepEqual(Buffer.from(lzo1xDecompress(MIXED, 4096)), mixedPlain);
  });

  it('refuses a wrong expected length, a cut stream and a distance before the output', () => {
    assert.throws(() => lzo1xDecompress(REPEAT, 4095), LzoError);
    assert.throws(() => lzo1xDecompress(REPEAT, 8192), /stream ends after 4096 bytes, expected 8192/);
    assert.throws(() => lzo1xDecompress(REPEAT.subarray(0, REPEAT.length - 3), 4096), /input ends inside an instruction/);
    // 0x12 = one literal, then a 3-byte match 2049+ bytes back: before the start.
    assert.throws(() => lzo1xDecompress(Buffer.from([0x12, 0x41, 0x40, 0xff, 0x11, 0, 0]), 4096), /reaches before the start of the output/);
  });

  it('random and mutated streams are LzoErrors or exact-length pages, nothing else', () => {
    const check = (b: Uint8Array) => {
      try {
        assert.equal(lzo1xDecompress(b, 4096).length, 4096);
      } catch (e) {
        assert.ok(e instanceof LzoError, String(e));
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), check), { numRuns: 2000 });
    fc.assert(
      fc.property(fc.nat(MIXED.length - 1), fc.integer({ min: 0, max: 255 }), (i, v) => {
        const m = Buffer.from(MIXED);
        m[i] = v;
        check(m);
      }),
      { numRuns: 2000 },
    );
  });
});
