// Issue 17's training options (--phi-objective, --meta-warmup, --fix-c) through the one field table:
// flags, config files (the schema) and compare's method specs give the same config fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { addTrainFlags, configFromFlags } from '../../src/config/flags.js';
import { parseTrainConfig } from '../../src/config/schema.js';
import { parseMethodSpec } from '../../src/compare/method-spec.js';

function flagsOf(args: string[]): Record<string, unknown> {
  const cmd = addTrainFlags(new Command('train')).exitOverride().action(() => {});
  cmd.parse(args, { from: 'user' });
  return configFromFlags(cmd);
}

test('--phi-objective, --meta-warmup and --fix-c from flags, a config file and a method spec', () => {
  assert.deepEqual(flagsOf(['--phi-objective', 'ste-regression', '--meta-warmup', '20', '--fix-c', '-0.5']), { phiObjective: 'ste-regression', metaWarmup: 20, fixC: -0.5 });
  const defaults = parseTrainConfig({});
  assert.deepEqual([defaults.phiObjective, defaults.metaWarmup, defaults.fixC], ['base', 0, null], 'defaults: the reference');
  const file = parseTrainConfig({ method: 'metaquant', phiObjective: 'ste-regression', metaWarmup: 5, freezePhi: true, fixC: 1 });
  assert.deepEqual([file.phiObjective, file.metaWarmup, file.fixC], ['ste-regression', 5, 1]);
  assert.deepEqual(parseMethodSpec('metaquant:lstm+phi-objective=ste-regression').config, { method: 'metaquant', meta: 'lstm', phiObjective: 'ste-regression' });
  assert.deepEqual(parseMethodSpec('metaquant:fcgrad+freeze-phi+fix-c=-1+meta-warmup=10').config, { method: 'metaquant', meta: 'fcgrad', freezePhi: true, fixC: -1, metaWarmup: 10 });
});

test('bad values name the option and what was expected', () => {
  assert.throws(() => parseTrainConfig({ phiObjective: 'mse' }), /phiObjective: unknown phi objective; expected one of: base, ste-regression/);
  assert.throws(() => parseTrainConfig({ metaWarmup: -1 }), /metaWarmup/);
  assert.throws(() => parseTrainConfig({ metaWarmup: 2.5 }), /metaWarmup/);
  assert.throws(() => flagsOf(['--meta-warmup', 'soon']), /--meta-warmup/);
  assert.throws(() => parseMethodSpec('metaquant:lstm+phi-objective=mse'), /method 'metaquant:lstm\+phi-objective=mse': --phi-objective: 'mse' is not one of: base, ste-regression/);
});
