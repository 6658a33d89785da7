// Model summary: counts, memory and MACs against closed forms per layer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { QuantizedModel } from '../../src/models/model.js';
import { Trainer } from '../../src/train/trainer.js';
import { formatSummary, summarizeCheckpoint, summarizeModel, type LayerSummary } from '../../src/export/summary.js';
import type { QuantizerConfig } from '../../src/quantizers/types.js';

const packed = (count: number, bits: number) => Math.ceil((count * bits) / 8);
const byName = (layers: LayerSummary[], name: string) => {
  const l = layers.find((x) => x.name === name);
  assert.ok(l, `row ${name}`);
  return l;
};

test('mlp (dorefa 1-bit): counts, memory and MACs per layer and in total', async () => {
  await useBackend('cpu');
  const [inF, h1, h2, classes] = [30, 16, 12, 3];
  const model = new QuantizedModel({ arch: 'mlp', inputShape: [6, 5, 1], numClasses: classes, archOptions: { hidden: [h1, h2] }, quantizer: { name: 'dorefa', bits: 1 }, seed: 2 });
  const s = summarizeModel(model);
  assert.deepEqual(s.layers.map((l) => [l.name, l.type, l.outputShape]), [
    ['flatten1', 'Flatten', [inF]],
    ['fc1', 'Dense', [h1]],
    ['bn1', 'BatchNorm', [h1]],
    ['fc2', 'Dense', [h2]],
    ['bn2', 'BatchNorm', [h2]],
    ['fc3', 'Dense', [classes]],
  ]);
  // Dense: in·out weights and MACs; one float32 scale (dorefa's is 1) per quantized kernel.
  assert.deepEqual(byName(s.layers, 'fc1'), { name: 'fc1', type: 'Dense', outputShape: [h1], weightsByBits: { 1: inF * h1 }, memoryBytes: packed(inF * h1, 1) + 4, macsByBits: { 1: inF * h1 } });
  assert.deepEqual(byName(s.layers, 'bn1').weightsByBits, { 32: 4 * h1 });
  assert.equal(byName(s.layers, 'bn1').memoryBytes, 16 * h1);
  const fc3 = byName(s.layers, 'fc3');
  assert.deepEqual(fc3.weightsByBits, { 1: h2 * classes, 32: classes });
  assert.equal(fc3.memoryBytes, packed(h2 * classes, 1) + 4 + 4 * classes);
  const params = inF * h1 + 4 * h1 + h1 * h2 + 4 * h2 + h2 * classes + classes;
  const deployed = packed(inF * h1, 1) + 4 + 16 * h1 + packed(h1 * h2, 1) + 4 + 16 * h2 + packed(h2 * classes, 1) + 4 + 4 * classes;
  assert.deepEqual(s.totals, {
    parameters: params,
    trainableParameters: params - 2 * (h1 + h2),
    weightsByBits: { 1: inF * h1 + h1 * h2 + h2 * classes, 32: 4 * h1 + 4 * h2 + classes },
    macsByBits: { 1: inF * h1 + h1 * h2 + h2 * classes },
    macs: inF * h1 + h1 * h2 + h2 * classes,
    trainedBytes: 4 * params,
    deployedBytes: deployed,
    float32Bytes: 4 * params,
    compressionRatio: (4 * params) / deployed,
    lowBitMacShare: 1,
  });
  model.dispose();
});

test('lenet5 (bwn per-channel, first/last float) on 10×10×2: shapes, counts and MACs', async () => {
  await useBackend('cpu');
  const classes = 4;
  const model = new QuantizedModel({ arch: 'lenet5', inputShape: [10, 10, 2], numClasses: classes, quantizer: { name: 'bwn', perChannel: true }, keepFirstLastFp: true, seed: 4 });
  const s = summarizeModel(model);
  // 'same' convs keep 10×10 and 5×5; 2×2 pools give ceil(10/2) = 5 and ceil(5/2) = 3.
  assert.deepEqual(s.layers.map((l) => [l.name, l.outputShape]), [
    ['conv1', [10, 10, 32]], ['bn1', [10, 10, 32]], ['pool1', [5, 5, 32]],
    ['conv2', [5, 5, 64]], ['bn2', [5, 5, 64]], ['pool2', [3, 3, 64]],
    ['flatten1', [576]], ['fc1', [512]], ['bn3', [512]], ['fc2', [classes]],
  ]);
  const conv1 = 5 * 5 * 2 * 32, conv2 = 5 * 5 * 32 * 64, fc1 = 576 * 512, fc2 = 512 * classes;
  const macs = { conv1: 10 * 10 * conv1, conv2: 5 * 5 * conv2, fc1, fc2 };
  assert.deepEqual(byName(s.layers, 'conv1').macsByBits, { 32: macs.conv1 });
  assert.deepEqual(byName(s.layers, 'conv2').macsByBits, { 1: macs.conv2 });
  assert.equal(byName(s.layers, 'conv1').memoryBytes, 4 * conv1);
  // Per-channel BWN: one float32 scale per output channel.
  assert.equal(byName(s.layers, 'conv2').memoryBytes, packed(conv2, 1) + 4 * 64);
  assert.equal(byName(s.layers, 'fc1').memoryBytes, packed(fc1, 1) + 4 * 512);
  assert.deepEqual(byName(s.layers, 'fc2').weightsByBits, { 32: fc2 + classes });
  assert.deepEqual(s.totals.weightsByBits, { 1: conv2 + fc1, 32: conv1 + fc2 + classes + 4 * (32 + 64 + 512) });
  assert.deepEqual(s.totals.macsByBits, { 1: macs.conv2 + macs.fc1, 32: macs.conv1 + macs.fc2 });
  assert.equal(s.totals.lowBitMacShare, (macs.conv2 + macs.fc1) / (macs.conv1 + macs.conv2 + macs.fc1 + macs.fc2));
  assert.equal(s.totals.parameters, model.params.totalCount());
  model.dispose();
});

test('resnet20 on 32×32×3: 40.8M MACs per image (He et al.), shortcut additions listed', async () => {
  await useBackend('cpu');
  const model = new QuantizedModel({ arch: 'resnet20', inputShape: [32, 32, 3], numClasses: 10, quantizer: null, seed: 1 });
  const s = summarizeModel(model);
  // stem + 3 stages of 6 3×3 convs (the first of stages 2 and 3 strided) + two 1×1 projections + fc.
  const conv3 = (hw: number, cin: number, cout: number) => hw * hw * 9 * cin * cout;
  const expected =
    conv3(32, 3, 16) + 6 * conv3(32, 16, 16) +
    conv3(16, 16, 32) + 5 * conv3(16, 32, 32) + 16 * 16 * 16 * 32 +
    conv3(8, 32, 64) + 5 * conv3(8, 64, 64) + 8 * 8 * 32 * 64 + 64 * 10;
  assert.equal(expected, 40_813_184);
  assert.deepEqual(s.totals.macsByBits, { 32: expected });
  assert.equal(s.totals.lowBitMacShare, 0);
  assert.equal(s.layers.filter((l) => l.type === 'Add').length, 9);
  assert.deepEqual(byName(s.layers, 'avgpool1').outputShape, [64]);
  assert.equal(s.totals.compressionRatio, 1);
  model.dispose();
});

test('bits per kernel: dorefa k, bwn 1, ternary 2, float 32, keep-first-last-fp', async () => {
  await useBackend('cpu');
  const kernelBits = (quantizer: QuantizerConfig | null, keepFirstLastFp = false) => {
    const model = new QuantizedModel({ arch: 'mlp', inputShape: [1, 1, 5], numClasses: 3, archOptions: { hidden: [4, 4] }, quantizer, keepFirstLastFp, seed: 7 });
    const s = summarizeModel(model);
    model.dispose();
    // The bit widths of each dense layer's kernel (its bias, if any, is the 32-bit entry of fc3).
    return ['fc1', 'fc2', 'fc3'].map((n) => Object.keys(byName(s.layers, n).macsByBits).map(Number));
  };
  assert.deepEqual(kernelBits({ name: 'dorefa', bits: 3 }), [[3], [3], [3]]);
  assert.deepEqual(kernelBits({ name: 'dorefa', bits: 8 }), [[8], [8], [8]]);
  assert.deepEqual(kernelBits({ name: 'bwn' }), [[1], [1], [1]]);
  assert.deepEqual(kernelBits({ name: 'ternary' }), [[2], [2], [2]]);
  assert.deepEqual(kernelBits({ name: 'sign' }), [[1], [1], [1]]);
  assert.deepEqual(kernelBits(null), [[32], [32], [32]]);
  assert.deepEqual(kernelBits({ name: 'dorefa', bits: 2 }, true), [[32], [2], [32]]);
});

test('a BWN kernel with an exact zero is stored with 2 bits, as its encoding needs', async () => {
  await useBackend('cpu');
  const model = new QuantizedModel({ arch: 'mlp', inputShape: [1, 1, 5], numClasses: 3, archOptions: { hidden: [4] }, quantizer: { name: 'bwn' }, seed: 7 });
  const w = model.params.get('fc1/kernel');
  w.assign(tf.tensor(Float32Array.from(w.dataSync(), (v, i) => (i === 0 ? 0 : v)), w.shape));
  const s = summarizeModel(model);
  assert.deepEqual(byName(s.layers, 'fc1').weightsByBits, { 2: 20 });
  assert.deepEqual(byName(s.layers, 'fc2').weightsByBits, { 1: 12, 32: 3 });
  model.dispose();
});

test('table on a trained checkpoint', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mq-summary-')), 'run');
  const trainer = await Trainer.create({ dataset: 'synthetic:8x8x1:4:64:16', model: 'mlp', hidden: [16], quantizer: 'ternary', epochs: 1, batchSize: 32, backend: 'cpu', out });
  await trainer.run();
  trainer.dispose();
  const s = summarizeCheckpoint(out);
  assert.equal(s.estimator, 'ste');
  const table = formatSummary(s);
  const lines = table.split('\n');
  const header = lines.find((l) => l.startsWith('Layer'))!;
  assert.match(header, /Output shape\s+# 2-bit\s+# 32-bit\s+Memory \(KiB\)\s+2-bit MACs$/);
  for (const name of ['flatten1', 'fc1', 'bn1', 'fc2', 'Total']) assert.ok(lines.some((l) => l.startsWith(name)), name);
  // Columns line up: every number in a column ends where its header ends.
  const macEnd = header.length;
  for (const l of lines.filter((x) => /^(fc|bn|flatten|Total)/.test(x))) assert.equal(l.length, macEnd, l);
  assert.match(table, /Compression ratio:\s+\d+\.\d\dx/);
});
