// One source for the training config: the field table gives the schema, the defaults and the
// flags (names match: --lr-step ↔ lrStep); unknown keys are rejected naming the key; `train
// --config FILE` with flags overriding it; quantizers and meta networks added through their
// register functions are trainable from a config file and the command line with no other edit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { TRAIN_FIELDS, TRAIN_FIELD_KEYS, flagName, type Field } from '../../src/config/fields.js';
import { addTrainFlags, argsForConfig, configFromArgs, configFromFlags } from '../../src/config/flags.js';
import { canonicalConfigJson, parseTrainConfig, TrainConfigSchema } from '../../src/config/schema.js';
import { readConfigFile } from '../../src/run/run-config.js';
import { loadModel } from '../../src/run/checkpoint-payload.js';
import { trainCommand } from '../../src/cli/train.js';
import { Trainer } from '../../src/train/trainer.js';
import './test-plugins.js';
import { parseMethodSpec, parseQuantizerSpec } from '../../src/compare/method-spec.js';
import { InputFileError, UsageError } from '../../src/util/errors.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'mq-config-'));
const MAIN = resolve('dist/src/cli/main.js');
const PLUGINS = resolve('dist/test/config/test-plugins.js');
/** The real CLI in a child process (optionally with the test plugins imported first). */
const cli = (args: string[], plugins = false) =>
  spawnSync(process.execPath, [...(plugins ? ['--import', PLUGINS] : []), MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
const TINY = { dataset: 'synthetic:8x8x1:4:64:16', model: 'mlp', hidden: [8], epochs: 1, batchSize: 16, backend: 'cpu' } as const;

/** Parses a train command line in-process and returns the config fields it set. */
function flagsOf(args: string[]): Record<string, unknown> {
  const cmd = addTrainFlags(new Command('train'), { showDefaults: true }).exitOverride().action(() => {});
  cmd.parse(args, { from: 'user' });
  return configFromFlags(cmd);
}

test('every field has the flag of its name, the flag sets that field, and --help shows the schema default', () => {
  const cmd = addTrainFlags(new Command('train'), { showDefaults: true });
  for (const key of TRAIN_FIELD_KEYS) {
    const option = cmd.options.find((o) => o.long === `--${flagName(key)}`);
    assert.ok(option, `--${flagName(key)} exists for ${key}`);
    assert.equal(option.attributeName(), key, `--${flagName(key)} sets ${key}`);
    const d = TrainConfigSchema.shape[key].safeParse(undefined);
    const expected = d.success && d.data !== null && d.data !== false ? d.data : undefined;
    assert.deepEqual(option.defaultValue, expected, `--help default of ${key}`);
  }
  // Nothing else: every flag is a field, a field's --no- form, or an alias.
  const known = new Set(TRAIN_FIELD_KEYS.flatMap((k) => [`--${flagName(k)}`, `--no-${flagName(k)}`, ...((TRAIN_FIELDS[k] as Field).aliases ?? []).map((a) => `--${a}`)]));
  for (const o of cmd.options) assert.ok(known.has(o.long!), `${o.long} belongs to a field`);
  // The flags that were renamed fields before: they now name their fields.
  assert.deepEqual(flagsOf(['--lr-step', '7', '--max-meta-memory', '2', '--max-memory', '3', '--inject-nan', '4,5']), { lrStep: 7, maxMetaMemory: 2, maxMemory: 3, injectNan: [4, 5] });
  assert.equal(parseTrainConfig({}).lrStep, 30);
});

test('--method is canonical; --estimator is an alias; both disagreeing is an error', () => {
  assert.deepEqual(flagsOf(['--estimator', 'metaquant']), { method: 'metaquant' });
  assert.deepEqual(flagsOf(['--method', 'clipped-ste']), { method: 'clipped-ste' });
  assert.deepEqual(flagsOf(['--method', 'ste', '--estimator', 'ste']), { method: 'ste' });
  assert.throws(() => flagsOf(['--method', 'ste', '--estimator', 'metaquant']), /--estimator metaquant and --method ste disagree/);
  let help = '';
  const cmd = trainCommand().exitOverride().configureOutput({ writeOut: (s) => (help += s) });
  assert.throws(() => cmd.parse(['--help'], { from: 'user' }));
  assert.match(help, /--method <name>\s+training method \(the canonical flag;/);
  assert.match(help, /--estimator <name>\s+alias of --method/);
  assert.match(help, /--config <file>/);
});

test('unknown keys are rejected naming the key, with did-you-mean; legacy keys are renamed', async () => {
  assert.throws(() => parseTrainConfig({ lrStpe: 3, modle: 'mlp' }), (e: unknown) => e instanceof UsageError && /lrStpe: unknown key \(did you mean 'lrStep'\?\)/.test(e.message) && /modle: unknown key \(did you mean 'model'\?\)/.test(e.message));
  assert.throws(() => parseTrainConfig({ zzzzzz: 1 }), /zzzzzz: unknown key$/m);
  assert.throws(() => parseTrainConfig(JSON.parse('{"__proto__": {"lr": 5}}')), /__proto__: unknown key/, 'no value smuggled in through the prototype');
  // @ts-expect-error TrainerInput names the fields: TypeScript rejects the misspelt key too
  await assert.rejects(Trainer.create({ ...TINY, lrStpe: 3 }), /lrStpe: unknown key \(did you mean 'lrStep'\?\)/, 'library input too');
  assert.throws(() => parseTrainConfig({ lr: 'fast' }), /lr: /);
  assert.throws(() => parseTrainConfig({ quantizer: 'xnor' }), /quantizer: unknown quantizer 'xnor'; expected one of: dorefa, bwn, ternary, sign/);
  const old = parseTrainConfig({ estimator: 'metaquant', lrStepEpochs: 9, maxMetaMemoryGiB: 2, maxMemoryGiB: 3, injectNanAtSteps: [2] });
  assert.deepEqual([old.method, old.lrStep, old.maxMetaMemory, old.maxMemory, old.injectNan], ['metaquant', 9, 2, 3, [2]]);
  assert.equal('estimator' in old, false);
  assert.equal(parseTrainConfig({ estimator: 'ste', method: 'ste' }).method, 'ste');
  assert.throws(() => parseTrainConfig({ estimator: 'ste', method: 'metaquant' }), /both 'estimator' \(the older name\) and 'method'/);
});

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

test('argsForConfig and configFromArgs round-trip a config through its flags', () => {
  const config = parseTrainConfig({ ...TINY, method: 'metaquant', meta: 'lstm', augment: false, lrStep: 4, weightDecay: 0, injectNan: [3] });
  const args = argsForConfig(config);
  assert.ok(args.includes('--no-augment') && args.includes('--lr-step') && args.join(' ').includes('--hidden 8'));
  assert.equal(canonicalConfigJson(parseTrainConfig(configFromArgs(args))), canonicalConfigJson(config));
  assert.equal(configFromArgs(['--estimator', 'ste', '--lr', '0.1', '--lr', '0.2']).lr, 0.2, 'the last value wins');
  assert.throws(() => configFromArgs(['--modle', 'mlp']), /unknown train flag '--modle' \(did you mean --model\?\)/);
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
