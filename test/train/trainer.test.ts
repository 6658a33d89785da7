import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { Trainer } from '../../src/train/trainer.js';
import { loadModel } from '../../src/run/checkpoint-payload.js';
import { QuantizedModel } from '../../src/models/model.js';
import { BaseOptimizer } from '../../src/train/optimizers.js';
import { lrMultiplier } from '../../src/train/schedules.js';
import { parseTrainConfig } from '../../src/config/schema.js';
import { UsageError } from '../../src/util/errors.js';

const dir = () => join(mkdtempSync(join(tmpdir(), 'mq-train-')), 'run');
const SMALL = { dataset: 'synthetic:8x8x1:4:128:32', model: 'mlp', hidden: [16], epochs: 2, batchSize: 32, lr: 0.01, backend: 'cpu' } as const;

test('same seed, same backend → identical metrics and weights', async () => {
  const runs = [];
  for (let i = 0; i < 2; i++) {
    const t = await Trainer.create({ ...SMALL, estimator: 'metaquant', meta: 'lstm', metaHidden: 4, out: dir() });
    const r = await t.run();
    runs.push({ history: r.history.map(({ seconds, imagesPerSecond, stepSeconds, metaSeconds, ...m }) => (void [seconds, imagesPerSecond, stepSeconds, metaSeconds], m)), weights: Array.from(t.model.params.get('fc1/kernel').dataSync()) });
    t.dispose();
  }
  assert.deepEqual(runs[0], runs[1]);
});

test('--init copies a float model into a quantized run; eval reloads the checkpoint', async () => {
  const floatRun = await Trainer.create({ ...SMALL, quantizer: 'none', out: dir() });
  await floatRun.run();
  const floatKernel = Array.from(floatRun.model.params.get('fc1/kernel').dataSync());
  const quant = await Trainer.create({ ...SMALL, quantizer: 'bwn', init: floatRun.out, out: dir() });
  assert.deepEqual(Array.from(quant.model.params.get('fc1/kernel').dataSync()), floatKernel);
  quant.dispose();
  const { model } = loadModel(floatRun.out);
  assert.deepEqual(Array.from(model.params.get('fc1/kernel').dataSync()), floatKernel);
  model.dispose();
  floatRun.dispose();
});

test('architectures: parameter counts, every kernel quantized unless --keep-first-last-fp', async () => {
  await useBackend('cpu');
  const r20 = new QuantizedModel({ arch: 'resnet20', inputShape: [32, 32, 3], numClasses: 10, quantizer: { name: 'dorefa', bits: 1 }, seed: 1 });
  const kernels = r20.params.totalCount((p) => p.role === 'kernel');
  // 3·16·9 + stage convs + 1×1 projections (16·32, 32·64) + fc 64·10 = 270,896 weights in conv/dense layers.
  assert.equal(kernels, 432 + 6 * 2304 + (4608 + 9216 * 5) + (18432 + 36864 * 5) + 512 + 2048 + 640);
  assert.equal(r20.quantizedKernels.length, r20.params.names((p) => p.role === 'kernel').length);
  const y = r20.predict(tf.zeros([2, 32, 32, 3]));
  assert.deepEqual(y.shape, [2, 10]);
  const fp = new QuantizedModel({ arch: 'lenet5', inputShape: [28, 28, 1], numClasses: 10, quantizer: { name: 'bwn' }, keepFirstLastFp: true, seed: 1 });
  assert.deepEqual(fp.quantizedKernels, ['conv2/kernel', 'fc1/kernel']);
  tf.dispose(y);
  r20.dispose();
  fp.dispose();
});

test('SGD (momentum, Nesterov, weight decay) and Adam directions match their formulas', async () => {
  await useBackend('cpu');
  const p = tf.tensor1d([0.5, -2]);
  const g1 = tf.tensor1d([1, 3]);
  const g2 = tf.tensor1d([-1, 2]);
  const sgd = new BaseOptimizer({ name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 0.1 });
  sgd.direction('w', p, g1);
  const d = sgd.direction('w', p, g2).dataSync();
  // g' = g + λp; buf1 = g1'; buf2 = 0.9·buf1 + g2'; π = g2' + 0.9·buf2
  const pv = [0.5, -2];
  [1, 3].forEach((a, i) => {
    const g1p = a + 0.1 * pv[i]!;
    const g2p = [-1, 2][i]! + 0.1 * pv[i]!;
    const buf2 = 0.9 * g1p + g2p;
    assert.ok(Math.abs(d[i]! - (g2p + 0.9 * buf2)) < 1e-6);
  });
  const adam = new BaseOptimizer({ name: 'adam' });
  const a1 = adam.direction('w', p, g1).dataSync();
  // First Adam step: m̂/√v̂ = sign(g) (up to ε).
  assert.ok(Math.abs(a1[0]! - 1) < 1e-6 && Math.abs(a1[1]! - 1) < 1e-6);
  tf.dispose([p, g1, g2]);
});

test('schedules and config validation', () => {
  assert.equal(lrMultiplier({ name: 'step', stepEpochs: 30 }, 29, 100), 1);
  assert.ok(Math.abs(lrMultiplier({ name: 'step', stepEpochs: 30 }, 60, 100) - 0.01) < 1e-12);
  assert.equal(lrMultiplier({ name: 'cosine' }, 0, 10), 1);
  assert.ok(Math.abs(lrMultiplier({ name: 'cosine' }, 5, 10) - 0.5) < 1e-12);
  assert.throws(() => parseTrainConfig({ optimizer: 'rmsprop' }), (e: unknown) => e instanceof UsageError && /optimizer.*sgd, adam/.test((e as Error).message));
  assert.throws(() => parseTrainConfig({ quantizer: 'bwn', bits: 2 }), UsageError);
  assert.throws(() => parseTrainConfig({ estimator: 'metaquant', quantizer: 'none' }), UsageError);
});
