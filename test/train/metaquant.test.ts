import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { createMetaNetwork } from '../../src/meta/registry.js';
import { linearChainExplicit } from '../../src/meta/linear-chain.js';
import { BaseOptimizer } from '../../src/train/optimizers.js';
import { MetaQuantStep } from '../../src/train/metaquant/step.js';
import type { MetaQuantOptions } from '../../src/train/metaquant/options.js';
import type { MetaKind, MetaNetworkConfig } from '../../src/meta/types.js';
import type { OptimizerConfig } from '../../src/train/optimizers.js';
import { UsageError } from '../../src/util/errors.js';
import { phiProbe } from '../../src/analysis/phi-probe.js';
import { WASM_HEAP_BYTES, checkLstmMemory } from '../../src/train/metaquant/meta-pass.js';
import { tinyModel, toyBatch } from '../helpers/tiny.js';

const KINDS: MetaKind[] = ['fcgrad', 'multifc', 'lstm'];

function makeStep(kind: MetaKind, opts: Partial<MetaQuantOptions> = {}, meta: Partial<MetaNetworkConfig> = {}, optimizer: OptimizerConfig = { name: 'sgd' }, quantizer = 'dorefa') {
  const model = tinyModel({ name: quantizer, bits: 1 });
  const net = createMetaNetwork({ kind, hidden: 6, seed: 5, ...meta });
  const step = new MetaQuantStep(model, net, new BaseOptimizer(optimizer), { mode: 'code', phiPath: 'ste', metaLr: 1e-3, ...opts });
  return { model, net, step };
}

const ctx = (lr: number, batchIndex = 0) => ({ epoch: 0, batchIndex, lr, lrMultiplier: 1 });

// The φ-gradient the step applies is checked against an independent float64 oracle in phi-gradient.test.ts.

test('the true quantized loss is piecewise constant in φ: its small-step differences are zero', async () => {
  await useBackend('cpu');
  const { x, y } = toyBatch(2);
  const { model, step } = makeStep('fcgrad');
  for (let t = 0; t < 3; t++) step.step(x, y, ctx(0.5, t));
  const probe = phiProbe(step, x, y, 0.5);
  const [name, values] = [...probe.phi0][0]!;
  const shifted = new Map(probe.phi0);
  shifted.set(name, Float32Array.from(values, (v, j) => (j === 0 ? v + 1e-4 : v)));
  assert.equal(probe.loss('quantized', shifted), probe.loss('quantized'));
  probe.dispose();
  step.dispose();
  model.dispose();
});

test('FC-Grad without activation: the meta-gradient is c·g_Ŵ with c = w2·w1, and the scalar path equals the matmul chain', async () => {
  await useBackend('cpu');
  const net = createMetaNetwork({ kind: 'fcgrad', hidden: 7, seed: 2 });
  const g = tf.tensor1d([0.5, -1.25, 0, 3e-4, -2]);
  const out = net.forward({ gHat: g, wTilde: tf.zerosLike(g) }).metaGrad.dataSync();
  const w1 = net.params.get('linear1.weight')!.dataSync();
  const w2 = net.params.get('linear2.weight')!.dataSync();
  let c = 0;
  for (let i = 0; i < w1.length; i++) c += w2[i]! * w1[i]!;
  assert.ok(Math.abs(net.effectiveScalar()! - c) < 1e-6);
  const gv = g.dataSync();
  for (let i = 0; i < gv.length; i++) assert.ok(Math.abs(out[i]! - c * gv[i]!) <= 1e-6 * Math.max(1, Math.abs(c * gv[i]!)), `element ${i}`);
  const explicit = linearChainExplicit(g, [...net.params.values()]).dataSync();
  for (let i = 0; i < gv.length; i++) assert.ok(Math.abs(out[i]! - explicit[i]!) <= 1e-6 * Math.max(1, Math.abs(explicit[i]!)));
  // With an activation the network is no longer a scalar.
  const relu = createMetaNetwork({ kind: 'fcgrad', hidden: 7, seed: 2, activation: 'relu' });
  assert.equal(relu.effectiveScalar(), null);
  net.dispose();
  relu.dispose();
});

test('code mode: the first iteration changes no parameter, later forwards use W − α·G', async () => {
  await useBackend('cpu');
  const { x, y } = toyBatch(3);
  const { model, step, net } = makeStep('multifc', {}, {}, { name: 'adam', weightDecay: 5e-4 });
  step.recordTrace = true;
  const before = model.params.snapshot();
  const phiBefore = [...net.params.values()].map((v) => Array.from(v.dataSync()));
  step.step(x, y, ctx(0.1, 0));
  const after = model.params.snapshot();
  for (const name of Object.keys(before)) {
    if (name.includes('moving')) continue; // running statistics follow the batch, as in PyTorch
    assert.deepEqual(Array.from(after[name]!.data), Array.from(before[name]!.data), `${name} unchanged at iteration 0`);
  }
  assert.deepEqual([...net.params.values()].map((v) => Array.from(v.dataSync())), phiBefore, 'φ unchanged at iteration 0');
  for (let t = 1; t < 4; t++) {
    const expected = new Map(model.quantizedKernels.map((k) => [k, tf.sub(model.params.get(k), tf.mul(step.lookaheadDirection(k)!, 0.1)).dataSync()]));
    step.step(x, y, ctx(0.1, t));
    for (const [k, e] of expected) {
      const got = step.lastTrace!.wMeta.get(k)!.dataSync();
      for (let i = 0; i < e.length; i++) assert.ok(Math.abs(got[i]! - e[i]!) <= 1e-6 * Math.max(1, Math.abs(e[i]!)), `${k}[${i}] at t=${t}`);
    }
  }
  step.dispose();
  model.dispose();
});

test('paper mode: the forward weight equals the post-update weight', async () => {
  await useBackend('cpu');
  const { x, y } = toyBatch(4);
  for (const phiPath of ['ste', 'meta'] as const) {
    const { model, step } = makeStep('fcgrad', { mode: 'paper', phiPath }, {}, { name: 'sgd', momentum: 0.9 });
    step.recordTrace = true;
    for (let t = 0; t < 4; t++) {
      step.step(x, y, ctx(0.1, t));
      if (t === 0) continue;
      for (const k of model.quantizedKernels) {
        const w = model.params.get(k).dataSync();
        const used = step.lastTrace!.wMeta.get(k)!.dataSync();
        for (let i = 0; i < w.length; i++) assert.ok(Math.abs(w[i]! - used[i]!) <= 1e-6 * Math.max(1, Math.abs(w[i]!)), `${phiPath} ${k}[${i}] t=${t}`);
      }
    }
    step.dispose();
    model.dispose();
  }
});

test('LSTM state is carried and changes across steps; --lstm-reset keeps it at zero', async () => {
  await useBackend('cpu');
  const { x, y } = toyBatch(5);
  const carried = makeStep('lstm');
  const reset = makeStep('lstm', { lstmReset: true });
  let previous: number[] | null = null;
  for (let t = 0; t < 4; t++) {
    carried.step.step(x, y, ctx(0.1, t));
    reset.step.step(x, y, ctx(0.1, t));
    assert.equal(reset.step.lstmState, null, `reset: state is zero after step ${t}`);
    if (t === 0) {
      assert.equal(carried.step.lstmState, null, 'no meta call at iteration 0');
      continue;
    }
    const h = Array.from(carried.step.lstmState!.h.dataSync());
    assert.ok(h.some((v) => v !== 0), 'carried state is non-zero');
    if (previous) assert.notDeepEqual(h, previous, `state changes at step ${t}`);
    previous = h;
  }
  for (const s of [carried, reset]) {
    s.step.dispose();
    s.model.dispose();
  }
});

test('the LSTM meta state is refused above --max-meta-memory', async () => {
  await useBackend('cpu');
  assert.throws(() => makeStep('lstm', { maxMetaMemoryBytes: 1000 }), (e: unknown) => e instanceof UsageError && /max-meta-memory/.test((e as Error).message));
});

test('an LSTM meta step that cannot fit the wasm heap is refused before training, naming a hidden size that fits', async () => {
  await useBackend('cpu');
  const lstm = (hidden: number) => createMetaNetwork({ kind: 'lstm', hidden, seed: 1 });
  const eightGiB = 8 * 2 ** 30;
  // LeNet-5's 1,662,752 quantized weights: hidden 100 crashed inside wasm at the first step, hidden 50
  // ran. 2.5 gate tensors of 1,662,752 × 4·100 float32 = 6.2 GiB > 4 GiB; the largest hidden that
  // fits is floor(2^32 / (2.5 · 1,662,752 · 16)) = 64 (by hand).
  assert.throws(
    () => checkLstmMemory(lstm(100), 1_662_752, eightGiB, WASM_HEAP_BYTES),
    (e: unknown) => e instanceof UsageError && /wasm backend's 4 GiB heap/.test((e as Error).message) && /--meta-hidden 64 or less/.test((e as Error).message),
  );
  assert.doesNotThrow(() => checkLstmMemory(lstm(50), 1_662_752, eightGiB, WASM_HEAP_BYTES), 'hidden 50 ran on LeNet-5');
  assert.doesNotThrow(() => checkLstmMemory(lstm(64), 1_662_752, eightGiB, WASM_HEAP_BYTES));
  assert.throws(() => checkLstmMemory(lstm(65), 1_662_752, eightGiB, WASM_HEAP_BYTES), UsageError);
  assert.doesNotThrow(() => checkLstmMemory(lstm(100), 25_408, eightGiB, WASM_HEAP_BYTES), 'the 784-32-10 MLP fits');
  assert.doesNotThrow(() => checkLstmMemory(lstm(100), 1_662_752, eightGiB), 'no bounded heap (cpu): only the state bound applies');
});

test('a short MetaQuant run lowers the training loss for every meta network', async () => {
  await useBackend('cpu');
  const { x, y } = toyBatch(6, 32);
  for (const kind of KINDS) {
    const { model, step } = makeStep(kind, { metaLr: 1e-2 }, {}, { name: 'adam' });
    const losses: number[] = [];
    for (let t = 0; t < 40; t++) losses.push(step.step(x, y, ctx(0.02, t)).loss);
    const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
    assert.ok(last < first * 0.8, `${kind}: loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
    step.dispose();
    model.dispose();
  }
});

test("the reference's SGD-M: π is textbook at a parameter's first step, then μ·raw + g + λp (gradient replaced) or 2μ·(g + λp) (.grad aliases the buffer)", async () => {
  await useBackend('cpu');
  const opt = new BaseOptimizer({ name: 'sgd', momentum: 0.9, weightDecay: 0.01 });
  const p = tf.tensor1d([1, -2]);
  const g = tf.tensor1d([0.5, 0.25]);
  const raw = tf.tensor1d([3, -1]);
  const close = (t: tf.Tensor, expected: number[], what: string) => {
    const got = Array.from(t.dataSync());
    expected.forEach((e, i) => assert.ok(Math.abs(got[i]! - e) < 1e-6, `${what}[${i}]: ${got[i]} vs ${e}`));
    t.dispose();
  };
  close(opt.aliasedMomentumDirection('w', p, g, raw), [0.5 + 0.01, 0.25 - 0.02], 'first step: g + λp');
  close(opt.aliasedMomentumDirection('w', p, g, raw), [0.9 * 3 + 0.5 + 0.01, 0.9 * -1 + 0.25 - 0.02], 'replaced gradient: μ·raw + g + λp');
  close(opt.aliasedMomentumDirection('b', p, g, null), [0.51, 0.23], 'first step of another parameter');
  close(opt.aliasedMomentumDirection('b', p, g, null), [1.8 * 0.51, 1.8 * 0.23], 'aliased: 2μ·(g + λp)');
  assert.equal(opt.getState().steps.w, 2, 'the ordinary step counter (checkpointed) advances');
  assert.throws(() => new BaseOptimizer({ name: 'sgd', momentum: 0.9, nesterov: true }).aliasedMomentumDirection('w', p, g, raw), /aliased momentum/);
  tf.dispose([p, g, raw]);
});

test('code mode with SGD momentum (no Nesterov) uses the SGD-M quirk and says so; paper mode, Nesterov and plain SGD do not', async () => {
  await useBackend('cpu');
  const noticeOf = (mode: 'code' | 'paper', optimizer: OptimizerConfig) => {
    const { model, step } = makeStep('fcgrad', { mode }, {}, optimizer);
    const notice = step.notice;
    step.dispose();
    model.dispose();
    return notice;
  };
  assert.match(noticeOf('code', { name: 'sgd', momentum: 0.9, weightDecay: 5e-4 }) ?? '', /SGD-M.*aliases the momentum buffer/);
  assert.equal(noticeOf('paper', { name: 'sgd', momentum: 0.9, weightDecay: 5e-4 }), null);
  assert.equal(noticeOf('code', { name: 'sgd', momentum: 0.9, nesterov: true }), null);
  assert.equal(noticeOf('code', { name: 'sgd' }), null);
  assert.equal(noticeOf('code', { name: 'adam', weightDecay: 5e-4 }), null);
});
