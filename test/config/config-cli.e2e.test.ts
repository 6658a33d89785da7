// The train CLI reading config files and registered plugins: these tests start `metaquant train`
// as a child process, so they live in the e2e tier (config.test.ts keeps the in-process ones).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { parseTrainConfig } from '../../src/config/schema.js';
import { readConfigFile } from '../../src/run/run-config.js';
import { loadModel } from '../../src/run/checkpoint-payload.js';
import { Trainer } from '../../src/train/trainer.js';
import './test-plugins.js';
import { parseMethodSpec, parseQuantizerSpec } from '../../src/compare/method-spec.js';
import { InputFileError } from '../../src/util/errors.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'mq-config-'));
const MAIN = resolve('dist/src/cli/main.js');
const PLUGINS = resolve('dist/test/config/test-plugins.js');

const cli = (args: string[], plugins = false) =>
  spawnSync(process.execPath, [...(plugins ? ['--import', PLUGINS] : []), MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
const TINY = { dataset: 'synthetic:8x8x1:4:64:16', model: 'mlp', hidden: [8], epochs: 1, batchSize: 16, backend: 'cpu' } as const;

test('train --config FILE: YAML or JSON, keys as fields or flag names; flags override it; errors name the file and key', async () => {
  const dir = tmp();
  const yaml = join(dir, 'run.yaml');
  writeFileSync(yaml, 'model: lenet5\nlr-step: 10\nhidden: 32\nestimator: metaquant\nlr: "0.5"\n');
  assert.deepEqual(readConfigFile(yaml), { model: 'lenet5', lrStep: 10, hidden: [32], method: 'metaquant', lr: 0.5 });
  const bad = join(dir, 'bad.json');
  for (const [content, message] of [
    ['{"lrStpe": 3}', /bad\.json: invalid training config:\n {2}lrStpe: unknown key \(did you mean 'lrStep'\?\)/],
    ['{"bits": "many"}', /bad\.json: training config: bits: expected a number, got 'many'/],
    ['{"momentum": 2}', /bad\.json: invalid training config:\n {2}momentum: /],
    ['[1, 2]', /bad\.json: expected an object of training options/],
    ['{"lr": ', /bad\.json: not valid JSON/],
  ] as const) {
    writeFileSync(bad, content);
    assert.throws(() => readConfigFile(bad), (e: unknown) => e instanceof InputFileError && message.test(e.message), content);
  }
  // Through the CLI: the file's lr and seed, overridden by the flags given.
  const file = join(dir, 'tiny.json');
  writeFileSync(file, JSON.stringify({ ...TINY, lr: 0.5, seed: 3 }));
  const out = join(dir, 'run');
  const r = cli(['train', '--config', file, '--lr', '0.01', '--out', out, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  await useBackend('cpu');
  const { payload, model } = loadModel(out);
  model.dispose();
  assert.equal(payload.config.lr, 0.01, 'the flag overrides the file');
  assert.equal(payload.config.seed, 3, 'the file sets what the flags leave');
  assert.equal(payload.config.lrStep, 30, 'the schema fills the rest');
  writeFileSync(bad, '{"lrStpe": 3}');
  const e = cli(['train', '--config', bad]);
  assert.equal(e.status, 2);
  assert.match(e.stderr, /^metaquant: .*bad\.json: invalid training config:\n {2}lrStpe: unknown key \(did you mean 'lrStep'\?\)/);
});

test('a quantizer and a meta network added with their register functions train from a config file and from flags', async () => {
  const dir = tmp();
  const file = join(dir, 'custom.yaml');
  writeFileSync(file, `dataset: "${TINY.dataset}"\nmodel: mlp\nhidden: [8]\nepochs: 1\nbatchSize: 16\nbackend: cpu\nmethod: metaquant\nquantizer: test-half-sign\nmeta: test-fcgrad\nmetaHidden: 4\n`);
  const fromFile = join(dir, 'from-file');
  const r = cli(['train', '--config', file, '--out', fromFile, '--quiet'], true);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /built test-half-sign/);
  assert.match(r.stderr, /built test-fcgrad/);
  await useBackend('cpu');
  const { model, payload } = loadModel(fromFile);
  try {
    assert.equal(payload.modelConfig.quantizer?.name, 'test-half-sign');
    assert.equal(payload.config.meta, 'test-fcgrad');
    const kernel = model.quantizedKernels[0]!;
    const wHat = tf.tidy(() => model.quantizer!.quantize(model.params.get(kernel)).dataSync());
    assert.deepEqual([...new Set(wHat)].sort(), [-0.5, 0.5], 'the trained model quantizes with the registered quantizer');
  } finally {
    model.dispose();
  }
  // The same from flags alone; without the plugin the names are unknown choices.
  const flags = ['train', '--dataset', TINY.dataset, '--hidden', '8', '--epochs', '1', '--backend', 'cpu', '--estimator', 'metaquant', '--quantizer', 'test-half-sign', '--meta', 'test-fcgrad', '--meta-hidden', '4', '--out', join(dir, 'from-flags'), '--quiet'];
  const f = cli(flags, true);
  assert.equal(f.status, 0, f.stderr);
  assert.match(f.stderr, /built test-half-sign[\s\S]*built test-fcgrad/);
  const without = cli(flags);
  assert.equal(without.status, 2);
  assert.match(without.stderr, /argument 'test-half-sign' is invalid/);
  // And in a compare grid's specs, and through the library (this process imported the plugins).
  assert.deepEqual(parseMethodSpec('metaquant:test-fcgrad').config, { method: 'metaquant', meta: 'test-fcgrad' });
  assert.deepEqual(parseQuantizerSpec('test-half-sign').config, { quantizer: 'test-half-sign' });
  assert.equal(parseTrainConfig({ quantizer: 'test-half-sign', meta: 'test-fcgrad' }).quantizer, 'test-half-sign');
  const t = await Trainer.create({ ...TINY, quantizer: 'test-half-sign', out: join(dir, 'lib') });
  t.dispose();
});
