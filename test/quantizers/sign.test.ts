import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { SignQuantizer, type Estimator } from '../../src/quantizers/index.js';
import { TEST_BACKENDS, assertClose, assertSameValues, gateRef, sampleUniform, sampleWeights, signRef, sizeOf, take } from './helpers.js';

const SHAPE = [3, 3, 4, 5];

for (const backend of TEST_BACKENDS) {
  describe(`sign on ${backend}`, () => {
    before(() => useBackend(backend));

    it('Ŵ = sign(W) ∈ {−1, +1} with sign(±0) = +1, no scale', () => {
      const values = sampleWeights(sizeOf(SHAPE), 71);
      const w = tf.tensor(values, SHAPE);
      const quantizer = new SignQuantizer();
      const wHat = take(quantizer.quantize(w));
      assertSameValues(wHat, signRef(values), 'Ŵ');
      assert.equal(wHat[0], 1, 'sign(+0)');
      assert.equal(wHat[7], 1, 'sign(−0)');
      assertSameValues(take(quantizer.preQuantize(w)), values, 'W̃ = W');
      assert.ok(take(quantizer.calibration(w)).every((x) => x === 1), 'cal = 1');
      w.dispose();
    });

    for (const estimator of ['ste', 'clipped-ste'] as Estimator[]) {
      it(`${estimator}: dL/dW = R${estimator === 'clipped-ste' ? ' ⊙ 1{|W| ≤ 1}' : ''}`, () => {
        const size = sizeOf(SHAPE);
        const values = sampleWeights(size, 81);
        const upstream = sampleUniform(size, 9);
        const w = tf.tensor(values, SHAPE);
        const r = tf.tensor(upstream, SHAPE);
        const quantizer = new SignQuantizer({ estimator });
        const gradient = take(tf.grad((x: Tensor) => tf.sum(tf.mul(quantizer.quantize(x), r)))(w));
        const gate = estimator === 'clipped-ste' ? gateRef(values) : values.map(() => 1);
        assertClose(gradient, Array.from(upstream, (g, i) => g * gate[i]!), `${estimator} dL/dW`, 0);
        tf.dispose([w, r]);
      });
    }

    it('rejects bits other than 1 and perChannel', () => {
      assert.throws(() => new SignQuantizer({ bits: 2 }), /sign bits '2'; expected one of: 1/);
      assert.throws(() => new SignQuantizer({ perChannel: true }), /perChannel/);
    });
  });
}
