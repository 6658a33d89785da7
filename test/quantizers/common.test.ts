// Behaviour every quantizer shares: capture of W̃ and ∂L/∂Ŵ, exact encodings, no leaked tensors.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { createQuantizer, type QuantizeCapture, type QuantizerConfig } from '../../src/quantizers/index.js';
import { TEST_BACKENDS, assertClose, assertSameValues, decode, sampleUniform, sampleWeights, sizeOf, take } from './helpers.js';

const CONFIGS: QuantizerConfig[] = [
  ...[1, 2, 3, 4, 5, 6, 7, 8].map((bits) => ({ name: 'dorefa', bits })),
  { name: 'dorefa', bits: 2, estimator: 'clipped-ste' },
  { name: 'bwn' },
  { name: 'bwn', perChannel: true },
  { name: 'ternary' },
  { name: 'ternary', perChannel: true, estimator: 'clipped-ste' },
  { name: 'sign' },
  { name: 'sign', estimator: 'clipped-ste' },
];

const SHAPES = [
  [6, 8],
  [3, 3, 4, 5],
];

const label = (config: QuantizerConfig) => JSON.stringify(config);

for (const backend of TEST_BACKENDS) {
  describe(`all quantizers on ${backend}`, () => {
    before(() => useBackend(backend));

    it('capture records W̃ in the forward and ∂L/∂Ŵ (= R) in the backward, replacing old tensors', () => {
      const shape = [3, 3, 4, 5];
      const size = sizeOf(shape);
      const w = tf.tensor(sampleWeights(size, 3), shape);
      for (const config of CONFIGS) {
        const quantizer = createQuantizer(config);
        const capture: QuantizeCapture = {};
        const expectedWTilde = take(quantizer.preQuantize(w));
        let previous: QuantizeCapture = {};
        for (const seed of [1, 2]) {
          const upstream = sampleUniform(size, seed);
          const r = tf.tensor(upstream, shape);
          const before = tf.memory().numTensors;
          tf.tidy(() => {
            tf.grad((x: Tensor) => tf.sum(tf.mul(quantizer.quantize(x, capture), r)))(w);
          });
          // Only the two captured tensors outlive the step; the previous pair was disposed.
          assert.equal(tf.memory().numTensors, before + (seed === 1 ? 2 : 0), `${label(config)}: tensor count`);
          assert.ok(capture.wTilde && capture.gHat, `${label(config)}: captured`);
          assert.deepEqual(capture.gHat.shape, shape);
          assertSameValues(capture.gHat.dataSync(), upstream, `${label(config)} gHat`);
          assertSameValues(capture.wTilde.dataSync(), expectedWTilde, `${label(config)} wTilde`);
          if (previous.wTilde) assert.ok(previous.wTilde.isDisposed && previous.gHat!.isDisposed, 'old captures disposed');
          previous = { ...capture };
          r.dispose();
        }
        // Without a gradient tape only the forward records, and nothing else is kept.
        const before = tf.memory().numTensors;
        tf.dispose(quantizer.quantize(w, capture));
        assert.equal(tf.memory().numTensors, before, `${label(config)}: forward-only tensor count`);
        assert.ok(previous.wTilde!.isDisposed && !previous.gHat!.isDisposed);
        tf.dispose([capture.wTilde!, capture.gHat!]);
      }
      w.dispose();
    });

    it('quantize, calibration, preQuantize and encode leak no tensors', () => {
      const w = tf.tensor(sampleWeights(48, 4), [6, 8]);
      for (const config of CONFIGS) {
        const quantizer = createQuantizer(config);
        const before = tf.memory().numTensors;
        tf.dispose([quantizer.quantize(w), quantizer.calibration(w), quantizer.preQuantize(w)]);
        quantizer.encode(w);
        tf.tidy(() => {
          tf.grad((x: Tensor) => tf.sum(quantizer.quantize(x)))(w);
        });
        assert.equal(tf.memory().numTensors, before, label(config));
      }
      w.dispose();
    });

    it('encode: scales[channel]·levels[code] reproduces Ŵ exactly', () => {
      for (const shape of SHAPES) {
        const withZeros = sampleWeights(sizeOf(shape), 5);
        const withoutZeros = withZeros.map((x) => (x === 0 ? 0.25 : x));
        for (const values of [withZeros, withoutZeros]) {
          const w = tf.tensor(values, shape);
          for (const config of CONFIGS) {
            const quantizer = createQuantizer(config);
            const encoding = quantizer.encode(w);
            const what = `${label(config)} ${JSON.stringify(shape)}`;
            assert.equal(encoding.codes.length, values.length, what);
            assert.equal(encoding.levels.length, 2 ** encoding.bits, `${what}: code book size`);
            assert.ok(encoding.codes.every((code) => code < 2 ** encoding.bits), `${what}: codes fit`);
            assert.equal(encoding.scales.length, config.perChannel ? shape[shape.length - 1] : 1, `${what}: scales`);
            assertSameValues(decode(encoding), take(quantizer.quantize(w)), what);
          }
          w.dispose();
        }
      }
    });

    it('encoded bit widths: dorefa k, bwn 1 (2 with an exact zero), ternary 2, sign 1', () => {
      const withZero = tf.tensor1d([0.5, -0.25, 0, 1]);
      const withoutZero = tf.tensor1d([0.5, -0.25, 0.1, 1]);
      for (let bits = 1; bits <= 8; bits++) assert.equal(createQuantizer({ name: 'dorefa', bits }).encode(withZero).bits, bits);
      const bwn = createQuantizer({ name: 'bwn' });
      assert.equal(bwn.encode(withoutZero).bits, 1);
      assert.deepEqual(Array.from(bwn.encode(withoutZero).levels), [-1, 1]);
      assert.equal(bwn.encode(withZero).bits, 2);
      assert.deepEqual(Array.from(bwn.encode(withZero).levels), [-1, 0, 1, 0]);
      assert.deepEqual(Array.from(bwn.encode(withZero).codes), [2, 0, 1, 2]);
      assert.equal(createQuantizer({ name: 'ternary' }).encode(withZero).bits, 2);
      const sign = createQuantizer({ name: 'sign' }).encode(withZero);
      assert.equal(sign.bits, 1);
      assert.deepEqual(Array.from(sign.codes), [1, 0, 1, 1]);
      tf.dispose([withZero, withoutZero]);
    });

    it('bits property: dorefa k, bwn 1, ternary 2, sign 1', () => {
      assert.equal(createQuantizer({ name: 'dorefa', bits: 5 }).bits, 5);
      assert.equal(createQuantizer({ name: 'dorefa' }).bits, 1);
      assert.equal(createQuantizer({ name: 'bwn' }).bits, 1);
      assert.equal(createQuantizer({ name: 'ternary' }).bits, 2);
      assert.equal(createQuantizer({ name: 'sign' }).bits, 1);
    });

    it('clipped-ste equals ste inside |W| ≤ 1 and is 0 outside, for every family', () => {
      const values = Float32Array.of(-2, -1, -0.5, 0, 0.5, 1, 1.5, 3);
      const w = tf.tensor1d(values);
      for (const name of ['dorefa', 'bwn', 'ternary', 'sign']) {
        const gradientOf = (estimator: 'ste' | 'clipped-ste') =>
          take(tf.grad((x: Tensor) => tf.sum(createQuantizer({ name, estimator }).quantize(x)))(w));
        const ste = gradientOf('ste');
        const clipped = gradientOf('clipped-ste');
        const expected = Array.from(values, (x, i) => (Math.abs(x) <= 1 ? ste[i]! : 0));
        assertClose(clipped, expected, `${name} clipped-ste`, 0);
      }
      w.dispose();
    });

    it("preQuantizeDerivative is A′ = ∂W̃/∂W with the layer statistics held constant (central differences of preQuantize); label names the family and dorefa's width", () => {
      const shape = [6, 8];
      const values = sampleWeights(sizeOf(shape), 11, 0.5);
      const w = tf.tensor(values, shape);
      // float32 central differences: truncation h²·|A‴|/6 ≈ 2e-5 and roundoff ε·|W̃|/h ≈ 6e-6 at h = 1e-2.
      const h = 1e-2;
      for (const config of CONFIGS) {
        const quantizer = createQuantizer(config);
        const derivative = take(quantizer.preQuantizeDerivative(w));
        const wTilde = (x: Float32Array) => take(quantizer.preQuantize(tf.tensor(x, shape)));
        const tanhMax = Math.max(...Array.from(values, (v) => Math.abs(Math.tanh(v))));
        for (let i = 0; i < values.length; i++) {
          // dorefa's statistic max|tanh W| moves only with the elements that can reach it.
          if (config.name === 'dorefa' && Math.abs(Math.tanh(values[i]!)) + h >= tanhMax) continue;
          const shifted = (by: number) => Float32Array.from(values, (v, j) => (j === i ? v + by : v));
          const fd = (wTilde(shifted(h))[i]! - wTilde(shifted(-h))[i]!) / (2 * h);
          assert.ok(Math.abs(fd - derivative[i]!) <= 1e-4 + 1e-3 * Math.abs(derivative[i]!), `${label(config)}[${i}]: A′ ${derivative[i]} vs ${fd}`);
        }
        assert.equal(quantizer.label, config.name === 'dorefa' ? `dorefa ${config.bits}-bit` : config.name);
      }
      w.dispose();
    });
  });
}
