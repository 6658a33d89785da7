import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { UsageError } from '../../src/util/errors.js';
import {
  BwnQuantizer,
  DorefaQuantizer,
  QUANTIZER_NAMES,
  SignQuantizer,
  TernaryQuantizer,
  createQuantizer,
  describeQuantizer,
  quantizerFromConfig,
  registerQuantizer,
  registeredQuantizerNames,
  type QuantizerConfig,
} from '../../src/quantizers/index.js';
import { assertSameValues, sampleWeights, take } from './helpers.js';

const CONFIGS: QuantizerConfig[] = [
  { name: 'dorefa' },
  { name: 'dorefa', bits: 4, estimator: 'clipped-ste' },
  { name: 'bwn', perChannel: true },
  { name: 'bwn', bits: 1, estimator: 'clipped-ste' },
  { name: 'ternary', perChannel: true },
  { name: 'ternary', bits: 2 },
  { name: 'sign', estimator: 'clipped-ste' },
];

/** A UsageError whose message lists every one of `valid`. */
function usageErrorListing(valid: readonly string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    for (const value of valid) assert.ok(err.message.includes(value), `'${err.message}' lists '${value}'`);
    return true;
  };
}

describe('quantizer registry', () => {
  before(() => useBackend('cpu'));

  it('builds each family as its class', () => {
    assert.deepEqual([...QUANTIZER_NAMES], ['dorefa', 'bwn', 'ternary', 'sign']);
    assert.ok(createQuantizer({ name: 'dorefa' }) instanceof DorefaQuantizer);
    assert.ok(createQuantizer({ name: 'bwn' }) instanceof BwnQuantizer);
    assert.ok(createQuantizer({ name: 'ternary' }) instanceof TernaryQuantizer);
    assert.ok(createQuantizer({ name: 'sign' }) instanceof SignQuantizer);
  });

  it('getConfig is plain JSON and round-trips to an equal quantizer', () => {
    const w = tf.tensor(sampleWeights(48, 6), [6, 8]);
    for (const config of CONFIGS) {
      const original = createQuantizer(config);
      const json = JSON.parse(JSON.stringify(original.getConfig())) as unknown;
      assert.deepEqual(json, original.getConfig(), 'survives JSON');
      const rebuilt = quantizerFromConfig(json);
      assert.deepEqual(rebuilt.getConfig(), original.getConfig());
      assert.equal(rebuilt.constructor, original.constructor);
      assert.deepEqual(createQuantizer(rebuilt.getConfig()).getConfig(), original.getConfig());
      assertSameValues(take(rebuilt.quantize(w)), take(original.quantize(w)), JSON.stringify(config));
    }
    assert.deepEqual(createQuantizer({ name: 'dorefa' }).getConfig(), {
      name: 'dorefa',
      bits: 1,
      perChannel: false,
      estimator: 'ste',
    });
    w.dispose();
  });

  it('unknown names, bits and estimators are UsageErrors listing the valid values', () => {
    assert.throws(() => createQuantizer({ name: 'xnor' }), usageErrorListing(QUANTIZER_NAMES));
    assert.throws(() => createQuantizer({ name: 'dorefa', bits: 9 }), usageErrorListing(['1', '2', '3', '4', '5', '6', '7', '8']));
    assert.throws(() => createQuantizer({ name: 'dorefa', bits: 0 }), UsageError);
    assert.throws(() => createQuantizer({ name: 'dorefa', bits: 2.5 }), UsageError);
    assert.throws(() => createQuantizer({ name: 'bwn', bits: 2 }), usageErrorListing(['1']));
    assert.throws(() => createQuantizer({ name: 'ternary', bits: 3 }), usageErrorListing(['2']));
    assert.throws(() => createQuantizer({ name: 'sign', bits: 8 }), usageErrorListing(['1']));
    assert.throws(
      () => createQuantizer({ name: 'sign', estimator: 'identity' as never }),
      usageErrorListing(['ste', 'clipped-ste']),
    );
    assert.throws(() => createQuantizer({ name: 'dorefa', perChannel: true }), usageErrorListing(['bwn', 'ternary']));
  });

  it('quantizerFromConfig rejects malformed JSON configs', () => {
    assert.throws(() => quantizerFromConfig(null), UsageError);
    assert.throws(() => quantizerFromConfig('dorefa'), UsageError);
    assert.throws(() => quantizerFromConfig({ bits: 1 }), usageErrorListing(QUANTIZER_NAMES));
    assert.throws(() => quantizerFromConfig({ name: 'bwn', perchannel: true }), usageErrorListing(['perChannel']));
    assert.throws(() => quantizerFromConfig({ name: 'dorefa', bits: '2' }), UsageError);
    assert.throws(() => quantizerFromConfig({ name: 'bwn', perChannel: 'yes' }), UsageError);
    assert.throws(() => quantizerFromConfig({ name: 'bwn', estimator: 'fancy' }), usageErrorListing(['ste', 'clipped-ste']));
  });

  it('registerQuantizer adds a family; replacing a name needs { replace: true }', () => {
    class HalfSign extends SignQuantizer {
      override readonly name = 'half-sign';
    }
    registerQuantizer('half-sign', (config) => new HalfSign(config));
    assert.ok(registeredQuantizerNames().includes('half-sign'));
    const built = quantizerFromConfig({ name: 'half-sign', estimator: 'clipped-ste' });
    assert.ok(built instanceof HalfSign);
    assert.deepEqual(quantizerFromConfig(built.getConfig()).getConfig(), built.getConfig());
    assert.throws(() => registerQuantizer('half-sign', (config) => new HalfSign(config)), UsageError);
    assert.throws(() => registerQuantizer('bwn', (config) => new BwnQuantizer(config)), UsageError);
    registerQuantizer('half-sign', (config) => new HalfSign(config), { replace: true });
    // Unknown-name errors now list the user's family too.
    assert.throws(() => createQuantizer({ name: 'nope' }), usageErrorListing([...QUANTIZER_NAMES, 'half-sign']));
  });

  it('describeQuantizer states formulas, estimator and conventions', () => {
    assert.match(describeQuantizer({ name: 'dorefa', bits: 3 }), /half to even/);
    assert.match(describeQuantizer({ name: 'bwn' }), /sign\(0\) = 0/);
    assert.match(describeQuantizer({ name: 'sign' }), /sign\(0\) = \+1/);
    assert.match(describeQuantizer({ name: 'ternary', perChannel: true }), /per output channel/);
    for (const name of QUANTIZER_NAMES) {
      assert.match(describeQuantizer({ name, estimator: 'clipped-ste' }), /1\{\|W\| <= 1\}/);
    }
    assert.equal(describeQuantizer(createQuantizer({ name: 'sign' })), describeQuantizer({ name: 'sign' }));
  });
});
