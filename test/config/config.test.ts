// One source for the training config: the field table gives the schema, the defaults and the
// flags (names match: --lr-step ↔ lrStep); unknown keys are rejected naming the key; `train
// --config FILE` and registered plugins are tested through the CLI in config-cli.e2e.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { TRAIN_FIELDS, TRAIN_FIELD_KEYS, flagName, type Field } from '../../src/config/fields.js';
import { addTrainFlags, argsForConfig, configFromArgs, configFromFlags } from '../../src/config/flags.js';
import { canonicalConfigJson, parseTrainConfig, TrainConfigSchema } from '../../src/config/schema.js';
import { trainCommand } from '../../src/cli/train.js';
import { Trainer } from '../../src/train/trainer.js';
import './test-plugins.js';
import { UsageError } from '../../src/util/errors.js';

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

test('argsForConfig and configFromArgs round-trip a config through its flags', () => {
  const config = parseTrainConfig({ ...TINY, method: 'metaquant', meta: 'lstm', augment: false, lrStep: 4, weightDecay: 0, injectNan: [3] });
  const args = argsForConfig(config);
  assert.ok(args.includes('--no-augment') && args.includes('--lr-step') && args.join(' ').includes('--hidden 8'));
  assert.equal(canonicalConfigJson(parseTrainConfig(configFromArgs(args))), canonicalConfigJson(config));
  assert.equal(configFromArgs(['--estimator', 'ste', '--lr', '0.1', '--lr', '0.2']).lr, 0.2, 'the last value wins');
  assert.throws(() => configFromArgs(['--modle', 'mlp']), /unknown train flag '--modle' \(did you mean --model\?\)/);
});
