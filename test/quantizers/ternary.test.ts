import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { TernaryQuantizer, type Estimator } from '../../src/quantizers/index.js';
import {
  TEST_BACKENDS,
  assertClose,
  assertSameValues,
  gateRef,
  sampleUniform,
  sampleWeights,
  scaleOf,
  sizeOf,
  take,
  ternaryRef,
} from './helpers.js';

const SHAPES = [
  [6, 8],
  [3, 3, 4, 5],
];

for (const backend of TEST_BACKENDS) {
  describe(`ternary on ${backend}`, () => {
    before(() => useBackend(backend));

    for (const perChannel of [false, true]) {
      const mode = perChannel ? 'per channel' : 'per layer';

      it(`${mode}: Ŵ = α·sign(W)·1{|W| > 0.7·mean|W|}`, () => {
        for (const shape of SHAPES) {
          const values = sampleWeights(sizeOf(shape), 51 + shape.length);
          const w = tf.tensor(values, shape);
          const quantizer = new TernaryQuantizer({ perChannel });
          const ref = ternaryRef(values, shape, perChannel);
          const wHat = take(quantizer.quantize(w));
          let compared = 0;
          for (let i = 0; i < values.length; i++) {
            // float32 and float64 thresholds may disagree only for |W| within rounding of Δ.
            if (ref.margin[i]! < 1e-6) continue;
            assert.ok(Math.abs(wHat[i]! - ref.wHat[i]!) < 1e-6, `${mode} Ŵ[${i}]: got ${wHat[i]}, expected ${ref.wHat[i]}`);
            compared++;
          }
          assert.equal(compared, values.length, 'no weight should sit on the threshold in this data');
          assert.equal(wHat[0], 0);
          assert.equal(wHat[7], 0);
          assertSameValues(take(quantizer.preQuantize(w)), values, 'W̃ = W');
          assert.ok(take(quantizer.calibration(w)).every((x) => x === 1), 'cal = 1');
          w.dispose();
        }
      });

      for (const estimator of ['ste', 'clipped-ste'] as Estimator[]) {
        it(`${mode} ${estimator}: dL/dW = α·R${estimator === 'clipped-ste' ? ' ⊙ 1{|W| ≤ 1}' : ''}`, () => {
          for (const shape of SHAPES) {
            const size = sizeOf(shape);
            const values = sampleWeights(size, 61 + shape.length);
            const upstream = sampleUniform(size, 8);
            const w = tf.tensor(values, shape);
            const r = tf.tensor(upstream, shape);
            const quantizer = new TernaryQuantizer({ perChannel, estimator });
            const gradient = take(tf.grad((x: Tensor) => tf.sum(tf.mul(quantizer.quantize(x), r)))(w));
            const ref = ternaryRef(values, shape, perChannel);
            const gate = estimator === 'clipped-ste' ? gateRef(values) : values.map(() => 1);
            const expected = Array.from(upstream, (g, i) => g * scaleOf(ref.alphas, i) * gate[i]!);
            assertClose(gradient, expected, `${mode} ${estimator} dL/dW`, 1e-6);
            tf.dispose([w, r]);
          }
        });
      }
    }

    it('α = 0 when no weight exceeds Δ (all-zero channel), and |W| = Δ is dropped', () => {
      // Channel 0 is all zero; channel 1 has |W| = 1 everywhere, so Δ = 0.7 and all are kept.
      const w = tf.tensor2d([
        [0, 1],
        [0, -1],
      ]);
      const quantizer = new TernaryQuantizer({ perChannel: true });
      assertSameValues(take(quantizer.quantize(w)), [0, 1, 0, -1], 'Ŵ');
      assert.deepEqual(Array.from(quantizer.encode(w).scales), [0, 1]);
      const gradient = take(tf.grad((x: Tensor) => tf.sum(quantizer.quantize(x)))(w));
      assertSameValues(gradient, [0, 1, 0, 1], 'α·g');
      w.dispose();
    });

    it('rejects bits other than 2', () => {
      assert.throws(() => new TernaryQuantizer({ bits: 1 }), /ternary bits '1'; expected one of: 2/);
    });
  });
}
