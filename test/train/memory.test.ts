// The memory estimate of a run and the refusal of runs that would not fit, before allocation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freemem, tmpdir } from 'node:os';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { parseTrainConfig } from '../../src/config/schema.js';
import { QuantizedModel } from '../../src/models/model.js';
import { estimateRunMemory, memoryLimit } from '../../src/train/memory.js';
import { lstmStateBytes } from '../../src/meta/lstm.js';
import { Trainer } from '../../src/train/trainer.js';
import { UsageError } from '../../src/util/errors.js';

const mlp = () => new QuantizedModel({ arch: 'mlp', inputShape: [28, 28, 1], numClasses: 10, quantizer: { name: 'dorefa', bits: 1 }, seed: 1 });

test('estimate: parameters, Adam slots, LSTM state and activations that grow with the batch', async () => {
  await useBackend('cpu');
  const model = mlp();
  const weights = 784 * 256 + 256 * 256 + 256 * 10;
  const all = model.params.totalCount();
  const at = (batchSize: number, extra = {}) => estimateRunMemory(parseTrainConfig({ backend: 'cpu', batchSize, estimator: 'metaquant', meta: 'lstm', metaHidden: 100, ...extra }), model);
  const e32 = at(32);
  assert.equal(e32.parameters, 4 * (all + model.params.totalCount((p) => p.trainable)));
  assert.equal(e32.optimizerState, 2 * 4 * model.params.totalCount((p) => p.trainable));
  assert.equal(e32.metaState, 11 * 4 * weights + 2 * lstmStateBytes(weights, 100));
  // Per example the forward keeps at least the input and every layer's output (784 + 256 + 256 + 10 floats), twice with gradients.
  const perExample = (at(128).activations - e32.activations) / 96;
  assert.ok(perExample >= 2 * 4 * (784 + 256 + 256 + 10), `per-example activations ${perExample} bytes`);
  assert.ok(perExample < 2 * 4 * 20 * (784 + 256 + 256 + 10), 'and not absurdly more');
  assert.ok(at(32, { meta: 'fcgrad' }).metaState < e32.metaState / 30, 'FC-Grad needs no per-weight LSTM state');
  model.dispose();
});

test('limit: --max-memory, else free memory, at most 4 GiB on wasm', () => {
  assert.equal(memoryLimit(parseTrainConfig({ maxMemoryGiB: 2 })).bytes, 2 * 2 ** 30);
  const cpu = memoryLimit(parseTrainConfig({ backend: 'cpu' }));
  assert.ok(Math.abs(cpu.bytes - freemem()) < 512 * 2 ** 20 && /free memory/.test(cpu.source));
  assert.ok(memoryLimit(parseTrainConfig({ backend: 'wasm' })).bytes <= 4 * 2 ** 30);
});

test('a run that does not fit is refused before the step allocates, naming the parts', async () => {
  await useBackend('cpu');
  const before = tf.memory().numTensors;
  const out = join(mkdtempSync(join(tmpdir(), 'mq-mem-')), 'run');
  await assert.rejects(
    Trainer.create({ dataset: 'synthetic:8x8x1:4:64:16', model: 'mlp', hidden: [512], estimator: 'metaquant', meta: 'lstm', metaHidden: 64, backend: 'cpu', maxMemoryGiB: 0.01, out }),
    (e: unknown) => {
      assert.ok(e instanceof UsageError && e.exitCode === 2);
      assert.match(e.message, /this run needs about 0\.0\d GiB \(.*MetaQuant buffers and meta state 0\.0\d GiB, activations for batch size 128 .*\), above --max-memory 0\.01 GiB/);
      return true;
    },
  );
  assert.equal(tf.memory().numTensors, before, 'nothing left allocated');
  // A model far too large is refused while it is being built, before its weights exist.
  await assert.rejects(
    Trainer.create({ dataset: 'synthetic:8x8x1:4:64:16', model: 'mlp', hidden: [1_000_000, 1_000_000], backend: 'cpu', maxMemoryGiB: 0.1, out }),
    /the mlp model needs more than \d+ parameters, which cannot fit --max-memory 0.1 GiB/,
  );
  assert.equal(tf.memory().numTensors, before);
});
