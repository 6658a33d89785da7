// `summary` with activation quantization (issue 16): MACs by both operands' precision, and the
// deployed size counting the learned scalars; against closed forms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../../src/engine/backend.js';
import { QuantizedModel, type ModelConfig } from '../../src/models/model.js';
import { formatSummary, summarizeModel } from '../../src/export/summary.js';

const [inF, h1, h2, classes] = [30, 16, 12, 3];
const MLP: Omit<ModelConfig, 'quantizer'> = { arch: 'mlp', inputShape: [6, 5, 1], numClasses: classes, archOptions: { hidden: [h1, h2] }, seed: 2 };

test('a BNN: every MAC is XNOR-popcount (1-bit weights x 1-bit activations)', async () => {
  await useBackend('cpu');
  const model = new QuantizedModel({ ...MLP, archOptions: { hidden: [h1, h2], activation: 'identity' }, quantizer: { name: 'sign' }, actQuantizer: { name: 'sign' } });
  const s = summarizeModel(model);
  const macs = inF * h1 + h1 * h2 + h2 * classes;
  assert.deepEqual(s.totals.macsByOperands, { '1x1': macs });
  assert.deepEqual(s.layers.find((l) => l.name === 'fc2')!.macsByOperands, { '1x1': h1 * h2 });
  assert.equal(s.activations, 'sign');
  assert.match(formatSummary(s), /activations: sign/);
  assert.match(formatSummary(s), new RegExp(`binary x binary \\(XNOR-popcount\\) ${macs}; binary x k-bit 0`));
  model.dispose();
});

test('lsq 2-bit activations, bwn weights, first/last float: 1x2 MACs in the middle, float at the ends; steps in the size', async () => {
  await useBackend('cpu');
  const config = { ...MLP, quantizer: { name: 'bwn' }, keepFirstLastFp: true, actQuantizer: { name: 'lsq', bits: 2 } };
  const model = new QuantizedModel(config);
  const s = summarizeModel(model);
  assert.deepEqual(s.totals.macsByOperands, { '32x32': inF * h1 + h2 * classes, '1x2': h1 * h2 });
  const act = s.layers.find((l) => l.name === 'fc2/input')!;
  assert.deepEqual([act.type, act.weightsByBits, act.memoryBytes], ['ActQuant lsq 2-bit', { 32: 1 }, 4]);
  const plain = summarizeModel(new QuantizedModel({ ...config, actQuantizer: null }));
  assert.equal(s.totals.deployedBytes, plain.totals.deployedBytes + 4, 'one learned step, 4 bytes');
  assert.equal(plain.totals.macsByOperands, undefined, 'no operand breakdown without activation quantization');
  assert.match(formatSummary(s), /binary x k-bit 192; other low-bit 0; with a float operand 516/);
  model.dispose();
});
