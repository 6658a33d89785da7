// Measures the packed export against the float32 TensorFlow.js export for the standard models.
//   npm run build && node dist/bench/export-sizes.js
// Sizes do not depend on training (only on shapes and bit widths), so freshly initialised models
// are measured; BWN/ternary would add nothing but their scales.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBackend } from '../src/engine/backend.js';
import { QuantizedModel, type ModelConfig } from '../src/models/model.js';
import { deployModel } from '../src/export/deploy.js';
import { saveTfjsModel } from '../src/export/tfjs.js';
import { encodePacked } from '../src/export/packed-format.js';

const MNIST = { inputShape: [28, 28, 1] as [number, number, number], norm: { mean: [0.1307], std: [0.3081] } };
const CIFAR = { inputShape: [32, 32, 3] as [number, number, number], norm: { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] } };
const ROWS: Array<{ label: string; arch: string; data: typeof MNIST; bits: number; keepFirstLastFp?: boolean }> = [
  { label: 'mlp 784-256-256-10 (BN)', arch: 'mlp', data: MNIST, bits: 1 },
  { label: 'lenet5', arch: 'lenet5', data: MNIST, bits: 1 },
  { label: 'resnet20 (CIFAR-10)', arch: 'resnet20', data: CIFAR, bits: 1 },
  { label: 'mlp, first/last float', arch: 'mlp', data: MNIST, bits: 1, keepFirstLastFp: true },
  { label: 'lenet5, first/last float', arch: 'lenet5', data: MNIST, bits: 1, keepFirstLastFp: true },
  { label: 'resnet20, first/last float', arch: 'resnet20', data: CIFAR, bits: 1, keepFirstLastFp: true },
  { label: 'resnet20 (CIFAR-10)', arch: 'resnet20', data: CIFAR, bits: 2 },
];

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

await useBackend('cpu');
const dir = mkdtempSync(join(tmpdir(), 'mq-sizes-'));
console.log('| model | bits | float32 tfjs export | packed | ratio | packed: quantized kernels / float params / header |');
console.log('|---|---|---|---|---|---|');
for (const row of ROWS) {
  const config: ModelConfig = { arch: row.arch, inputShape: row.data.inputShape, numClasses: 10, quantizer: { name: 'dorefa', bits: row.bits }, keepFirstLastFp: row.keepFirstLastFp, seed: 1 };
  const model = new QuantizedModel(config);
  const dep = deployModel(model, row.data.norm);
  model.dispose();
  const packed = encodePacked(dep);
  const tfjs = await saveTfjsModel(dep, join(dir, 'tfjs'));
  let quantizedBytes = 0;
  let floatBytes = 0;
  for (const [name, w] of Object.entries(dep.weights)) {
    const enc = dep.encodings[name];
    if (enc) quantizedBytes += (4 * (enc.levels.length + enc.scales.length) + Math.ceil((w.data.length * enc.bits) / 8) + 3) & ~3;
    else floatBytes += 4 * w.data.length;
  }
  const header = packed.length - quantizedBytes - floatBytes;
  console.log(
    `| ${row.label} | ${row.bits}${row.keepFirstLastFp ? ' (first/last fp32)' : ''} | ${kib(tfjs.bytes)} | ${kib(packed.length)} | ${(tfjs.bytes / packed.length).toFixed(1)}× | ${kib(quantizedBytes)} / ${kib(floatBytes)} / ${kib(header)} |`,
  );
}
rmSync(dir, { recursive: true, force: true });
