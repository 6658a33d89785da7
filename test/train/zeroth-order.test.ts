import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { createMetaNetwork } from '../../src/meta/registry.js';
import { BaseOptimizer } from '../../src/train/optimizers.js';
import { MetaQuantStep } from '../../src/train/metaquant/step.js';
import type { MetaQuantOptions } from '../../src/train/metaquant/options.js';
import { zerothOrderGradient, ZO_METHODS, type ZerothOrderOptions } from '../../src/train/zeroth-order.js';
import { Trainer } from '../../src/train/trainer.js';
import { Rng, type RngState } from '../../src/util/rng.js';
import { UsageError } from '../../src/util/errors.js';
import { phiProbe } from '../../src/analysis/phi-probe.js';
import { tinyModel, toyBatch } from '../helpers/tiny.js';

const ctx = (lr: number, batchIndex = 0) => ({ epoch: 0, batchIndex, lr, lrMultiplier: 1 });

test('smooth toy objective: the estimate averages to the true gradient (SPSA and ES), with per-tensor scales', () => {
  // J(φ) = Σ a_i x_i² + Σ b_j y_j³ + x₀·y₀, tensors of different magnitudes.
  const a = [1, -2, 0.5, 3];
  const b = [0.7, -1.1, 2];
  const phi = new Map([
    ['x', Float32Array.from([0.3, -0.2, 1.5, 0.05])],
    ['y', Float32Array.from([2, -1.5, 3])],
  ]);
  const J = (p: Map<string, Float32Array>) => {
    const x = p.get('x')!;
    const y = p.get('y')!;
    let s = x[0]! * y[0]!;
    a.forEach((ai, i) => (s += ai * x[i]! ** 2));
    b.forEach((bj, j) => (s += bj * y[j]! ** 3));
    return s;
  };
  const x = phi.get('x')!;
  const y = phi.get('y')!;
  const exact = new Map([
    ['x', a.map((ai, i) => 2 * ai * x[i]! + (i === 0 ? y[0]! : 0))],
    ['y', b.map((bj, j) => 3 * bj * y[j]! ** 2 + (j === 0 ? x[0]! : 0))],
  ]);
  for (const method of ZO_METHODS) {
    const samples = 20000;
    const est = zerothOrderGradient(phi, J, { method, samples, scale: 1e-3 }, new Rng(`zo-test:${method}`));
    // Each component's sampling error is about √(Σ_j g_j² s_j²/s_i²)/√N (Rademacher; ES adds the
    // own term); a bound at five times that, computed per component, fails for a biased estimator.
    const scaleOf = (k: string) => Math.sqrt(phi.get(k)!.reduce((s, v) => s + v * v, 0) / phi.get(k)!.length) * 1e-3;
    for (const [k, g] of exact) {
      for (let i = 0; i < g.length; i++) {
        let variance = 0;
        for (const [k2, g2] of exact) for (let j = 0; j < g2.length; j++) variance += (g2[j]! * scaleOf(k2) / scaleOf(k)) ** 2 * (method === 'es' ? 2 : k2 === k && j === i ? 0 : 1);
        const bound = 5 * Math.sqrt(variance / samples) + 1e-3 * Math.abs(g[i]!);
        assert.ok(Math.abs(est.grads.get(k)![i]! - g[i]!) <= bound, `${method} ${k}[${i}]: ${est.grads.get(k)![i]} vs ${g[i]} (bound ${bound.toExponential(2)})`);
      }
    }
    assert.equal(est.zeroFraction, 0);
  }
});

test('piecewise-constant objective: the estimate is exactly zero when no perturbation changes the loss', () => {
  const phi = new Map([['w', Float32Array.from([0.2, 0.4])]]);
  const step = (p: Map<string, Float32Array>) => Math.round(p.get('w')![0]! * 10) + Math.round(p.get('w')![1]! * 10);
  const est = zerothOrderGradient(phi, step, { method: 'spsa', samples: 8, scale: 1e-2 }, new Rng(1));
  assert.equal(est.zeroFraction, 1);
  assert.deepEqual(Array.from(est.grads.get('w')!), [0, 0]);
});

function makeStep(opts: Partial<MetaQuantOptions> = {}, zo: Partial<ZerothOrderOptions> = {}, optimizer: 'sgd' | 'adam' = 'sgd') {
  // 32 hidden units: enough weights near a quantization threshold that φ-perturbations change the loss.
  const model = tinyModel({ name: 'dorefa', bits: 1 }, { hidden: [32] });
  const net = createMetaNetwork({ kind: 'fcgrad', hidden: 6, seed: 5 });
  const zerothOrder = { method: 'spsa' as const, samples: 2, scale: 0.2, seed: 7, ...zo };
  const step = new MetaQuantStep(model, net, new BaseOptimizer({ name: optimizer }), { mode: 'code', phiPath: 'zeroth-order', metaLr: 1e-3, zerothOrder, ...opts });
  return { model, net, step, zerothOrder };
}

test("code mode: the step's φ-gradient is the loss-difference estimate of the quantized look-ahead loss (no derivative through Q)", async () => {
  await useBackend('cpu');
  const { x, y } = toyBatch(11, 32);
  const { model, step, zerothOrder } = makeStep();
  const alpha = 0.5;
  for (let t = 0; t < 3; t++) step.step(x, y, ctx(alpha, t));
  const probe = phiProbe(step, x, y, alpha);
  const rngState = (step.getState() as { zoRng: RngState }).zoRng;
  const expected = zerothOrderGradient(probe.phi0, (phi) => probe.loss('quantized', phi), zerothOrder, new Rng(0, rngState));
  probe.dispose();
  step.recordTrace = true;
  step.step(x, y, ctx(alpha, 3));
  let scale = 0;
  for (const [k, g] of expected.grads) {
    const got = step.lastTrace!.metaParamGrads.get(k)!.dataSync();
    for (let i = 0; i < g.length; i++) {
      scale = Math.max(scale, Math.abs(g[i]!));
      assert.ok(Math.abs(got[i]! - g[i]!) <= 1e-4 * Math.max(1e-3, Math.abs(g[i]!)) + 1e-6, `${k}[${i}]: ${got[i]} vs ${g[i]}`);
    }
  }
  assert.ok(scale > 0, 'the estimate is not trivially zero');
  step.dispose();
  model.dispose();
  tf.dispose([x, y]);
});

test('repeated zeroth-order updates of φ lower the quantized batch loss on a tiny problem', async () => {
  await useBackend('cpu');
  const { x, y } = toyBatch(12, 32);
  const { model, step } = makeStep();
  const alpha = 0.5;
  for (let t = 0; t < 3; t++) step.step(x, y, ctx(alpha, t));
  const probe = phiProbe(step, x, y, alpha);
  const rng = new Rng('descend');
  let phi = probe.phi0;
  const start = probe.loss('quantized', phi);
  for (let k = 0; k < 30; k++) {
    const { grads } = zerothOrderGradient(phi, (p) => probe.loss('quantized', p), { method: 'spsa', samples: 4, scale: 0.2 }, rng);
    // Normalised-gradient descent: the step length is 2% of φ's norm, whatever the estimate's size.
    let norm = 0;
    let phiNorm = 0;
    for (const [k2, g] of grads) {
      for (let i = 0; i < g.length; i++) {
        norm += g[i]! ** 2;
        phiNorm += phi.get(k2)![i]! ** 2;
      }
    }
    if (norm === 0) continue;
    const eta = (0.02 * Math.sqrt(phiNorm)) / Math.sqrt(norm);
    phi = new Map([...phi].map(([k2, v]) => [k2, Float32Array.from(v, (p, i) => p - eta * grads.get(k2)![i]!)]));
  }
  const end = probe.loss('quantized', phi);
  assert.ok(end < start - 0.05 * Math.abs(start), `quantized loss ${start.toFixed(4)} → ${end.toFixed(4)}`);
  probe.dispose();
  step.dispose();
  model.dispose();
  tf.dispose([x, y]);
});

test('paper mode runs the zeroth-order path for SGD and Adam and trains φ; frozen φ stays put; bad options are usage errors', async () => {
  await useBackend('cpu');
  const { x, y } = toyBatch(13, 32);
  for (const optimizer of ['sgd', 'adam'] as const) {
    const { model, net, step } = makeStep({ mode: 'paper' }, { method: 'es' }, optimizer);
    const before = [...net.params.values()].map((v) => Array.from(v.dataSync()));
    for (let t = 0; t < 3; t++) step.step(x, y, ctx(0.5, t));
    const after = [...net.params.values()].map((v) => Array.from(v.dataSync()));
    assert.notDeepEqual(after, before, `${optimizer}: φ moved`);
    assert.ok('zoZeroFraction' in step.takeDiagnostics());
    step.dispose();
    model.dispose();
  }
  const { model, net, step } = makeStep({ freezePhi: true });
  const before = [...net.params.values()].map((v) => Array.from(v.dataSync()));
  for (let t = 0; t < 3; t++) step.step(x, y, ctx(0.5, t));
  assert.deepEqual([...net.params.values()].map((v) => Array.from(v.dataSync())), before);
  step.dispose();
  model.dispose();
  assert.throws(() => makeStep({}, { samples: 0 }), UsageError);
  assert.throws(() => makeStep({}, { scale: -1 }), UsageError);
  tf.dispose([x, y]);
});

test('zeroth-order training resumes bit-identically (the perturbation stream is checkpointed)', async () => {
  const dir = () => join(mkdtempSync(join(tmpdir(), 'mq-zo-')), 'run');
  const config = { dataset: 'synthetic:8x8x1:4:96:32', model: 'mlp', hidden: [12], batchSize: 32, lr: 0.05, optimizer: 'sgd', backend: 'cpu', estimator: 'metaquant', phiPath: 'zeroth-order', zoSamples: 2 } as const;
  const straight = await Trainer.create({ ...config, epochs: 2, out: dir() });
  await straight.run();
  const first = await Trainer.create({ ...config, epochs: 1, out: dir() });
  await first.run();
  first.dispose();
  const resumed = await Trainer.resume(first.out, { epochs: 2 });
  await resumed.run();
  for (const name of straight.model.params.trainableNames()) {
    assert.deepEqual(Array.from(resumed.model.params.get(name).dataSync()), Array.from(straight.model.params.get(name).dataSync()), name);
  }
  const strip = ({ seconds, imagesPerSecond, stepSeconds, metaSeconds, ...m }: Record<string, number>) => (void [seconds, imagesPerSecond, stepSeconds, metaSeconds], m);
  assert.deepEqual(resumed.history.map(strip), straight.history.map(strip));
  straight.dispose();
  resumed.dispose();
});
