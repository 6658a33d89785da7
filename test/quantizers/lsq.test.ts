import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { LsqQuantizer, createQuantizer, quantizerFromConfig, quantizerTakesBits } from '../../src/quantizers/index.js';
import { TEST_BACKENDS, assertClose, assertSameValues, decode, roundHalfEven, sampleUniform, sampleWeights, take } from './helpers.js';
import { lsqStepGradRef } from './act-helpers.js';

const SHAPE = [6, 5];
const SIZE = 30;
const f = Math.fround;

/** Signed LSQ reference: levels q(v), the gate, and Ŵ = s·q. */
function lsqWeightRef(w: ArrayLike<number>, step: number, bits: number) {
  const s = f(step);
  const [qn, qp] = bits === 1 ? [1, 1] : [2 ** (bits - 1), 2 ** (bits - 1) - 1];
  const v = Array.from(w, (x) => f(x / s));
  const q = v.map((vi) => (bits === 1 ? (vi >= 0 ? 1 : -1) : Math.min(Math.max(roundHalfEven(vi), -qn), qp)));
  return { v, q, qp, wHat: q.map((l) => f(l * s)), inside: v.map((vi) => (vi >= -qn && vi <= qp ? 1 : 0)) };
}

for (const backend of TEST_BACKENDS) {
  describe(`lsq weights on ${backend}`, () => {
    before(() => useBackend(backend));
    const values = sampleWeights(SIZE, 23);
    const r = sampleUniform(SIZE, 29);

    for (const bits of [1, 2, 4, 8]) {
      it(`${bits}-bit: Ŵ = s·q(W/s), dL/dW = r·1{inside}, dL/ds = Σ r·(q − v·1{inside})/√(N·Q_P); encode decodes to Ŵ`, () => {
        const step = 0.3;
        const ref = lsqWeightRef(values, step, bits);
        const q = new LsqQuantizer({ bits });
        const w = tf.tensor(values, SHAPE);
        const s = tf.tensor([step], [1]);
        const rt = tf.tensor(r, SHAPE);
        assertSameValues(take(q.quantizeWithStep(w, s)), ref.wHat, 'Ŵ');
        const [gw, gs] = tf.grads((a: Tensor, b: Tensor) => tf.sum(tf.mul(q.quantizeWithStep(a, b), rt)))([w, s]);
        assertClose(take(gw!), Array.from(r, (ri, i) => ri * ref.inside[i]!), 'dL/dW', 0);
        assertClose([take(gs!)[0]!], [lsqStepGradRef(r, ref.v, ref.q, ref.inside, SIZE, ref.qp)], 'dL/ds', 1e-5);
        const encoding = q.encodeWithStep(w, s);
        assert.equal(encoding.bits, bits);
        assertSameValues(decode(encoding), ref.wHat, 'decoded Ŵ');
        tf.dispose([w, s, rt]);
      });
    }

    it('dL/ds matches finite differences where every weight is clipped', () => {
      const q = new LsqQuantizer({ bits: 2 });
      const big = Float32Array.from(values, (v) => (v >= 0 ? 3 + v : -3 + v));
      const loss = (s: number) => tf.tidy(() => tf.sum(tf.mul(q.quantizeWithStep(tf.tensor(big, SHAPE), tf.tensor([s], [1])), tf.tensor(r, SHAPE))).dataSync()[0]!);
      const h = 1e-3;
      const fd = (loss(0.5 + h) - loss(0.5 - h)) / (2 * h);
      const gs = take(tf.grad((s: Tensor) => tf.sum(tf.mul(q.quantizeWithStep(tf.tensor(big, SHAPE), s), tf.tensor(r, SHAPE))))(tf.tensor([0.5], [1])));
      assertClose([gs[0]!], [fd / Math.sqrt(SIZE * 1)], 'dL/ds vs FD', 1e-3);
    });
  });
}

describe('lsq weight quantizer', () => {
  it('is registered with a bit width, round-trips its config, and explains why quantize(w) alone is refused', () => {
    assert.ok(quantizerTakesBits('lsq'));
    assert.deepEqual(quantizerFromConfig({ name: 'lsq', bits: 3 }).getConfig(), { name: 'lsq', bits: 3, perChannel: false, estimator: 'ste' });
    assert.throws(() => createQuantizer({ name: 'lsq', bits: 9 }), /lsq bits '9'/);
    assert.throws(() => createQuantizer({ name: 'lsq', perChannel: true }), /perChannel/);
    assert.throws(() => new LsqQuantizer().quantize(), /learns a step per layer.*MetaQuant/s);
  });

  it('initial step: 2·mean|W|/√Q_P, and mean|W| at one bit', () => {
    const w = Float32Array.of(1, -3, 0.5, -0.5);
    assert.equal(new LsqQuantizer({ bits: 3 }).initialStep(w), (2 * 1.25) / Math.sqrt(3));
    assert.equal(new LsqQuantizer({ bits: 1 }).initialStep(w), 1.25);
    assert.equal(new LsqQuantizer({ bits: 1 }).initialStep(new Float32Array(4)), 1);
  });
});
