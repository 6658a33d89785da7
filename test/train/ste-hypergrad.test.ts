import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { BaseOptimizer, type OptimizerConfig } from '../../src/train/optimizers.js';
import { DEFAULT_HYPERGRAD_BETA, HypergradientLr } from '../../src/train/ste-hypergrad-step.js';
import { Trainer } from '../../src/train/trainer.js';
import { parseTrainConfig } from '../../src/config/schema.js';
import { UsageError } from '../../src/util/errors.js';

/** f(θ) = ½ Σ a_i θ_i² − Σ b_i θ_i, so ∇f = a ⊙ θ − b. */
const A = [1.5, 0.4, 2.2, 0.9];
const B = [0.3, -0.8, 0.1, 0.5];
const grad = (theta: number[]) => theta.map((t, i) => A[i]! * t - B[i]!);

/** The hypergradient recursion written out in plain numbers, for one optimizer (no tfjs). */
function closedForm(opt: 'sgd' | 'sgd-momentum-wd' | 'adam', alpha0: number, beta: number, steps: number) {
  let theta = [1, -2, 0.5, 3];
  let alpha = alpha0;
  let prevDir: number[] | null = null;
  let buf: number[] | null = null;
  let m = theta.map(() => 0);
  let v = theta.map(() => 0);
  const [mu, wd] = opt === 'sgd-momentum-wd' ? [0.9, 0.01] : [0, 0];
  const alphas: number[] = [];
  for (let s = 1; s <= steps; s++) {
    const g = grad(theta).map((gi, i) => gi + wd * theta[i]!);
    if (prevDir) alpha += beta * g.reduce((acc, gi, i) => acc + gi * prevDir![i]!, 0);
    let dir: number[];
    if (opt === 'adam') {
      m = m.map((mi, i) => 0.9 * mi + 0.1 * g[i]!);
      v = v.map((vi, i) => 0.999 * vi + 0.001 * g[i]! ** 2);
      const stepSize = Math.sqrt(1 - 0.999 ** s) / (1 - 0.9 ** s);
      dir = m.map((mi, i) => (stepSize * mi) / (Math.sqrt(v[i]!) + 1e-8));
    } else {
      buf = buf && mu ? buf.map((bi, i) => mu * bi + g[i]!) : g.slice();
      dir = buf;
    }
    theta = theta.map((t, i) => t - alpha * dir[i]!);
    prevDir = dir;
    alphas.push(alpha);
  }
  return { alphas, theta };
}

test('hypergradient α update matches the closed form on a quadratic: SGD, SGD with momentum and weight decay, Adam', async () => {
  await useBackend('cpu');
  const cases: Array<['sgd' | 'sgd-momentum-wd' | 'adam', OptimizerConfig, number, number]> = [
    ['sgd', { name: 'sgd' }, 0.05, 0.01],
    ['sgd-momentum-wd', { name: 'sgd', momentum: 0.9, weightDecay: 0.01 }, 0.02, 0.005],
    ['adam', { name: 'adam' }, 0.05, 0.002],
  ];
  for (const [label, config, alpha0, beta] of cases) {
    const theta = tf.variable(tf.tensor1d([1, -2, 0.5, 3]));
    const optimizer = new BaseOptimizer(config);
    const hyper = new HypergradientLr(alpha0, beta, config.weightDecay ?? 0);
    const alphas: number[] = [];
    for (let s = 0; s < 12; s++) {
      const grads = new Map<string, Tensor>([['theta', tf.tidy(() => tf.sub(tf.mul(theta, tf.tensor1d(A)), tf.tensor1d(B)))]]);
      const alpha = hyper.update(grads, () => theta);
      const directions = optimizer.apply(() => theta, grads, alpha);
      hyper.record(directions, 1);
      tf.dispose([...grads.values(), ...directions.values()]);
      alphas.push(alpha);
    }
    const expected = closedForm(label, alpha0, beta, 12);
    for (let s = 0; s < 12; s++) assert.ok(Math.abs(alphas[s]! - expected.alphas[s]!) <= 1e-5 * Math.abs(expected.alphas[s]!), `${label} α at step ${s + 1}: ${alphas[s]} vs ${expected.alphas[s]}`);
    assert.notEqual(expected.alphas[11], alpha0, `${label}: α moved`);
    const got = Array.from(theta.dataSync());
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - expected.theta[i]!) <= 1e-4, `${label} θ[${i}]`);
    // The learning rate of a too-small α grows on a quadratic whose successive gradients agree.
    if (label === 'sgd') assert.ok(expected.alphas[11]! > alpha0);
    theta.dispose();
    optimizer.dispose();
    hyper.dispose();
  }
});

test('ste-hypergrad trains through the Trainer, logs hyperLr per epoch, uses the paper default β, and resumes bit-identically', async () => {
  const dir = () => join(mkdtempSync(join(tmpdir(), 'mq-hd-')), 'run');
  const config = { dataset: 'synthetic:8x8x1:4:96:32', model: 'mlp', hidden: [12], batchSize: 32, lr: 0.01, optimizer: 'sgd', backend: 'cpu', estimator: 'ste-hypergrad', hypergradBeta: 1e-3 } as const;
  const straight = await Trainer.create({ ...config, epochs: 2, out: dir() });
  await straight.run();
  assert.equal(straight.step.name, 'ste-hypergrad');
  const lrs = straight.history.map((m) => m.hyperLr!);
  assert.ok(lrs.every((a) => Number.isFinite(a)) && lrs[1] !== 0.01, `hyperLr per epoch ${lrs}`);
  const first = await Trainer.create({ ...config, epochs: 1, out: dir() });
  await first.run();
  first.dispose();
  const resumed = await Trainer.resume(first.out, { epochs: 2 });
  await resumed.run();
  assert.deepEqual(resumed.history.map((m) => m.hyperLr), lrs);
  for (const name of straight.model.params.trainableNames()) {
    assert.deepEqual(Array.from(resumed.model.params.get(name).dataSync()), Array.from(straight.model.params.get(name).dataSync()), name);
  }
  straight.dispose();
  resumed.dispose();
  assert.equal(parseTrainConfig({ estimator: 'ste-hypergrad' }).hypergradBeta, null);
  assert.deepEqual(DEFAULT_HYPERGRAD_BETA, { sgd: 1e-3, adam: 1e-7 });
  assert.throws(() => new HypergradientLr(0.01, -1), UsageError);
});
