import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { BwnQuantizer, type Estimator } from '../../src/quantizers/index.js';
import { TEST_BACKENDS, assertClose, assertSameValues, bwnRef, sampleUniform, sampleWeights, sizeOf, take } from './helpers.js';

const SHAPES = [
  [6, 8],
  [3, 3, 4, 5],
];

for (const backend of TEST_BACKENDS) {
  describe(`bwn on ${backend}`, () => {
    before(() => useBackend(backend));

    for (const perChannel of [false, true]) {
      const mode = perChannel ? 'per channel' : 'per layer';

      it(`${mode}: Ŵ = mean|W|·sign(W) with sign(0) = 0`, () => {
        for (const shape of SHAPES) {
          const values = sampleWeights(sizeOf(shape), 31 + shape.length);
          const w = tf.tensor(values, shape);
          const quantizer = new BwnQuantizer({ perChannel });
          const ref = bwnRef(values, shape, perChannel);
          const wHat = take(quantizer.quantize(w));
          assertClose(wHat, ref.wHat, `${mode} Ŵ`, 1e-6);
          assert.equal(wHat[0], 0, 'W = +0 stays 0');
          assert.equal(wHat[7], 0, 'W = −0 stays 0');
          assertSameValues(take(quantizer.preQuantize(w)), values, 'W̃ = W');
          assert.ok(take(quantizer.calibration(w)).every((x) => x === 1), 'cal = 1');
          w.dispose();
        }
      });

      for (const estimator of ['ste', 'clipped-ste'] as Estimator[]) {
        it(`${mode} ${estimator}: dL/dW = a·R ⊙ 1{|W| ≤ 1} (the reference's gated STE)`, () => {
          for (const shape of SHAPES) {
            const size = sizeOf(shape);
            const values = sampleWeights(size, 41 + shape.length);
            const upstream = sampleUniform(size, 7);
            const w = tf.tensor(values, shape);
            const r = tf.tensor(upstream, shape);
            const quantizer = new BwnQuantizer({ perChannel, estimator });
            const gradient = take(tf.grad((x: Tensor) => tf.sum(tf.mul(quantizer.quantize(x), r)))(w));
            const ref = bwnRef(values, shape, perChannel);
            assertClose(gradient, Array.from(upstream, (g, i) => g * ref.steScale[i]!), `${mode} ${estimator} dL/dW`, 1e-6);
            // The specials ±1 sit on the gate's edge (passed); 1.5 and −2 are outside (blocked).
            assert.notEqual(gradient[14], 0);
            assert.ok(gradient[28] === 0, "blocked outside the gate");
            tf.dispose([w, r]);
          }
        });
      }
    }

    it('per-channel scales differ per output channel (last axis)', () => {
      // Channel c holds weights of magnitude c + 1, so a_c = c + 1.
      const shape = [2, 2, 3];
      const values = Float32Array.from({ length: 12 }, (_, i) => ((i % 3) + 1) * (i % 2 === 0 ? 1 : -1));
      const w = tf.tensor(values, shape);
      const encoding = new BwnQuantizer({ perChannel: true }).encode(w);
      assert.deepEqual(Array.from(encoding.scales), [1, 2, 3]);
      assertSameValues(take(new BwnQuantizer({ perChannel: true }).quantize(w)), values, 'Ŵ = W here');
      w.dispose();
    });

    it('tiny weights keep their sign (Ŵ = ±a, not 0)', () => {
      const w = tf.tensor1d([1e-7, -1e-7, 1e-30, 0.5]);
      const a = (1e-7 + 1e-7 + 1e-30 + 0.5) / 4;
      assertClose(take(new BwnQuantizer().quantize(w)), [a, -a, a, a], 'Ŵ', 1e-6);
      w.dispose();
    });

    it('rejects bits other than 1', () => {
      assert.throws(() => new BwnQuantizer({ bits: 2 }), /bwn bits '2'; expected one of: 1/);
    });
  });
}
