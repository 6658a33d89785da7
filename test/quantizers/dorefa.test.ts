import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { DorefaQuantizer, type Estimator } from '../../src/quantizers/index.js';
import {
  TEST_BACKENDS,
  assertClose,
  dorefaRef,
  gateRef,
  sampleUniform,
  sampleWeights,
  sizeOf,
  take,
} from './helpers.js';

const SHAPES = [
  [6, 8],
  [3, 3, 4, 5],
];

/** True when float32 and float64 may round n·W̃ differently: near a half point but not exactly on it. */
function nearTie(scaled: number): boolean {
  const distance = Math.abs(scaled - Math.floor(scaled) - 0.5);
  return distance !== 0 && distance < 1e-4;
}

for (const backend of TEST_BACKENDS) {
  describe(`dorefa on ${backend}`, () => {
    before(() => useBackend(backend));

    it('forward W̃ and Ŵ match the float64 formula for k = 1..8, ties (W = 0) included', () => {
      for (const shape of SHAPES) {
        const values = sampleWeights(sizeOf(shape), 11 + shape.length);
        const w = tf.tensor(values, shape);
        for (let bits = 1; bits <= 8; bits++) {
          const quantizer = new DorefaQuantizer({ bits });
          const ref = dorefaRef(values, bits);
          const wTilde = take(quantizer.preQuantize(w));
          const wHat = take(quantizer.quantize(w));
          assertClose(wTilde, ref.wTilde, `k=${bits} W̃`, 1e-6);
          // W = 0 gives W̃ = 1/2 exactly, and (2^k − 1)/2 is a tie for every k.
          assert.equal(wTilde[0], 0.5);
          assert.equal(ref.scaled[0]! % 1, 0.5);
          let compared = 0;
          for (let i = 0; i < values.length; i++) {
            if (nearTie(ref.scaled[i]!)) continue;
            assert.ok(Math.abs(wHat[i]! - ref.wHat[i]!) < 1e-6, `k=${bits} Ŵ[${i}]: got ${wHat[i]}, expected ${ref.wHat[i]}`);
            compared++;
          }
          assert.ok(compared >= values.length - 2, `k=${bits}: too many near-ties skipped`);
        }
        w.dispose();
      }
    });

    it('k = 1 gives {−1, +1} and W = ±0 rounds down to −1 (half to even, as the reference)', () => {
      const w = tf.tensor1d([0, -0, 0.3, -0.3, 2]);
      assert.deepEqual(Array.from(take(new DorefaQuantizer({ bits: 1 }).quantize(w))), [-1, -1, 1, -1, 1]);
      w.dispose();
    });

    it('calibration is (1 − tanh²W)/max|tanh W|', () => {
      const shape = [3, 3, 4, 5];
      const values = sampleWeights(sizeOf(shape), 5);
      const w = tf.tensor(values, shape);
      for (const bits of [1, 4]) {
        assertClose(take(new DorefaQuantizer({ bits }).calibration(w)), dorefaRef(values, bits).calibration, 'cal', 1e-5);
      }
      w.dispose();
    });

    for (const estimator of ['ste', 'clipped-ste'] as Estimator[]) {
      it(`${estimator} gradient is R ⊙ (1 − tanh²W)/max|tanh W|${estimator === 'clipped-ste' ? ' ⊙ 1{|W| ≤ 1}' : ''}, for every k`, () => {
        for (const shape of SHAPES) {
          const size = sizeOf(shape);
          const values = sampleWeights(size, 21 + shape.length);
          const upstream = sampleUniform(size, 99);
          const w = tf.tensor(values, shape);
          const r = tf.tensor(upstream, shape);
          const ref = dorefaRef(values, 1);
          const gate = estimator === 'clipped-ste' ? gateRef(values) : values.map(() => 1);
          const expected = Array.from(upstream, (g, i) => g * ref.calibration[i]! * gate[i]!);
          for (let bits = 1; bits <= 8; bits++) {
            const quantizer = new DorefaQuantizer({ bits, estimator });
            const gradient = tf.grad((x: Tensor) => tf.sum(tf.mul(quantizer.quantize(x), r)))(w);
            assertClose(take(gradient), expected, `k=${bits} ${estimator} dL/dW`, 1e-5);
          }
          tf.dispose([w, r]);
        }
      });
    }

    it('all-zero weights: W̃ = 1/2, cal = 1, finite gradient (max|tanh W| taken as 1)', () => {
      const w = tf.zeros([4, 3]);
      const quantizer = new DorefaQuantizer({ bits: 2 });
      assert.ok(take(quantizer.preQuantize(w)).every((x) => x === 0.5));
      assert.ok(take(quantizer.calibration(w)).every((x) => x === 1));
      // 3·(1/2) = 1.5 rounds to 2: Ŵ = 2·2/3 − 1 = 1/3.
      assertClose(take(quantizer.quantize(w)), new Array(12).fill(1 / 3), 'Ŵ');
      const gradient = take(tf.grad((x: Tensor) => tf.sum(quantizer.quantize(x)))(w));
      assert.ok(gradient.every((x) => x === 1));
      w.dispose();
    });

    it('rejects bits outside 1..8 and perChannel', () => {
      for (const bits of [0, 9, 16, 1.5]) assert.throws(() => new DorefaQuantizer({ bits }), /dorefa bits.*1, 2, 3, 4, 5, 6, 7, 8/);
      assert.throws(() => new DorefaQuantizer({ perChannel: true }), /perChannel/);
    });
  });
}
