// Rounding and sign conventions, checked on each backend: the quantizers rely on them.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import {
  dorefaQuantizeUnit,
  hardtanhGate,
  roundHalfToEven,
  signZeroIsPlusOne,
  signZeroIsZero,
} from '../../src/quantizers/index.js';
import { TEST_BACKENDS, assertSameValues, roundHalfEven, take } from './helpers.js';

/** The next float32 above (direction +1) or below (−1) a float32 value. */
function float32Step(x: number, direction: 1 | -1): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, x);
  const bits = view.getInt32(0);
  view.setInt32(0, bits + (x >= 0 ? direction : -direction));
  return view.getFloat32(0);
}

/**
 * float32 values W̃ with fround((2^k−1)·W̃) exactly j + 1/2: true ties of dorefa's rounding, found
 * among the float32 neighbours of (2j+1)/(2(2^k−1)).
 */
function exactTies(bits: number): { wTilde: number[]; scaled: number[] } {
  const n = 2 ** bits - 1;
  const wTilde: number[] = [];
  const scaled: number[] = [];
  for (let j = 0; j < n; j++) {
    const target = j + 0.5;
    let below = Math.fround(target / n);
    let above = below;
    for (let step = 0; step < 16; step++) {
      const hit = [below, above].find((x) => Math.fround(x * n) === target);
      if (hit !== undefined) {
        wTilde.push(hit);
        scaled.push(target);
        break;
      }
      below = float32Step(below, -1);
      above = float32Step(above, 1);
    }
  }
  return { wTilde, scaled };
}

for (const backend of TEST_BACKENDS) {
  describe(`rounding and sign conventions on ${backend}`, () => {
    before(() => useBackend(backend));

    it('tf.round rounds half to even, so roundHalfToEven needs no hand-written kernel', () => {
      const values = [0.5, 1.5, 2.5, 3.5, 4.5, -0.5, -1.5, -2.5, 126.5, 127.5, 254.5, 0.49999997, 0.50000006, 2.4999998, 7];
      const rounded = take(roundHalfToEven(tf.tensor1d(values)));
      // === treats −0 (wasm's round(−0.5)) and +0 alike; the values matter, not the zero's sign.
      assertSameValues(rounded, values.map((x) => roundHalfEven(Math.fround(x))), 'round');
      assert.deepEqual(Array.from(rounded.slice(0, 4)), [0, 2, 2, 4]);
    });

    it('dorefa Q rounds exact ties half to even for every k = 1..8', () => {
      for (let bits = 1; bits <= 8; bits++) {
        const n = 2 ** bits - 1;
        const { wTilde, scaled } = exactTies(bits);
        assert.equal(wTilde.length, n, `k=${bits}: every half point j + 1/2 has an exact float32 W̃`);
        const wHat = take(dorefaQuantizeUnit(tf.tensor1d(wTilde), bits));
        wTilde.forEach((_, i) => {
          const expected = (2 * roundHalfEven(scaled[i]!)) / n - 1;
          // Neighbouring levels are 2/n ≥ 0.0078 apart, so 1e-6 tells rounding up from down.
          assert.ok(Math.abs(wHat[i]! - expected) < 1e-6, `k=${bits}, n·W̃=${scaled[i]}: got ${wHat[i]}, expected ${expected}`);
        });
      }
    });

    it('dorefa Q maps the ends of [0, 1] to ±1 and W̃ = 1/2 to the even neighbour', () => {
      for (let bits = 1; bits <= 8; bits++) {
        const n = 2 ** bits - 1;
        const wHat = take(dorefaQuantizeUnit(tf.tensor1d([0, 1, 0.5]), bits));
        assert.equal(wHat[0], -1);
        assert.equal(wHat[1], 1);
        // n is odd, so n/2 is always a tie.
        assert.ok(Math.abs(wHat[2]! - ((2 * roundHalfEven(n / 2)) / n - 1)) < 1e-6, `k=${bits}`);
      }
    });

    it('signZeroIsZero: sign(±0) = 0; signZeroIsPlusOne: sign(±0) = +1', () => {
      // Tiny magnitudes included: wasm's own Sign kernel would return 0 for |x| < ~1e-6.
      const values = tf.tensor1d([0, -0, 2, -3, 1e-30, -1e-30, 1e-7, -1e-7, 1e-40, -1e-40]);
      assertSameValues(take(signZeroIsZero(values)), [0, 0, 1, -1, 1, -1, 1, -1, 1, -1], 'sign(0)=0');
      assertSameValues(take(signZeroIsPlusOne(values)), [1, 1, 1, -1, 1, -1, 1, -1, 1, -1], 'sign(0)=+1');
      values.dispose();
    });

    it('the hardtanh gate includes |W| = 1', () => {
      const gate = take(hardtanhGate(tf.tensor1d([-1.5, -1, -0.999, 0, 1, 1.0000001, 3])));
      assertSameValues(gate, [0, 1, 1, 1, 1, 0, 0], 'gate');
    });
  });
}
