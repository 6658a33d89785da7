import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import {
  DorefaActQuantizer,
  LsqActQuantizer,
  PactActQuantizer,
  SignActQuantizer,
  actQuantizerFromConfig,
  lsqInitialActStep,
  type ActivationQuantizer,
} from '../../src/quantizers/index.js';
import { TEST_BACKENDS, assertClose, assertSameValues, gateRef, sampleUniform, seededRandom, signRef, take } from './helpers.js';
import { lsqStepGradRef, sampleActivations, uniformRef } from './act-helpers.js';

const SHAPE = [4, 30];
const SIZE = 120;

/** y and the gradients of L = Σ r·y with respect to x (and the scale, when given). */
function run(q: ActivationQuantizer, x: Float32Array, r: Float32Array, scale?: number) {
  const xt = tf.tensor(x, SHAPE);
  const rt = tf.tensor(r, SHAPE);
  const st = scale === undefined ? undefined : tf.tensor([scale], [1]);
  const y = take(q.quantize(xt, st));
  const loss = (a: Tensor, b?: Tensor) => tf.sum(tf.mul(q.quantize(a, b), rt));
  let dx: Float64Array;
  let ds: number | undefined;
  if (st) {
    const [gx, gs] = tf.grads((a: Tensor, b: Tensor) => loss(a, b))([xt, st]);
    dx = take(gx!);
    ds = take(gs!)[0];
  } else dx = take(tf.grad((a: Tensor) => loss(a))(xt));
  tf.dispose([xt, rt, ...(st ? [st] : [])]);
  return { y, dx, ds };
}

/** L(scale) = Σ r·y by central differences (only where L is smooth in the scale). */
function finiteDifference(q: ActivationQuantizer, x: Float32Array, r: Float32Array, scale: number, h = 1e-3): number {
  const at = (s: number) =>
    tf.tidy(() => tf.sum(tf.mul(q.quantize(tf.tensor(x, SHAPE), tf.tensor([s], [1])), tf.tensor(r, SHAPE))).dataSync()[0]!);
  return (at(scale + h) - at(scale - h)) / (2 * h);
}

for (const backend of TEST_BACKENDS) {
  describe(`activation quantizers on ${backend}`, () => {
    before(() => useBackend(backend));
    const random = seededRandom(16);
    const x = sampleActivations(SIZE, random, [0, -0, 1, -1, 0.5, 3, 1 / 3]);
    const r = sampleUniform(SIZE, 5);

    it('sign: y = sign(x) with sign(0) = +1; dL/dx = r·1{|x| ≤ 1}', () => {
      const { y, dx } = run(new SignActQuantizer(), x, r);
      assertSameValues(y, signRef(x), 'y');
      assertClose(dx, Array.from(r, (ri, i) => ri * gateRef(x)[i]!), 'dL/dx', 0);
    });

    for (const bits of [1, 2, 4, 8]) {
      it(`dorefa ${bits}-bit: clip to [0, 1], round to the grid i/(2^k − 1); dL/dx = r inside [0, 1]`, () => {
        const ref = uniformRef(x, 1 / (2 ** bits - 1), 2 ** bits - 1);
        const { y, dx } = run(new DorefaActQuantizer({ bits }), x, r);
        assertSameValues(y, ref.y, 'y');
        assert.ok(y.every((v) => v >= 0 && v <= 1), 'y in [0, 1]');
        assertClose(dx, Array.from(r, (ri, i) => ri * ref.gate[i]!), 'dL/dx', 0);
      });
    }

    for (const bits of [1, 2, 4]) {
      it(`pact ${bits}-bit: y on the grid of step α/Q; dL/dx = r·1{0 ≤ x/s ≤ Q}, dL/dα = Σ r·1{x/s > Q}`, () => {
        const alpha = 2.5;
        const Q = 2 ** bits - 1;
        const ref = uniformRef(x, Math.fround(alpha) / Q, Q);
        const { y, dx, ds } = run(new PactActQuantizer({ bits }), x, r, alpha);
        assertSameValues(y, ref.y, 'y');
        assertClose(dx, Array.from(r, (ri, i) => ri * ref.gate[i]!), 'dL/dx', 0);
        const expected = ref.v.reduce((sum, v, i) => sum + (v > Q ? r[i]! : 0), 0);
        assertClose([ds!], [expected], 'dL/dalpha', 1e-5);
      });
    }

    it('pact: dL/dα matches finite differences where every input is clipped (L = α·Σr)', () => {
      const clipped = Float32Array.from(x, (v) => 4 + Math.abs(v));
      const { ds } = run(new PactActQuantizer({ bits: 2 }), clipped, r, 2);
      assertClose([ds!], [finiteDifference(new PactActQuantizer({ bits: 2 }), clipped, r, 2)], 'dL/dalpha vs FD', 1e-3);
    });

    for (const bits of [1, 2, 3, 8]) {
      it(`lsq ${bits}-bit: y = s·clamp(round(x/s), 0, Q_P); dL/ds = Σ r·(q − v·1{inside})/√(N·Q_P)`, () => {
        const step = 0.37;
        const Q = 2 ** bits - 1;
        const ref = uniformRef(x, step, Q);
        const { y, dx, ds } = run(new LsqActQuantizer({ bits }), x, r, step);
        assertSameValues(y, ref.y, 'y');
        assertClose(dx, Array.from(r, (ri, i) => ri * ref.gate[i]!), 'dL/dx', 0);
        // N = features per example (the tensor is [4, 30]: N = 30).
        assertClose([ds!], [lsqStepGradRef(r, ref.v, ref.codes, ref.gate, 30, Q)], 'dL/ds', 1e-5);
      });
    }

    it('lsq: dL/ds matches finite differences (times the gradient scale) where inputs are clipped', () => {
      const q = new LsqActQuantizer({ bits: 2 });
      const clipped = Float32Array.from(x, (v) => 2 + Math.abs(v));
      const { ds } = run(q, clipped, r, 0.4);
      assertClose([ds!], [finiteDifference(q, clipped, r, 0.4) / Math.sqrt(30 * 3)], 'dL/ds vs FD', 1e-3);
    });

    it('PACT and LSQ need their learned scalar; deployment gives the same grid', () => {
      assert.throws(() => new PactActQuantizer({ bits: 2 }).quantize(tf.zeros([1, 2])), /learns a per-layer scalar/);
      assert.deepEqual(new LsqActQuantizer({ bits: 2 }).deployment(0.5), { kind: 'uniform', step: 0.5, maxCode: 3 });
      assert.deepEqual(new PactActQuantizer({ bits: 2 }).deployment(3), { kind: 'uniform', step: 1, maxCode: 3 });
      assert.throws(() => new PactActQuantizer({ bits: 2 }).deployment(-1), /positive finite/);
      assert.deepEqual(new SignActQuantizer().deployment(), { kind: 'sign' });
    });
  });
}

describe('activation quantizer registry', () => {
  it('round-trips every config and rejects bad ones naming the problem', () => {
    for (const config of [{ name: 'sign', bits: 1 }, { name: 'dorefa', bits: 3 }, { name: 'pact', bits: 2 }, { name: 'lsq', bits: 8 }]) {
      assert.deepEqual(actQuantizerFromConfig(config).getConfig(), config);
    }
    assert.throws(() => actQuantizerFromConfig({ name: 'relu6' }), /unknown activation quantizer 'relu6'.*sign, dorefa, pact, lsq/);
    assert.throws(() => actQuantizerFromConfig({ name: 'lsq', bits: 9 }), /lsq activation bits '9'/);
    assert.throws(() => actQuantizerFromConfig({ name: 'sign', bits: 2 }), /sign activation bits '2'/);
    assert.throws(() => actQuantizerFromConfig({ name: 'pact', bit: 2 }), /activation quantizer config key 'bit'/);
  });

  it("LSQ's initial step is 2·0.4/√Q_P", () => {
    assert.equal(lsqInitialActStep(2), 0.8 / Math.sqrt(3));
  });
});
