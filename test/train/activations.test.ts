// Activation quantization in training (issue 16): every method trains with it, the learned scalars
// (PACT α, LSQ steps) get gradients, and checkpoints, bit-identical resume and NaN skipping cover them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Trainer } from '../../src/train/trainer.js';
import { QuantizedModel } from '../../src/models/model.js';
import { traceModel } from '../../src/models/trace.js';
import { unsupportedReason } from '../../src/models/native/forward-graph.js';
import { readCheckpointPayload } from '../../src/run/checkpoint-payload.js';
import { useBackend } from '../../src/engine/backend.js';

const dir = () => join(mkdtempSync(join(tmpdir(), 'mq-act-')), 'run');
// 128 examples / batch 16 = 8 steps per epoch.
const BASE = { dataset: 'synthetic:8x8x1:4:128:32', model: 'mlp', hidden: [16, 16], epochs: 2, batchSize: 16, lr: 0.01, backend: 'cpu', seed: 3 } as const;
const PACT_LSQ = { ...BASE, estimator: 'ste', quantizer: 'lsq', bits: 2, actQuantizer: 'pact', actBits: 2 } as const;
const MQ_LSQ_ACTS = { ...BASE, quantizer: 'bwn', estimator: 'metaquant', meta: 'fcgrad', metaHidden: 8, actQuantizer: 'lsq', actBits: 2 } as const;
const SCALARS = ['fc1/actAlpha', 'fc2/actAlpha', 'fc3/actAlpha', 'fc1/weightStep', 'fc2/weightStep', 'fc3/weightStep'];

const bits = (t: Trainer) => Object.fromEntries(Object.entries(t.model.params.snapshot()).map(([k, v]) => [k, Buffer.from(Float32Array.from(v.data).buffer).toString('base64')]));
const value = (t: Trainer, name: string) => t.model.params.get(name).dataSync()[0]!;

test('the model: input quantization on the quantized layers only, learned scalars as parameters, no native path', async () => {
  await useBackend('cpu');
  const model = new QuantizedModel({ arch: 'mlp', inputShape: [8, 8, 1], numClasses: 4, archOptions: { hidden: [16, 16] }, quantizer: { name: 'lsq', bits: 2 }, keepFirstLastFp: true, actQuantizer: { name: 'lsq', bits: 4 }, seed: 1 });
  const graph = traceModel(model);
  const acts = graph.nodes.flatMap((n) => (n.op === 'actQuant' ? [[n.layer, n.scale]] : []));
  assert.deepEqual(acts, [['fc2', 'fc2/actStep']], 'first and last layers keep float inputs with --keep-first-last-fp');
  assert.deepEqual(model.quantizedKernels, ['fc2/kernel']);
  assert.deepEqual(model.params.names((p) => p.role === 'act-scale' || p.role === 'weight-step'), ['fc2/actStep', 'fc2/weightStep']);
  assert.equal(unsupportedReason(graph), 'activation quantization');
  model.dispose();
  const bnn = new QuantizedModel({ arch: 'mlp', inputShape: [8, 8, 1], numClasses: 4, archOptions: { hidden: [16], activation: 'identity' }, quantizer: { name: 'sign' }, actQuantizer: { name: 'sign' }, seed: 1 });
  const ops = traceModel(bnn).nodes.map((n) => n.op);
  assert.deepEqual(ops, ['input', 'flatten', 'actQuant', 'dense', 'batchNorm', 'actQuant', 'dense'], 'identity hidden activation: no relu before sign');
  bnn.dispose();
});

test('STE, MetaQuant and hypergradient STE all train with quantized activations, and the learned scalars move', async () => {
  for (const config of [PACT_LSQ, MQ_LSQ_ACTS, { ...BASE, quantizer: 'dorefa', estimator: 'ste-hypergrad', actQuantizer: 'lsq', actBits: 3 }] as const) {
    const t = await Trainer.create({ ...config, epochs: 1, out: dir() });
    const scalars = t.model.params.names((p) => p.role === 'act-scale' || p.role === 'weight-step');
    assert.ok(scalars.length >= 3, `${config.estimator}: learned scalars ${scalars.join(', ')}`);
    const before = scalars.map((n) => value(t, n));
    const r = await t.run();
    assert.ok(Number.isFinite(r.testLoss), `${config.estimator}: finite test loss`);
    // PACT's α has a gradient only where an input exceeds it (the paper's rule), which the hidden
    // layers' batch-normalised inputs rarely do at α = 3: one α moving is enough there.
    const moved = scalars.filter((n, i) => value(t, n) !== before[i]);
    for (const n of scalars.filter((s) => !s.endsWith('actAlpha'))) assert.ok(moved.includes(n), `${config.estimator}: ${n} was trained`);
    assert.ok(moved.length > scalars.filter((s) => !s.endsWith('actAlpha')).length || !scalars.some((s) => s.endsWith('actAlpha')), `${config.estimator}: some PACT alpha was trained`);
    t.dispose();
  }
});

test('checkpoints hold the learned scalars, and a resumed run is bit-identical (STE with PACT + LSQ, MetaQuant with LSQ activations)', async () => {
  for (const config of [PACT_LSQ, MQ_LSQ_ACTS]) {
    const straight = await Trainer.create({ ...config, out: dir() });
    await straight.run();
    const reference = bits(straight);
    straight.dispose();
    const out = dir();
    const first = await Trainer.create({ ...config, out, epochs: 1 });
    await first.run();
    first.dispose();
    const { payload } = readCheckpointPayload(out);
    for (const name of config === PACT_LSQ ? SCALARS : ['fc1/actStep', 'fc2/actStep', 'fc3/actStep']) assert.ok(payload.params[name], `checkpoint holds ${name}`);
    const resumed = await Trainer.resume(out, { epochs: 2 });
    await resumed.run();
    assert.deepEqual(bits(resumed), reference, `${config.estimator}: resumed weights and scalars equal the straight run bit for bit`);
    resumed.dispose();
  }
});

test('--on-nan skip-batch leaves the learned scalars untouched by the bad step', async () => {
  const seen: Array<Record<string, number>> = [];
  const t = await Trainer.create({ ...PACT_LSQ, out: dir(), onNan: 'skip-batch', injectNanAtSteps: [4] });
  await t.run({
    onBatch: (p) => {
      if (p.epoch === 0 && (p.batch === 2 || p.batch === 3)) seen.push(Object.fromEntries(SCALARS.map((n) => [n, value(t, n)])));
    },
  });
  assert.deepEqual(seen[1], seen[0]);
  assert.ok(SCALARS.every((n) => Number.isFinite(value(t, n))));
  t.dispose();
});
