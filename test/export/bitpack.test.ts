import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packBits, unpackBits, packedByteLength } from '../../src/export/bitpack.js';
import { Rng } from '../../src/util/rng.js';

test('packBits lays codes out least-significant bit first', () => {
  // 1 bit: codes 1,0,1,1,0,0,0,0 | 1 → 0b00001101, 0b00000001
  assert.deepEqual(Array.from(packBits(Uint8Array.of(1, 0, 1, 1, 0, 0, 0, 0, 1), 1)), [0x0d, 0x01]);
  // 3 bits: 5 (101), 3 (011), 7 (111) → bits 101 | 011 | 111 from the LSB: 0b11_011_101, 0b0000000_1
  assert.deepEqual(Array.from(packBits(Uint8Array.of(5, 3, 7), 3)), [0b11011101, 0b1]);
  // 2 bits: 0,1,2,3 → 0b11_10_01_00
  assert.deepEqual(Array.from(packBits(Uint8Array.of(0, 1, 2, 3), 2)), [0b11100100]);
  assert.deepEqual(Array.from(packBits(Uint8Array.of(200, 7), 8)), [200, 7]);
});

test('unpackBits inverts packBits for every width 1..8 and awkward lengths', () => {
  const rng = new Rng('bitpack');
  for (let bits = 1; bits <= 8; bits++) {
    for (const count of [0, 1, 7, 8, 9, 63, 1001]) {
      const codes = Uint8Array.from({ length: count }, () => rng.int(2 ** bits));
      const packed = packBits(codes, bits);
      assert.equal(packed.length, packedByteLength(count, bits));
      assert.deepEqual(unpackBits(packed, bits, count), codes, `${bits} bits, ${count} codes`);
    }
  }
});

test('codes that do not fit and short buffers are rejected', () => {
  assert.throws(() => packBits(Uint8Array.of(2), 1), /does not fit in 1 bits/);
  assert.throws(() => packBits(Uint8Array.of(1), 9), /1\.\.8/);
  assert.throws(() => unpackBits(new Uint8Array(1), 4, 3), /need 2 bytes/);
});
