// --phi-objective ste-regression and --meta-warmup (issue 17), checked against the spec's formulas
// in float64 (test/helpers/metaquant64.ts), fed only the step's state before each iteration.
//
// The objective (src/train/metaquant/regression.ts): J(φ) = ‖cal ⊙ M_φ(g^{t−1}, W̃^{t−1}) − δ‖² / ‖δ‖²,
// cal = cal(W_t) and δ the STE gradient at the forward's weight W_meta⁰ (code mode W − α·G, paper
// mode with SGD W − α·cal ⊙ M_φ₀), δ = g_Ŵ(Q(A(W_meta⁰))) ⊙ (STE slope), a constant. The oracle
// evaluates J in float64 and takes central differences in φ; the step's φ-gradient is the one it
// hands to its meta optimizer. Tolerances as in phi-gradient.test.ts (whose header derives them):
// 2e-4 × the tensor's largest entry + 1e-6 × the largest of all.
// The warm-up: for the first STEPS iterations with a meta output W moves by δ (SGD: W − α·δ) and φ by
// J; afterwards W moves by cal ⊙ m (SGD: W − α·cal ⊙ m) and φ by the base loss, whose STE-path
// gradient is ∂/∂φ Σ_i (−α·cal_i·δ_i)·M_φ,i (spec §6, "how φ's gradient is computed").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { createMetaNetwork } from '../../src/meta/registry.js';
import { BaseOptimizer } from '../../src/train/optimizers.js';
import { MetaQuantStep } from '../../src/train/metaquant/step.js';
import type { MetaQuantOptions } from '../../src/train/metaquant/options.js';
import type { MetaKind } from '../../src/meta/types.js';
import { tinyModel, toyBatch } from '../helpers/tiny.js';
import { calibration64, centralDifferences, metaForward64, mlpLoss64, quantize64, type Phi, type Quantizer64 } from '../helpers/metaquant64.js';
import { KERNELS, before, concat, f64, type Before } from '../helpers/step-snapshot.js';

const ALPHA = 0.3;
const FD_STEP = 1e-4;
const DIMS = { n: 8, inF: 6, hidden: 5, classes: 3 };

/** Everything the oracles need at φ₀: cal, m⁰ (flat), δ (flat) and M_φ as a function. */
function at(kind: MetaKind, quantizer: Quantizer64['name'], mode: 'code' | 'paper', s: Before, x: Float64Array, labels: Int32Array) {
  const q: Quantizer64 = { name: quantizer, bits: 1 };
  const activation = kind === 'lstm' ? 'none' : 'tanh';
  const meta = (phi: Phi) => metaForward64(kind, activation, phi, s.gHatPrev, s.wTildePrev, s.lstm).m;
  const cal = concat(s.w.map((w) => calibration64(q, w)));
  const m0 = meta(s.phi);
  const n1 = s.w[0]!.length;
  const wMeta0 = s.w.map((w, l) => Float64Array.from(w, (v, i) => v - ALPHA * (mode === 'code' ? s.g![l]![i]! : cal[l * n1 + i]! * m0[l * n1 + i]!)));
  const bias = mode === 'code' ? Float64Array.from(s.bias, (b, i) => b - ALPHA * s.gBias![i]!) : s.bias;
  const q0 = wMeta0.map((w) => quantize64(q, w));
  for (const [l, qq] of q0.entries()) assert.ok(qq.margin > 1e-6, `${KERNELS[l]}: a quantizer decision within ${qq.margin} of its boundary`);
  const { g1, g2 } = mlpLoss64(x, labels, q0[0]!.wHat, q0[1]!.wHat, bias, DIMS);
  const delta = concat([g1, g2].map((g, l) => Float64Array.from(g, (v, i) => v * q0[l]!.slope[i]!)));
  return { meta, cal, m0, delta };
}

/** J(φ) of regression.ts, written again from its definition. */
function regressionOracle(o: ReturnType<typeof at>, phi: Phi): Map<string, Float64Array> {
  const energy = o.delta.reduce((a, d) => a + d * d, 0);
  const loss = (p: Phi) => o.meta(p).reduce((a, m, i) => a + (o.cal[i]! * m - o.delta[i]!) ** 2, 0) / energy;
  return centralDifferences(phi, loss, FD_STEP);
}

/** The base objective's STE-path gradient: ∂/∂φ Σ (−α·cal·δ)·M_φ. */
function stePathOracle(o: ReturnType<typeof at>, phi: Phi): Map<string, Float64Array> {
  return centralDifferences(phi, (p) => o.meta(p).reduce((a, m, i) => a - ALPHA * o.cal[i]! * o.delta[i]! * m, 0), FD_STEP);
}

function assertClose(got: Map<string, Float64Array>, expected: Map<string, Float64Array>, what: string): void {
  assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort(), `${what}: one gradient per φ tensor`);
  const overall = Math.max(...[...expected.values()].flatMap((g) => Array.from(g, Math.abs)));
  assert.ok(overall > 1e-6, `${what}: the oracle's gradient is not trivially zero (max ${overall})`);
  for (const [name, e] of expected) {
    const g = got.get(name)!;
    const scale = Math.max(...Array.from(e, Math.abs));
    let worst = 0;
    for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(g[i]! - e[i]!));
    assert.ok(worst <= 2e-4 * scale + 1e-6 * overall, `${what} ${name}: |applied − oracle| ${worst.toExponential(3)} > 2e-4 × ${scale.toExponential(3)} (+1e-6 × ${overall.toExponential(3)})`);
  }
}

/** A tiny MetaQuant step whose applied φ-gradients are captured. */
function setup(kind: MetaKind, quantizer: 'dorefa' | 'bwn', options: Partial<MetaQuantOptions>, optimizer = new BaseOptimizer({ name: 'sgd' })) {
  const seed = ['fcgrad', 'multifc', 'lstm'].indexOf(kind) * 7 + (quantizer === 'bwn' ? 3 : 0) + 1;
  const model = tinyModel({ name: quantizer, bits: 1 }, { hidden: [DIMS.hidden], batchNorm: false, seed });
  const meta = createMetaNetwork({ kind, hidden: 4, seed, activation: kind === 'lstm' ? 'none' : 'tanh' });
  const step = new MetaQuantStep(model, meta, optimizer, { mode: 'code', phiPath: 'ste', metaLr: 1e-2, ...options });
  const { x, y } = toyBatch(seed, DIMS.n, DIMS.inF, DIMS.classes);
  const captured: { grads: Map<string, Float64Array> | null } = { grads: null };
  step.metaOptimizer.onGradients = (grads) => {
    captured.grads = new Map([...grads].map(([k, g]) => [k, Float64Array.from(g.dataSync())]));
  };
  const data = { xs: Float64Array.from(x.dataSync()), labels: Int32Array.from(y.dataSync()) };
  const run = (t: number) => step.step(x, y, { epoch: 0, batchIndex: t, lr: ALPHA, lrMultiplier: 1 });
  const take = () => {
    const g = captured.grads;
    captured.grads = null;
    assert.ok(g, 'the step handed a φ-gradient to the meta optimizer');
    return g;
  };
  const dispose = () => {
    step.dispose();
    model.dispose();
    tf.dispose([x, y]);
  };
  return { model, meta, step, data, run, take, dispose };
}

for (const mode of ['code', 'paper'] as const) {
  for (const kind of ['fcgrad', 'multifc', 'lstm'] as const) {
    for (const quantizer of ['dorefa', 'bwn'] as const) {
      test(`--phi-objective ste-regression: the applied φ-gradient is ∂/∂φ ‖cal⊙M_φ − δ‖²/‖δ‖² (${kind}, ${quantizer}, --mq-mode ${mode})`, async () => {
        await useBackend('cpu');
        const r = setup(kind, quantizer, { mode, phiObjective: 'ste-regression' });
        r.run(0);
        r.step.takeDiagnostics();
        for (let t = 1; t <= 3; t++) {
          const s = before(r.step, r.model, r.meta);
          r.run(t);
          const o = at(kind, quantizer, mode, s, r.data.xs, r.data.labels);
          assertClose(r.take(), regressionOracle(o, s.phi), `t=${t}`);
          // The logged objective is J(φ₀) = ‖cal⊙m⁰ − δ‖²/‖δ‖².
          const j = o.m0.reduce((a, m, i) => a + (o.cal[i]! * m - o.delta[i]!) ** 2, 0) / o.delta.reduce((a, d) => a + d * d, 0);
          const logged = r.step.takeDiagnostics().phiRegressionError!;
          assert.ok(Math.abs(logged - j) <= 1e-4 * j, `t=${t}: logged phiRegressionError ${logged} ≠ J(φ₀) ${j}`);
        }
        r.dispose();
      });
    }
  }
}

test('--meta-warmup 2: W moves by STE and φ by the regression for 2 steps, then W by cal⊙m and φ by the base loss', async () => {
  await useBackend('cpu');
  for (const kind of ['fcgrad', 'lstm'] as const) {
    const r = setup(kind, 'dorefa', { metaWarmup: 2 });
    r.run(0);
    for (let t = 1; t <= 4; t++) {
      const s = before(r.step, r.model, r.meta);
      r.run(t);
      const o = at(kind, 'dorefa', 'code', s, r.data.xs, r.data.labels);
      const warm = t <= 2;
      assertClose(r.take(), warm ? regressionOracle(o, s.phi) : stePathOracle(o, s.phi), `${kind} t=${t} (${warm ? 'warm-up' : 'after'})`);
      // Plain SGD: W_{t+1} = W_t − α·(δ during the warm-up, cal⊙m⁰ after).
      const direction = warm ? o.delta : Float64Array.from(o.m0, (m, i) => o.cal[i]! * m);
      const wAfter = concat(KERNELS.map((k) => f64(r.model.params.get(k))));
      const wBefore = concat(s.w);
      const scale = Math.max(...Array.from(direction, Math.abs)) * ALPHA;
      for (let i = 0; i < wAfter.length; i++) {
        const expected = wBefore[i]! - ALPHA * direction[i]!;
        assert.ok(Math.abs(wAfter[i]! - expected) <= 1e-3 * scale + 1e-6, `${kind} t=${t}: W[${i}] ${wAfter[i]} ≠ ${expected} (${warm ? 'STE' : 'meta'} update)`);
      }
    }
    r.dispose();
  }
});

test('--freeze-phi --fix-c: c is the given value (fcgrad, multifc), the LSTM outputs c·g_Ŵ, and φ never moves', async () => {
  await useBackend('cpu');
  for (const kind of ['fcgrad', 'multifc', 'lstm'] as const) {
    for (const c of [1, -0.37]) {
      const model = tinyModel({ name: 'dorefa', bits: 1 }, { hidden: [DIMS.hidden], batchNorm: false, seed: 2 });
      const meta = createMetaNetwork({ kind, hidden: 4, seed: 2 });
      const step = new MetaQuantStep(model, meta, new BaseOptimizer({ name: 'sgd' }), { mode: 'code', phiPath: 'ste', metaLr: 1e-2, freezePhi: true, fixC: c });
      if (kind !== 'lstm') assert.ok(Math.abs(meta.effectiveScalar()! - c) <= 1e-6 * Math.abs(c), `${kind}: c = ${meta.effectiveScalar()}, expected ${c}`);
      const phi0 = new Map([...meta.params].map(([k, v]) => [k, f64(v)]));
      const { x, y } = toyBatch(2, DIMS.n, DIMS.inF, DIMS.classes);
      step.recordTrace = true;
      for (let t = 0; t < 3; t++) {
        const gPrev = t > 0 ? concat(KERNELS.map((k) => f64(step.previousGHat(k)!))) : null;
        const wTildePrev = t > 0 ? concat(KERNELS.map((k) => f64(step.previousWTilde(k)!))) : null;
        step.step(x, y, { epoch: 0, batchIndex: t, lr: ALPHA, lrMultiplier: 1 });
        if (!gPrev) continue;
        // m = c·g (fcgrad), c·g⊙W̃ (multifc: c·x with x = W̃), c·g (lstm with its output layer fixed).
        const m = concat(KERNELS.map((k) => f64(step.lastTrace!.metaGrad.get(k)!)));
        for (let i = 0; i < m.length; i++) {
          const expected = c * gPrev[i]! * (kind === 'multifc' ? wTildePrev![i]! : 1);
          assert.ok(Math.abs(m[i]! - expected) <= 1e-5 * Math.abs(expected) + 1e-9, `${kind} c=${c} t=${t}: m[${i}] ${m[i]} ≠ ${expected}`);
        }
      }
      for (const [k, v] of meta.params) assert.deepEqual(f64(v), phi0.get(k), `${kind}: φ ${k} moved although frozen`);
      step.dispose();
      model.dispose();
      tf.dispose([x, y]);
    }
  }
});

test('bad combinations of the φ objective options are refused with the option named', async () => {
  await useBackend('cpu');
  const cases: Array<[Partial<MetaQuantOptions>, RegExp, string?]> = [
    [{ phiObjective: 'ste-regression', phiPath: 'meta' }, /--phi-objective ste-regression .* --phi-path \(got meta, expected ste\)/],
    [{ metaWarmup: 5, freezePhi: true }, /--meta-warmup .* --freeze-phi/],
    [{ metaWarmup: 5, mode: 'paper' }, /--meta-warmup needs --mq-mode code/],
    [{ metaWarmup: 1.5 }, /--meta-warmup must be a whole number/],
    [{ fixC: 1 }, /--fix-c needs --freeze-phi/],
    [{ fixC: 0, freezePhi: true }, /--fix-c must be a finite non-zero number/],
    [{ fixC: 1, freezePhi: true }, /--fix-c needs a meta network with a scalar c: .*--meta-activation tanh/, 'tanh'],
  ];
  for (const [options, message, activation] of cases) {
    const model = tinyModel({ name: 'dorefa', bits: 1 }, { hidden: [DIMS.hidden], batchNorm: false });
    const meta = createMetaNetwork({ kind: 'fcgrad', hidden: 4, seed: 1, activation: (activation as 'tanh' | undefined) ?? 'none' });
    assert.throws(() => new MetaQuantStep(model, meta, new BaseOptimizer({ name: 'sgd' }), { mode: 'code', phiPath: 'ste', metaLr: 1e-3, ...options }), message, JSON.stringify(options));
    meta.dispose();
    model.dispose();
  }
});
