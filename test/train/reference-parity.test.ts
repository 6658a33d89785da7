// Code-faithful MetaQuant against the authors' code: every *.json trace in
// test/fixtures/metaquant-reference (plus any other in ../shared/fixtures/metaquant-reference),
// 5 iterations each, on cpu and wasm, replayed twice. Every recorded quantity is compared: loss,
// g_Ŵ, W̃, δ = ∂L/∂W_meta, calibration, meta-gradient, W_meta, Ŵ (ours, from our W_meta: signs/levels
// identical), b_meta, LSTM state, parameters after the step, G, both optimizers' states, ∂L/∂φ, φ.
//
// Error model (from the arithmetic, not fitted to any trace):
// 1. Teacher-forced: each iteration t ≥ 1 starts from the reference's recorded state after t − 1
//    (W, b, φ, G, g_Ŵ^{t−1}, W̃^{t−1}, LSTM state, the base and meta optimizers' states). One
//    iteration is a fixed float32 computation that the two implementations round differently
//    (summation orders, exp/tanh), a few ulps per element, so every quantity must agree to
//    1e-5 × its tensor's max |reference| (elements near zero carry absolute, not relative, error).
// 2. Free-running: our own state carries over, so float32 differences propagate. Every map of the
//    iteration has O(1) gain except one: Adam's direction π = k·m/(√v + ε) is scale-free, so an
//    element whose input g sits at the float32 noise floor of its own computation gets an O(1)
//    direction from noise. The noise floor is a priori: ∂L/∂logits = (softmax − onehot)/n keeps,
//    for a saturated sample, only the absolute error of p (4 ulps·p per implementation); the
//    backward is linear in it, so η(g_Ŵ) is that bound back-propagated with absolute values. It
//    reaches the optimizer's input through the meta network (gain |c| or its raw output; the traces
//    have no activation) and cal; m and v carry it; π's first-order sensitivity turns it into
//    k·(η_m/(√v + ε) + |m|·η_v/(2√v·(√v + ε)²)). That is added per element to G, then α times it to
//    W (accumulating), W_meta and b, and through the derivative bounds of A, cal and the STE scale
//    to W̃, cal and δ (test/helpers/parity-noise.ts, computed from the trace's values only). On top
//    of the 1e-5 × max of (1) this is the free-running tolerance; with SGD the added term is the
//    noise itself (~1e-8 absolute).
// The worst error of each trace (relative to the tensor's max, and as a fraction of its tolerance)
// is printed as a test diagnostic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { QuantizedModel } from '../../src/models/model.js';
import { createMetaNetwork } from '../../src/meta/registry.js';
import { BaseOptimizer } from '../../src/train/optimizers.js';
import { MetaQuantStep } from '../../src/train/metaquant/step.js';
import type { MetaKind } from '../../src/meta/types.js';
import type { SavedTensor } from '../../src/train/tensor-state.js';
import { fixtureFiles, flat, loadFixture, torchLinearToKernel, type Fixture } from '../helpers/fixtures.js';
import { propagatedNoise } from '../helpers/parity-noise.js';

const KERNELS: Record<string, string> = { fc1: 'fc1/kernel', fc2: 'fc2/kernel' };
const REF_PARAM: Record<string, string> = { 'fc1/kernel': 'fc1.weight', 'fc2/kernel': 'fc2.weight', 'fc2/bias': 'fc2.bias' };
const META_KIND: Record<string, MetaKind> = { FCGrad: 'fcgrad', 'FC-Grad': 'fcgrad', MultiFC: 'multifc', LSTMFC: 'lstm' };

interface Error1 {
  what: string;
  worst: number;
  scale: number;
  /** max over elements of |error| / tolerance (≤ 1 passes). */
  used: number;
}

class Checker {
  readonly errors: Error1[] = [];
  constructor(private readonly extras: Map<string, number[]> | null) {}
  close(what: string, actual: ArrayLike<number>, expected: number[]): void {
    assert.equal(actual.length, expected.length, `${what}: length`);
    const scale = Math.max(...expected.map(Math.abs), 1e-30);
    const extra = this.extras?.get(what);
    let worst = 0;
    let used = 0;
    for (let i = 0; i < expected.length; i++) {
      const e = Math.abs(actual[i]! - expected[i]!);
      worst = Math.max(worst, e);
      used = Math.max(used, e / (1e-5 * scale + (extra?.[i] ?? 0)));
    }
    this.errors.push({ what, worst, scale, used });
  }
}

function kernelAsTorch(t: tf.Tensor): number[] {
  return Array.from(tf.tidy(() => tf.transpose(t).dataSync()));
}

/** LSTM state rows are per weight element, in our [in, out] order; reorder to the reference's [out, in]. */
function lstmRowsAsTorch(state: tf.Tensor, offset: number, inF: number, outF: number, hidden: number): number[] {
  const data = state.dataSync();
  const rows: number[] = [];
  for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) for (let h = 0; h < hidden; h++) rows.push(data[(offset + i * outF + o) * hidden + h]!);
  return rows;
}

/** The reference's per-layer LSTM state [1, out·in, H] as our rows (fc1's elements, then fc2's, each [in, out] order). */
function lstmRowsFromTorch(perLayer: { data: number[]; inF: number; outF: number }[], hidden: number): Float32Array {
  const total = perLayer.reduce((s, l) => s + l.inF * l.outF, 0);
  const out = new Float32Array(total * hidden);
  let offset = 0;
  for (const l of perLayer) {
    for (let o = 0; o < l.outF; o++) for (let i = 0; i < l.inF; i++) for (let h = 0; h < hidden; h++) out[(offset + i * l.outF + o) * hidden + h] = l.data[(o * l.inF + i) * hidden + h]!;
    offset += l.inF * l.outF;
  }
  return out;
}

function setup(fx: Fixture) {
  const cfg = fx.config;
  const quantizer = String(cfg.quantizer.reference_name).toLowerCase() === 'bwn' ? 'bwn' : 'dorefa';
  const model = new QuantizedModel({
    arch: 'mlp',
    inputShape: [1, 1, 6],
    numClasses: 3,
    archOptions: { hidden: [5], batchNorm: false },
    quantizer: quantizer === 'dorefa' ? { name: quantizer, bits: cfg.quantizer.bitW ?? 1 } : { name: quantizer },
    seed: 0,
  });
  const base = fx.initial.base_params;
  model.params.load({
    'fc1/kernel': { shape: [6, 5], data: torchLinearToKernel(base['fc1.weight'].data) },
    'fc2/kernel': { shape: [5, 3], data: torchLinearToKernel(base['fc2.weight'].data) },
    'fc2/bias': { shape: [3], data: flat(base['fc2.bias'].data) },
  });
  const kind = META_KIND[cfg.meta_network.reference_name];
  assert.ok(kind, `meta network ${cfg.meta_network.reference_name}`);
  const meta = createMetaNetwork({ kind, hidden: cfg.meta_network.hidden_size, layers: 3, activation: 'none' });
  for (const [name, p] of Object.entries<Fixture>(fx.initial.meta_params)) {
    const v = meta.params.get(name);
    assert.ok(v, `meta parameter ${name} exists`);
    v.assign(tf.tensor(flat(p.data), p.shape));
  }
  const bo = cfg.base_optimizer;
  const optimizer =
    bo.reference_name === 'Adam'
      ? new BaseOptimizer({ name: 'adam', weightDecay: bo.weight_decay, beta1: bo.betas[0], beta2: bo.betas[1], epsilon: bo.eps })
      : new BaseOptimizer({ name: 'sgd', momentum: bo.momentum, weightDecay: bo.weight_decay });
  const step = new MetaQuantStep(model, meta, optimizer, { mode: 'code', phiPath: 'ste', metaLr: cfg.meta_optimizer.lr });
  step.recordTrace = true;
  const x = tf.keep(tf.tensor(flat(fx.initial.x.data ?? fx.initial.x), [8, 1, 1, 6]));
  const y = tf.keep(tf.tensor1d(flat(fx.initial.y.data ?? fx.initial.y), 'int32'));
  return { model, meta, step, x, y, alpha: cfg.alpha_base_lr as number, kind, optimizer, optimizerName: bo.reference_name as string };
}
type Setup = ReturnType<typeof setup>;

const saved = (data: number[], shape: number[]): SavedTensor => ({ shape, data: Float32Array.from(data) });
const kernelSaved = (w: number[][]) => saved(torchLinearToKernel(w), [w[0]!.length, w.length]);

/** Puts the reference's state after iteration t − 1 into our model and step (teacher forcing). */
function forceState(s: Setup, fx: Fixture, t: number): void {
  const prev = fx.iterations[t - 1];
  const now = fx.iterations[t];
  const after = prev.base_params_after;
  s.model.params.load({
    'fc1/kernel': { shape: [6, 5], data: torchLinearToKernel(after['fc1.weight']) },
    'fc2/kernel': { shape: [5, 3], data: torchLinearToKernel(after['fc2.weight']) },
    'fc2/bias': { shape: [3], data: flat(after['fc2.bias']) },
  });
  const metaParams: Record<string, SavedTensor> = {};
  for (const [name, v] of s.meta.params) metaParams[name] = saved(flat(prev.meta_params_after[name]), v.shape);
  const metaAdam: Record<string, { step: number; m: SavedTensor; v: SavedTensor }> = {};
  for (const [name, v] of s.meta.params) {
    const st = prev.meta_adam_state?.[name];
    if (st) metaAdam[name] = { step: st.step, m: saved(flat(st.exp_avg), v.shape), v: saved(flat(st.exp_avg_sq), v.shape) };
  }
  const steps: Record<string, number> = {};
  const slots: Record<string, Record<string, SavedTensor>> = {};
  for (const [ours, ref] of Object.entries(REF_PARAM)) {
    const st = prev.refine_optimizer_state?.[ref];
    if (!st) continue;
    const shape = s.model.params.get(ours).shape;
    const asOurs = (v: unknown) => (ours.endsWith('kernel') ? kernelSaved(v as number[][]) : saved(flat(v), shape));
    if ('exp_avg' in st) {
      steps[ours] = st.step;
      (slots.m ??= {})[ours] = asOurs(st.exp_avg);
      (slots.v ??= {})[ours] = asOurs(st.exp_avg_sq);
    } else if ('momentum_buffer' in st) {
      steps[ours] = t - 1;
      (slots.momentum ??= {})[ours] = asOurs(st.momentum_buffer);
    }
  }
  const layer = (l: string) => now.layers[l];
  const lookahead: Record<string, SavedTensor> = {
    'fc1/kernel': kernelSaved(layer('fc1').lookahead_weight_grad),
    'fc2/kernel': kernelSaved(layer('fc2').lookahead_weight_grad),
    'fc2/bias': saved(flat(layer('fc2').lookahead_bias_grad), [3]),
  };
  const hidden = s.meta.config.hidden;
  const lstmIn = layer('fc1').lstm_state_in;
  const dims = [{ l: 'fc1', inF: 6, outF: 5 }, { l: 'fc2', inF: 5, outF: 3 }];
  const lstm = lstmIn
    ? {
        h: { shape: [45, hidden], data: lstmRowsFromTorch(dims.map((d) => ({ data: flat(layer(d.l).lstm_state_in.h), inF: d.inF, outF: d.outF })), hidden) },
        c: { shape: [45, hidden], data: lstmRowsFromTorch(dims.map((d) => ({ data: flat(layer(d.l).lstm_state_in.c), inF: d.inF, outF: d.outF })), hidden) },
      }
    : null;
  s.step.setState({
    started: true,
    optimizer: { steps, slots },
    metaParams,
    metaAdam,
    gHatPrev: { 'fc1/kernel': kernelSaved(layer('fc1').meta_input_g_hat_prev), 'fc2/kernel': kernelSaved(layer('fc2').meta_input_g_hat_prev) },
    wTildePrev: { 'fc1/kernel': kernelSaved(layer('fc1').meta_input_W_tilde_prev), 'fc2/kernel': kernelSaved(layer('fc2').meta_input_W_tilde_prev) },
    lookahead,
    lstm,
  });
}

/** Every recorded quantity of iteration t against our step's (just taken). */
function checkIteration(s: Setup, fx: Fixture, t: number, loss: number, c: Checker): void {
  const it = fx.iterations[t];
  const where = `t=${t}`;
  c.close(`${where} loss`, [loss], [it.loss]);
  const trace = s.step.lastTrace!;
  if (t > 0) assert.ok(trace, 'the step recorded its trace');
  for (const layer of ['fc1', 'fc2']) {
    const rec = it.layers[layer];
    const kernel = KERNELS[layer]!;
    const w = (q: string) => `${where} ${layer} ${q}`;
    c.close(w('g_hat'), kernelAsTorch(s.step.previousGHat(kernel)!), flat(rec.g_hat));
    c.close(w('W_tilde'), kernelAsTorch(s.step.previousWTilde(kernel)!), flat(rec.W_tilde));
    if (t === 0) continue; // iteration 0's δ is its G, checked below
    c.close(w('delta'), kernelAsTorch(trace.steGrad.get(kernel)!), flat(it.base_grad_after_backward[REF_PARAM[kernel]!]));
    c.close(w('calibration'), kernelAsTorch(trace.calibration.get(kernel)!), flat(rec.calibration));
    c.close(w('meta_grad'), kernelAsTorch(trace.metaGrad.get(kernel)!), flat(rec.meta_grad));
    c.close(w('W_meta'), kernelAsTorch(trace.wMeta.get(kernel)!), flat(rec.W_meta));
    const ours = kernelAsTorch(trace.wHat.get(kernel)!);
    assert.deepEqual(ours.map(Math.sign), flat(rec.W_hat).map(Math.sign), w('W_hat signs'));
    c.close(w('W_hat'), ours, flat(rec.W_hat));
    if (layer === 'fc2') c.close(w('b_meta'), Array.from(trace.bMeta.get('fc2/bias')!.dataSync()), flat(rec.b_meta));
    if (s.kind === 'lstm') {
      const [inF, outF] = s.model.params.get(kernel).shape as [number, number];
      const hidden = s.meta.config.hidden;
      const st = s.step.lstmState!;
      const offset = layer === 'fc1' ? 0 : 30;
      c.close(w('lstm h'), lstmRowsAsTorch(st.h, offset, inF, outF, hidden), flat(rec.lstm_state_out.h));
      c.close(w('lstm c'), lstmRowsAsTorch(st.c, offset, inF, outF, hidden), flat(rec.lstm_state_out.c));
    }
  }
  const after = it.base_params_after;
  c.close(`${where} fc1.weight after`, kernelAsTorch(s.model.params.get('fc1/kernel')), flat(after['fc1.weight']));
  c.close(`${where} fc2.weight after`, kernelAsTorch(s.model.params.get('fc2/kernel')), flat(after['fc2.weight']));
  c.close(`${where} fc2.bias after`, Array.from(s.model.params.get('fc2/bias').dataSync()), flat(after['fc2.bias']));
  const refined = t === 0 ? it.base_grad_after_backward : it.base_grad_refined;
  c.close(`${where} G fc1`, kernelAsTorch(s.step.lookaheadDirection('fc1/kernel')!), flat(refined['fc1.weight']));
  c.close(`${where} G fc2`, kernelAsTorch(s.step.lookaheadDirection('fc2/kernel')!), flat(refined['fc2.weight']));
  c.close(`${where} G fc2.bias`, Array.from(s.step.lookaheadDirection('fc2/bias')!.dataSync()), flat(refined['fc2.bias']));
  if (s.optimizerName === 'Adam' && t > 0) {
    const state = s.optimizer.getState();
    for (const [ref, ours] of [['fc1.weight', 'fc1/kernel'], ['fc2.weight', 'fc2/kernel']] as const) {
      const rs = it.refine_optimizer_state[ref];
      assert.equal(state.steps[ours], rs.step, `${where} Adam step ${ref}`);
      c.close(`${where} Adam m ${ref}`, kernelAsTorch(tf.tensor(state.slots.m![ours]!.data, state.slots.m![ours]!.shape)), flat(rs.exp_avg));
      c.close(`${where} Adam v ${ref}`, kernelAsTorch(tf.tensor(state.slots.v![ours]!.data, state.slots.v![ours]!.shape)), flat(rs.exp_avg_sq));
    }
    const rb = it.refine_optimizer_state['fc2.bias'];
    c.close(`${where} Adam m fc2.bias`, state.slots.m!['fc2/bias']!.data, flat(rb.exp_avg));
    c.close(`${where} Adam v fc2.bias`, state.slots.v!['fc2/bias']!.data, flat(rb.exp_avg_sq));
  }
  for (const [pname, expected] of Object.entries<Fixture>(it.meta_params_after)) {
    c.close(`${where} meta ${pname} after`, Array.from(s.meta.params.get(pname)!.dataSync()), flat(expected));
    if (t === 0) continue;
    c.close(`${where} dL/d ${pname}`, Array.from(trace.metaParamGrads.get(pname)!.dataSync()), flat(it.meta_param_grads[pname]));
    const adam = s.step.metaOptimizer.stateOf(pname)!;
    const ref = it.meta_adam_state[pname];
    assert.equal(adam.step, ref.step, `${where} meta Adam step of ${pname}`);
    c.close(`${where} meta Adam m ${pname}`, Array.from(adam.m.dataSync()), flat(ref.exp_avg));
    c.close(`${where} meta Adam v ${pname}`, Array.from(adam.v.dataSync()), flat(ref.exp_avg_sq));
  }
}

for (const backend of ['cpu', 'wasm'] as const) {
  for (const [name, path] of fixtureFiles()) {
    for (const mode of ['free-running', 'teacher-forced'] as const) {
      test(`code-faithful MetaQuant reproduces the reference trace ${name} (${backend}, ${mode})`, async (t) => {
        await useBackend(backend);
        const fx = loadFixture(path);
        const s = setup(fx);
        const c = new Checker(mode === 'free-running' ? propagatedNoise(fx) : null);
        for (const it of fx.iterations) {
          const i = it.t as number;
          if (mode === 'teacher-forced' && i > 0) forceState(s, fx, i);
          const r = s.step.step(s.x, s.y, { epoch: 0, batchIndex: i, lr: s.alpha, lrMultiplier: 1 });
          checkIteration(s, fx, i, r.loss, c);
        }
        const worst = c.errors.reduce((a, b) => (b.worst / b.scale > a.worst / a.scale ? b : a));
        const tightest = c.errors.reduce((a, b) => (b.used > a.used ? b : a));
        t.diagnostic(`worst ${worst.what}: ${(worst.worst / worst.scale).toExponential(2)} × max (${(100 * worst.used).toFixed(0)}% of its tolerance); tightest ${tightest.what}: ${(100 * tightest.used).toFixed(0)}%`);
        const over = c.errors.filter((e) => e.used > 1);
        assert.deepEqual(
          over.map((e) => `${e.what}: max abs error ${e.worst.toExponential(3)} = ${(e.worst / e.scale).toExponential(2)} × max, ${e.used.toFixed(2)} × its tolerance`),
          [],
        );
        s.step.dispose();
        s.model.dispose();
        tf.dispose([s.x, s.y]);
      });
    }
  }
}
