// ONNX export: models trained for one epoch on a small synthetic data set are exported, run in
// onnxruntime-node, and compared with the library's own predictions on the test images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { Trainer } from '../../src/train/trainer.js';
import { loadModel } from '../../src/run/checkpoint-payload.js';
import { loadDataset } from '../../src/data/index.js';
import { makeBatch } from '../../src/data/pipeline.js';
import { QuantizedModel } from '../../src/models/model.js';
import { buildOnnxModel, exportOnnx, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from '../../src/export/onnx.js';
import { checkpointNormalization } from '../../src/export/deploy.js';
import { UsageError } from '../../src/util/errors.js';

const { onnx } = onnxProto;
const tmp = () => mkdtempSync(join(tmpdir(), 'mq-onnx-'));
const STANDARD_OPS = new Set(['Mul', 'Add', 'Transpose', 'Conv', 'Gemm', 'BatchNormalization', 'Relu', 'MaxPool', 'Flatten', 'GlobalAveragePool', 'Identity', 'DequantizeLinear']);

/**
 * Same argmax on every image, and logits equal up to float32 rounding: within 1e-4 of the
 * image's logit scale max(1, max|z|) (1-bit DoReFa has no scale, so its logits reach the hundreds,
 * where float32 spacing alone is ~1e-5).
 */
function assertSamePredictions(ours: Float32Array, theirs: Float32Array, classes: number, what: string): number {
  assert.equal(theirs.length, ours.length, `${what}: output size`);
  let worst = 0;
  for (let i = 0; i < ours.length / classes; i++) {
    const a = ours.subarray(i * classes, (i + 1) * classes);
    const b = theirs.subarray(i * classes, (i + 1) * classes);
    const scale = Math.max(1, ...Array.from(a, Math.abs));
    for (let j = 0; j < classes; j++) worst = Math.max(worst, Math.abs(a[j]! - b[j]!) / scale);
    const argmax = (z: Float32Array) => z.indexOf(Math.max(...z));
    assert.equal(argmax(b), argmax(a), `${what}: image ${i} predicted class`);
  }
  assert.ok(worst <= 1e-4, `${what}: logits differ by ${worst} of their scale`);
  return worst;
}

/**
 * Runs a model in onnxruntime at its default (full) graph optimisation unless told otherwise.
 * int8 models are checked at 'basic': the extended level rewrites DequantizeLinear + MatMul with
 * 4-bit-range weights into MatMulNBits, which computes with quantized activations (about 1% off).
 */
async function runOnnx(file: string | Uint8Array, raw: Float32Array, shape: number[], graphOptimizationLevel: 'basic' | 'all' = 'all'): Promise<Float32Array> {
  const options = { graphOptimizationLevel };
  const session = typeof file === 'string' ? await ort.InferenceSession.create(file, options) : await ort.InferenceSession.create(file, options);
  const out = await session.run({ [ONNX_INPUT_NAME]: new ort.Tensor('float32', raw, shape) });
  await session.release();
  return out[ONNX_OUTPUT_NAME]!.data as Float32Array;
}

interface Case {
  model: 'mlp' | 'lenet5' | 'resnet20';
  quantizer: 'none' | 'dorefa' | 'bwn' | 'ternary';
  bits?: number;
  perChannel?: boolean;
  keepFirstLastFp?: boolean;
  estimator: 'ste' | 'metaquant';
}

const CASES: Case[] = [
  { model: 'mlp', quantizer: 'none', estimator: 'ste' },
  { model: 'mlp', quantizer: 'dorefa', bits: 1, estimator: 'metaquant' },
  { model: 'mlp', quantizer: 'dorefa', bits: 4, keepFirstLastFp: true, estimator: 'ste' },
  { model: 'mlp', quantizer: 'ternary', estimator: 'ste' },
  { model: 'lenet5', quantizer: 'none', estimator: 'ste' },
  { model: 'lenet5', quantizer: 'dorefa', bits: 1, estimator: 'ste' },
  { model: 'lenet5', quantizer: 'bwn', perChannel: true, estimator: 'metaquant' },
  { model: 'lenet5', quantizer: 'ternary', estimator: 'metaquant' },
  { model: 'resnet20', quantizer: 'dorefa', bits: 1, estimator: 'metaquant' },
  { model: 'resnet20', quantizer: 'bwn', estimator: 'ste' },
];

const label = (c: Case) =>
  `${c.model} ${c.quantizer}${c.bits ? ` ${c.bits}-bit` : ''}${c.perChannel ? ' per-channel' : ''}${c.keepFirstLastFp ? ' fp-first-last' : ''} (${c.estimator})`;

test('exported ONNX models give the library\'s predictions in onnxruntime (mlp, lenet5, resnet20; float, dorefa, bwn, ternary; STE and MetaQuant)', async () => {
  await useBackend('wasm');
  for (const c of CASES) {
    // 8×8 images keep the conv nets small; resnet20 gets 3 channels like CIFAR.
    const dataset = c.model === 'resnet20' ? 'synthetic:8x8x3:4:64:24' : 'synthetic:8x8x1:4:64:24';
    const out = join(tmp(), 'run');
    const { model: _m, estimator, ...rest } = c;
    const trainer = await Trainer.create({
      dataset, model: c.model, ...rest, estimator, meta: 'fcgrad', metaHidden: 8, hidden: c.model === 'mlp' ? [16, 12] : undefined,
      epochs: 1, batchSize: 16, lr: 0.01, backend: 'wasm', out,
    });
    await trainer.run();
    trainer.dispose();

    const file = join(out, 'model.onnx');
    const written = await exportOnnx(out, file);
    assert.equal(written.bytes, readFileSync(file).length);
    assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left behind');

    const { model, payload } = loadModel(out);
    const ds = await loadDataset({ dataset, trainLimit: payload.config.trainLimit });
    const shape = [ds.test.count, ds.height, ds.width, ds.channels];
    const batch = makeBatch(ds, 'test', Int32Array.from({ length: ds.test.count }, (_, i) => i));
    const ours = tf.tidy(() => model.predict(tf.tensor4d(batch.images, shape as [number, number, number, number])).dataSync() as Float32Array);
    // The ONNX model takes raw pixel values; the data set holds them divided by 255.
    const raw = Float32Array.from(ds.test.images, (v) => v * 255);
    const theirs = await runOnnx(file, raw, shape);
    assertSamePredictions(ours, theirs, ds.numClasses, label(c));

    // The weights in the file are the quantized ones, scales folded in.
    const proto = onnx.ModelProto.decode(readFileSync(file));
    for (const n of proto.graph!.node!) assert.ok(STANDARD_OPS.has(n.opType!) && !n.domain, `${label(c)}: operator ${n.opType}`);
    for (const name of model.quantizedKernels) {
      const init = proto.graph!.initializer!.find((t) => t.name === name)!;
      const raw = init.rawData!;
      const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      const distinct = new Set(values).size;
      const levels = c.quantizer === 'dorefa' ? 2 ** c.bits! : c.quantizer === 'bwn' || c.quantizer === 'ternary' ? (c.perChannel ? 3 * model.params.info(name).shape.at(-1)! : 3) : Infinity;
      assert.ok(distinct <= levels, `${label(c)}: ${name} holds ${distinct} distinct values, at most ${levels} expected`);
    }
    const floatKernels = model.params.names((p) => p.role === 'kernel').filter((k) => !model.isQuantized(k));
    assert.equal(floatKernels.length, c.quantizer === 'none' ? model.params.names((p) => p.role === 'kernel').length : c.keepFirstLastFp ? 2 : 0);

    // int8 weights + DequantizeLinear: same predictions, one dequantization per quantized kernel.
    const int8 = buildOnnxModel(model, await checkpointNormalization(payload, out), { weights: 'int8' });
    assertSamePredictions(ours, await runOnnx(int8, raw, shape, 'basic'), ds.numClasses, `${label(c)} int8`);
    const int8Proto = onnx.ModelProto.decode(int8);
    assert.equal(int8Proto.graph!.node!.filter((n) => n.opType === 'DequantizeLinear').length, model.quantizedKernels.length, `${label(c)}: DequantizeLinear nodes`);
    if (c.quantizer === 'none') assert.equal(int8.length, written.bytes);
    else {
      // Each quantized weight takes 1 byte instead of 4; each kernel adds a node and names (< 300 B)
      // and a float32 scale + int8 zero point per layer or per output channel.
      const quantizedWeights = model.params.totalCount((p) => model.isQuantized(p.name));
      const scales = model.quantizedKernels.reduce((n, k) => n + (c.perChannel ? model.params.info(k).shape.at(-1)! : 1), 0);
      const bound = written.bytes - 3 * quantizedWeights + 300 * model.quantizedKernels.length + 5 * scales;
      assert.ok(int8.length <= bound, `${label(c)}: int8 file ${int8.length} B, float ${written.bytes} B, expected at most ${bound} B`);
    }
    model.dispose();
  }
});

test('NHWC input of any batch size; the normalisation must match the channels', async () => {
  await useBackend('cpu');
  const model = new QuantizedModel({ arch: 'lenet5', inputShape: [9, 7, 2], numClasses: 3, quantizer: { name: 'dorefa', bits: 2 }, seed: 5 });
  // Non-trivial batch-norm statistics so that their export is exercised too.
  for (const name of model.params.names((p) => p.role === 'bn-mean' || p.role === 'bn-var')) {
    const v = model.params.get(name);
    const values = Float32Array.from({ length: v.size }, (_, i) => (name.endsWith('Variance') ? 50 + 7 * (i % 5) : (i % 7) - 3));
    v.assign(tf.tensor(values, v.shape));
  }
  const normalisation = { mean: [0.2, 0.6], std: [0.3, 0.1] };
  const bytes = buildOnnxModel(model, normalisation);
  // Odd sizes (9×7) exercise TensorFlow's 'same' padding of conv and pooling.
  const n = 3;
  const raw = Float32Array.from({ length: n * 9 * 7 * 2 }, (_, i) => (i * 37) % 256);
  const normalised = raw.map((p, i) => (p / 255 - normalisation.mean[i % 2]!) / normalisation.std[i % 2]!);
  const ours = tf.tidy(() => model.predict(tf.tensor4d(normalised, [n, 9, 7, 2])).dataSync() as Float32Array);
  assertSamePredictions(ours, await runOnnx(bytes, raw, [n, 9, 7, 2]), 3, 'lenet5 9x7x2');
  assert.throws(() => buildOnnxModel(model, { mean: [0.5], std: [0.2] }), UsageError);
  assert.throws(() => buildOnnxModel(model, normalisation, { weights: 'int4' as 'int8' }), /unknown ONNX weight format 'int4'; expected one of: float, int8/);
  model.dispose();
});

test('int8 weights: dorefa 8-bit levels do not fit int8 and stay float; the graph still matches', async () => {
  await useBackend('cpu');
  const normalisation = { mean: [0.5], std: [0.25] };
  const raw = Float32Array.from({ length: 2 * 36 }, (_, i) => (i * 91) % 256);
  const normalised = raw.map((p) => (p / 255 - 0.5) / 0.25);
  for (const [bits, dequantized] of [[8, 0], [7, 2]] as const) {
    const model = new QuantizedModel({ arch: 'mlp', inputShape: [6, 6, 1], numClasses: 4, archOptions: { hidden: [10] }, quantizer: { name: 'dorefa', bits }, seed: 9 });
    const bytes = buildOnnxModel(model, normalisation, { weights: 'int8' });
    assert.equal(onnx.ModelProto.decode(bytes).graph!.node!.filter((n) => n.opType === 'DequantizeLinear').length, dequantized, `${bits}-bit`);
    const ours = tf.tidy(() => model.predict(tf.tensor4d(normalised, [2, 6, 6, 1])).dataSync() as Float32Array);
    assertSamePredictions(ours, await runOnnx(bytes, raw, [2, 6, 6, 1], 'basic'), 4, `dorefa ${bits}-bit int8`);
    model.dispose();
  }
});
