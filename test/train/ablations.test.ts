// The critique's ablations are plain train flags (so `compare` can name them): check each does what it says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { Trainer } from '../../src/train/trainer.js';
import { createStep, effectiveWeightDecay } from '../../src/train/factory.js';
import { parseTrainConfig } from '../../src/config/schema.js';
import type { BaseOptimizer } from '../../src/train/optimizers.js';
import { createMetaNetwork } from '../../src/meta/registry.js';
import { MetaQuantStep } from '../../src/train/metaquant/step.js';
import { tinyModel, toyBatch } from '../helpers/tiny.js';

const ctx = (lr: number, batchIndex = 0) => ({ epoch: 0, batchIndex, lr, lrMultiplier: 1 });

test('ste --lr-scale x trains exactly as STE at lr × x', async () => {
  await useBackend('cpu');
  const { x, y } = toyBatch(21);
  const weights = [] as number[][];
  for (const [lr, lrScale] of [[0.02, 2.5], [0.05, 1]] as const) {
    const model = tinyModel();
    const step = createStep(parseTrainConfig({ estimator: 'ste', optimizer: 'sgd', lr, lrScale }), model);
    for (let t = 0; t < 3; t++) step.step(x, y, ctx(lr, t));
    weights.push(Array.from(model.params.get(model.quantizedKernels[0]!).dataSync()));
    step.dispose();
    model.dispose();
  }
  for (let i = 0; i < weights[0]!.length; i++) assert.ok(Math.abs(weights[0]![i]! - weights[1]![i]!) <= 1e-6, `weight ${i}`);
  tf.dispose([x, y]);
});

test("STE takes MetaQuant's momentum and weight decay when given; its own default decay stays 0", () => {
  const model = tinyModel();
  const step = createStep(parseTrainConfig({ estimator: 'ste', optimizer: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 }), model);
  const config = (step as unknown as { optimizer: BaseOptimizer }).optimizer.config;
  assert.equal(config.momentum, 0.9);
  assert.equal(config.nesterov, true);
  assert.equal(config.weightDecay, 5e-4);
  assert.equal(effectiveWeightDecay(parseTrainConfig({ estimator: 'ste', optimizer: 'adam' })), 0);
  assert.equal(effectiveWeightDecay(parseTrainConfig({ estimator: 'metaquant', optimizer: 'adam' })), 5e-4);
  step.dispose();
  model.dispose();
});

test('--freeze-phi and --detach-phi: φ keeps its random initial value while the base network trains', async () => {
  const dir = () => join(mkdtempSync(join(tmpdir(), 'mq-abl-')), 'run');
  const base = { dataset: 'synthetic:8x8x1:4:64:32', model: 'mlp', hidden: [12], batchSize: 32, lr: 0.05, optimizer: 'sgd', backend: 'cpu', estimator: 'metaquant', meta: 'multifc', metaHidden: 5, epochs: 1 } as const;
  const finals: number[][] = [];
  for (const flag of [{ freezePhi: true }, { detachPhi: true }, {}]) {
    const t = await Trainer.create({ ...base, ...flag, out: dir() });
    const w0 = Array.from(t.model.params.get('fc1/kernel').dataSync());
    await t.run();
    const initial = createMetaNetwork({ kind: 'multifc', hidden: 5, layers: 3, seed: 1 });
    const state = (t.step as MetaQuantStep).getState();
    const moved = [...initial.params].some(([k, v]) => Array.from(state.metaParams[k]!.data).some((p, i) => p !== v.dataSync()[i]));
    assert.equal(moved, Object.keys(flag).length === 0, `φ moved: ${moved} with ${JSON.stringify(flag)}`);
    assert.notDeepEqual(Array.from(t.model.params.get('fc1/kernel').dataSync()), w0, 'the base network trained');
    finals.push(Array.from(t.model.params.get('fc1/kernel').dataSync()));
    initial.dispose();
    t.dispose();
  }
  // Both ablations leave φ untouched, so here they give the same run (see the README).
  assert.deepEqual(finals[0], finals[1]);
});

test('MetaQuantStep refuses a zeroth-order path without its options', () => {
  const model = tinyModel();
  const net = createMetaNetwork({ kind: 'fcgrad', hidden: 4, seed: 1 });
  assert.throws(() => new MetaQuantStep(model, net, {} as BaseOptimizer, { mode: 'code', phiPath: 'zeroth-order', metaLr: 1e-3 }), /zeroth-order needs/);
  net.dispose();
  model.dispose();
});
