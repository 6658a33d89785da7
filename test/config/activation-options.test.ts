// The activation-quantization options (issue 16) from every entry point: flags, config objects and
// files, compare method specs; and the rules that tie them to the rest of a config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTrainConfig, normaliseConfigObject, canonicalConfigJson } from '../../src/config/schema.js';
import { parseMethodSpec } from '../../src/compare/method-spec.js';
import { modelConfigFor } from '../../src/train/factory.js';

const DATA = { height: 8, width: 8, channels: 1, numClasses: 4 };

test('options reach the model config; without them the config and its identity are unchanged', () => {
  const plain = parseTrainConfig({});
  assert.equal(plain.actQuantizer, undefined);
  assert.equal(canonicalConfigJson(plain).includes('act'), false, 'no new keys in the identity of existing configs');
  assert.equal(modelConfigFor(plain, DATA).actQuantizer, undefined);
  assert.deepEqual(modelConfigFor(plain, DATA).archOptions, {});
  const c = parseTrainConfig(normaliseConfigObject({ 'act-quantizer': 'lsq', 'act-bits': '4', quantizer: 'lsq', bits: 2 }, 'test'));
  assert.deepEqual(modelConfigFor(c, DATA).actQuantizer, { name: 'lsq', bits: 4 });
  assert.deepEqual(modelConfigFor(c, DATA).quantizer, { name: 'lsq', bits: 2, perChannel: false, estimator: 'ste' });
  const bnn = parseTrainConfig({ quantizer: 'sign', actQuantizer: 'sign', hiddenActivation: 'identity' });
  assert.deepEqual(modelConfigFor(bnn, DATA).actQuantizer, { name: 'sign', bits: 1 });
  assert.deepEqual(modelConfigFor(bnn, DATA).archOptions, { activation: 'identity' });
  assert.equal(modelConfigFor(parseTrainConfig({ actQuantizer: 'none' }), DATA).actQuantizer, undefined);
});

test('bad combinations are refused with the reason', () => {
  assert.throws(() => parseTrainConfig({ method: 'metaquant', quantizer: 'lsq' }), /metaquant cannot train --quantizer lsq: .*learned step s/);
  assert.throws(() => parseTrainConfig({ actQuantizer: 'sign', actBits: 2, hiddenActivation: 'identity' }), /--act-bits applies to --act-quantizer dorefa, pact or lsq/);
  assert.throws(() => parseTrainConfig({ actBits: 2 }), /--act-bits applies/);
  assert.throws(() => parseTrainConfig({ actQuantizer: 'sign' }), /after ReLU .* --hidden-activation identity/);
  assert.throws(() => parseTrainConfig({ model: 'resnet20', hiddenActivation: 'identity' }), /--hidden-activation applies to mlp and lenet5/);
  assert.throws(() => parseTrainConfig({ actQuantizer: 'relu6' }), /unknown activation quantizer 'relu6'; expected one of: sign, dorefa, pact, lsq, none/);
  assert.throws(() => parseTrainConfig({ actQuantizer: 'pact', actBits: 9 }), /actBits/);
});

test('compare method specs set them like flags', () => {
  const spec = parseMethodSpec('metaquant:fcgrad+act-quantizer=pact+act-bits=2+hidden-activation=identity');
  assert.deepEqual(spec.config, { method: 'metaquant', meta: 'fcgrad', actQuantizer: 'pact', actBits: 2, hiddenActivation: 'identity' });
});
