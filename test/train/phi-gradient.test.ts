// The φ-gradient MetaQuantStep hands to its meta optimizer (captured by `TorchAdam.onGradients`:
// exactly the tensors `TorchAdam.step` receives) against an oracle that shares no code with the step:
// the spec's formulas in float64 JavaScript (test/helpers/metaquant64.ts), fed only the step's
// state *before* the step (W, G, g_Ŵ^{t−1}, W̃^{t−1}, LSTM state, φ) and the batch.
//
// 'ste' φ-path (spec §6, "how φ's gradient is computed"): the step differentiates
//   W_meta(φ) = W − α·(cal ⊙ M_φ(g^{t−1}, W̃^{t−1}) + stopgrad(G − cal ⊙ M_φ)),
// whose value is W − α·G and whose φ-derivative is −α·cal ⊙ ∂M_φ/∂φ, forward through the STE
// quantizer and the cross-entropy. The oracle is L(φ) with stopgrad frozen at φ₀ and Q replaced
// by its STE stand-in at W_meta(φ₀), Ŵ(φ) = Q(W_meta⁰) + Q′_STE(W_meta⁰) ⊙ (W_meta(φ) − W_meta⁰): a
// smooth function whose derivative at φ₀ is, by the chain rule, exactly what "forward with the STE
// quantizer" means; its central differences are compared with the step's gradient.
// Paper mode (spec §7) with plain SGD (π = identity): G = cal ⊙ M_φ₀, so W_meta⁰ = W − α·cal⊙M_φ₀
// is the post-update weight, and the derivative is the same.
// 'meta' φ-path (Eq. 8, spec §7): the meta network's own output on this iteration's inputs,
// M_t = M_φ₀(g_Ŵ^t, W̃^t; state after this step's meta call), replaces ∂L/∂W̃, so
//   ∂L/∂φ = Σ_i M_t,i · ∂W̃_i/∂φ = ∂/∂φ Σ_i (−α · cal_i · A′(W_meta⁰)_i · M_t,i) · M_φ,i,
// with g_Ŵ^t from a hand-written float64 backward of the network at Ŵ = Q(A(W_meta⁰)); the oracle
// is the central difference of that weighted sum.
//
// Step sizes and tolerances: the oracle runs in float64 with h = 1e-4 on φ entries of size
// 0.05–1. Every function differentiated is smooth at φ₀ (tanh activations, LSTM; the ReLU of the
// base network is never at a kink for the batch) and Q's decisions are the step's: float32
// computes W_meta to ~1e-7, and every decision sits ≥ 1e-6 from its boundary (asserted). So the
// truncation error h²/6·|f'''| is ≲ 1e-9 relative and the roundoff ε₆₄·|f|/h ≈ 1e-12: the oracle is exact to far below what float32 can show. The step computes in
// float32 (ε = 6e-8): the forward/backward, the cotangent and the VJP are sums of ≤ 45·hidden
// products, each a few ulps off, so a gradient entry carries ~1e-6 of the largest term it sums.
// Per tensor we allow 2e-4 × that tensor's largest |entry| (a margin of ~100 over the float32
// expectation for cancellation), plus 1e-6 × the largest entry of all tensors, which absorbs
// float32 noise in entries that are exactly 0 in float64 (the LSTM's W_hh while its state is 0).
// Measured on cpu: at most 2.6e-6 × the tensor's largest entry over all 24 cases and 3 iterations.
// A wrong factor (no cal, the wrong sign, α missing, Eq. 8 replaced by STE) moves entries by O(1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { createMetaNetwork } from '../../src/meta/registry.js';
import { BaseOptimizer, type OptimizerConfig } from '../../src/train/optimizers.js';
import { MetaQuantStep } from '../../src/train/metaquant/step.js';
import type { MetaKind } from '../../src/meta/types.js';
import { tinyModel, toyBatch } from '../helpers/tiny.js';
import { calibration64, centralDifferences, metaForward64, mlpLoss64, quantize64, type Phi, type Quantizer64 } from '../helpers/metaquant64.js';
import { KERNELS, before, concat, type Before } from '../helpers/step-snapshot.js';

const KINDS: MetaKind[] = ['fcgrad', 'multifc', 'lstm'];
const QUANTIZERS = ['dorefa', 'bwn'] as const;
const MODES = ['code', 'paper'] as const;
const PHI_PATHS = ['ste', 'meta'] as const;
const ALPHA = 0.3;
const FD_STEP = 1e-4;
const DIMS = { n: 8, inF: 6, hidden: 5, classes: 3 };

interface Case {
  kind: MetaKind;
  quantizer: (typeof QUANTIZERS)[number];
  mode: (typeof MODES)[number];
  phiPath: (typeof PHI_PATHS)[number];
}

/** ∂L/∂φ by the spec's formulas (see the header), from the state before the step. */
function oracle(c: Case, s: Before, x: Float64Array, labels: Int32Array): Map<string, Float64Array> {
  const q: Quantizer64 = { name: c.quantizer, bits: 1 };
  const activation = c.kind === 'lstm' ? 'none' : 'tanh';
  const sizes = s.w.map((w) => w.length);
  const split = (flat: Float64Array) => [flat.subarray(0, sizes[0]), flat.subarray(sizes[0], sizes[0]! + sizes[1]!)];
  const meta = (phi: Phi) => metaForward64(c.kind, activation, phi, s.gHatPrev, s.wTildePrev, s.lstm);
  const cal = s.w.map((w) => calibration64(q, w));
  const first = meta(s.phi);
  const m0 = split(first.m);
  // W_meta⁰: code mode W − α·G (G the last applied direction); paper mode with SGD W − α·cal⊙m⁰.
  const wMeta0 = s.w.map((w, l) => Float64Array.from(w, (v, i) => v - ALPHA * (c.mode === 'code' ? s.g![l]![i]! : cal[l]![i]! * m0[l]![i]!)));
  const bias = c.mode === 'code' ? Float64Array.from(s.bias, (b, i) => b - ALPHA * s.gBias![i]!) : s.bias;
  const q0 = wMeta0.map((w) => quantize64(q, w));
  for (const [l, qq] of q0.entries()) assert.ok(qq.margin > 1e-6, `${KERNELS[l]}: a quantizer decision within ${qq.margin} of its boundary; the oracle would be ill-posed`);
  const lossAt = (w1: Float64Array, w2: Float64Array) => mlpLoss64(x, labels, w1, w2, bias, DIMS);
  if (c.phiPath === 'ste') {
    const surrogate = (phi: Phi) => {
      const m = split(meta(phi).m);
      const wHat = q0.map((qq, l) => Float64Array.from(qq.wHat, (v, i) => v + qq.slope[i]! * -ALPHA * cal[l]![i]! * (m[l]![i]! - m0[l]![i]!)));
      return lossAt(wHat[0]!, wHat[1]!).loss;
    };
    return centralDifferences(s.phi, surrogate, FD_STEP);
  }
  const { g1, g2 } = lossAt(q0[0]!.wHat, q0[1]!.wHat);
  const mNow = metaForward64(c.kind, activation, s.phi, concat([g1, g2]), concat(q0.map((qq) => qq.wTilde)), first.state ?? null).m;
  const weights = concat(q0.map((qq, l) => Float64Array.from(qq.aPrime, (a, i) => -ALPHA * cal[l]![i]! * a * mNow[(l === 0 ? 0 : sizes[0]!) + i]!)));
  return centralDifferences(s.phi, (phi) => meta(phi).m.reduce((sum, m, i) => sum + weights[i]! * m, 0), FD_STEP);
}

function optimizerFor(c: Case): OptimizerConfig {
  if (c.mode === 'paper') return { name: 'sgd' };
  return c.quantizer === 'dorefa' ? { name: 'adam', weightDecay: 5e-4 } : { name: 'sgd', momentum: 0.9 };
}

for (const mode of MODES) {
  for (const phiPath of PHI_PATHS) {
    for (const kind of KINDS) {
      for (const quantizer of QUANTIZERS) {
        const c: Case = { kind, quantizer, mode, phiPath };
        test(`the φ-gradient the step applies matches the float64 oracle: ${kind}, ${quantizer}, --mq-mode ${mode}, --phi-path ${phiPath}`, async () => {
          await useBackend('cpu');
          const seed = KINDS.indexOf(kind) * 7 + QUANTIZERS.indexOf(quantizer) * 3 + 1;
          const model = tinyModel({ name: quantizer, bits: 1 }, { hidden: [DIMS.hidden], batchNorm: false, seed });
          const meta = createMetaNetwork({ kind, hidden: 4, seed, activation: kind === 'lstm' ? 'none' : 'tanh' });
          const step = new MetaQuantStep(model, meta, new BaseOptimizer(optimizerFor(c)), { mode, phiPath, metaLr: 1e-2 });
          const { x, y } = toyBatch(seed, DIMS.n, DIMS.inF, DIMS.classes);
          const xs = Float64Array.from(x.dataSync());
          const labels = Int32Array.from(y.dataSync());
          let applied: Map<string, Float64Array> | null = null;
          step.metaOptimizer.onGradients = (grads) => {
            applied = new Map([...grads].map(([k, g]) => [k, Float64Array.from(g.dataSync())]));
          };
          step.step(x, y, { epoch: 0, batchIndex: 0, lr: ALPHA, lrMultiplier: 1 });
          assert.equal(applied, null, 'iteration 0 applies no φ-gradient');
          for (let t = 1; t <= 3; t++) {
            const s = before(step, model, meta);
            step.step(x, y, { epoch: 0, batchIndex: t, lr: ALPHA, lrMultiplier: 1 });
            const got = applied as Map<string, Float64Array> | null;
            assert.ok(got, `t=${t}: the step handed a φ-gradient to the meta optimizer`);
            applied = null;
            const expected = oracle(c, s, xs, labels);
            assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort(), 'one gradient per φ tensor');
            const overall = Math.max(...[...expected.values()].flatMap((g) => Array.from(g, Math.abs)));
            assert.ok(overall > 1e-6, `t=${t}: the oracle's gradient is not trivially zero (max ${overall})`);
            for (const [name, e] of expected) {
              const g = got.get(name)!;
              const scale = Math.max(...Array.from(e, Math.abs));
              let worst = 0;
              for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(g[i]! - e[i]!));
              assert.ok(worst <= 2e-4 * scale + 1e-6 * overall, `t=${t} ${name}: |applied − oracle| ${worst.toExponential(3)} > 2e-4 × ${scale.toExponential(3)} (+1e-6 × ${overall.toExponential(3)})`);
            }
          }
          step.dispose();
          model.dispose();
          tf.dispose([x, y]);
        });
      }
    }
  }
}
