// A new architecture needs no export code: one registered here, in the test, and written only as
// its forward pass, is trained, then exported to tfjs (loaded by stock TensorFlow.js in a separate
// Node process), ONNX (float and int8, run in onnxruntime) and the packed format, and every export
// predicts the library's logits. Its layers use options the built-ins never do (see the helper).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/run/checkpoint-payload.js';
import { exportTfjs } from '../../src/export/tfjs.js';
import { buildOnnxModel, exportOnnx, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from '../../src/export/onnx.js';
import { exportPacked, loadPackedModelFile } from '../../src/export/packed.js';
import { checkpointNormalization } from '../../src/export/deploy.js';
import { summarizeCheckpoint } from '../../src/export/summary.js';
import type { TrainConfigInput } from '../../src/config/schema.js';
import { registerTestArchitecture } from '../helpers/test-architecture.js';
import { argmax, maxAbsDiff, ourPredictions, tempDir, trainTiny, useBackend, type TestImages } from './trained.js';

const LOADER = fileURLToPath(new URL('../../../test/export/load-tfjs-model.mjs', import.meta.url));
const model = registerTestArchitecture();
const DATA = { dataset: 'synthetic:13x11x2:5:64:16', model, batchSize: 16 };

const CASES: Array<{ label: string; config: TrainConfigInput }> = [
  { label: 'bwn per channel, STE', config: { ...DATA, quantizer: 'bwn', perChannel: true } },
  { label: 'dorefa 2-bit, first/last float, MetaQuant', config: { ...DATA, quantizer: 'dorefa', bits: 2, keepFirstLastFp: true, method: 'metaquant', meta: 'fcgrad', metaHidden: 8, optimizer: 'sgd' } },
];

interface Exported {
  run: string;
  ours: TestImages;
  tfjs: number[][];
  onnx: string;
  packed: string;
}
const exported: Exported[] = [];

before(async () => {
  const work = tempDir('mq-new-arch-');
  const jobs: Array<{ dir: string; input: string; output: string }> = [];
  for (const [i, c] of CASES.entries()) {
    const run = await trainTiny(c.config);
    const dir = join(work, `tfjs${i}`);
    await exportTfjs(run, dir);
    const onnx = join(work, `model${i}.onnx`);
    await exportOnnx(run, onnx);
    const packed = join(work, `model${i}.mqp`);
    await exportPacked(run, packed);
    const ours = await ourPredictions(run);
    const input = join(work, `input${i}.json`);
    writeFileSync(input, JSON.stringify({ shape: ours.shape, pixels: Array.from(ours.pixels) }));
    jobs.push({ dir, input, output: join(work, `logits${i}.json`) });
    exported.push({ run, ours, tfjs: [], onnx, packed });
  }
  writeFileSync(join(work, 'jobs.json'), JSON.stringify(jobs));
  const r = spawnSync(process.execPath, [LOADER, join(work, 'jobs.json')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  exported.forEach((e, i) => (e.tfjs = JSON.parse(readFileSync(jobs[i]!.output, 'utf8')).logits));
  await useBackend('cpu');
});

/** Same argmax per image, and logits within 1e-4 of the image's logit scale max(1, max|z|) (the ONNX test's bound). */
function assertSameLogits(ours: number[][], theirs: ArrayLike<number>, what: string): void {
  const classes = ours[0]!.length;
  assert.equal(theirs.length, ours.length * classes, `${what}: output size`);
  ours.forEach((row, i) => {
    const other = Array.from({ length: classes }, (_, j) => theirs[i * classes + j]!);
    assert.equal(argmax(other), argmax(row), `${what}: image ${i} predicted class`);
    const scale = Math.max(1, ...row.map(Math.abs));
    row.forEach((z, j) => assert.ok(Math.abs(z - other[j]!) <= 1e-4 * scale, `${what}: image ${i} logit ${j}: ${other[j]} vs ours ${z}`));
  });
}

async function runOnnx(file: string | Uint8Array, images: TestImages, graphOptimizationLevel: 'basic' | 'all'): Promise<Float32Array> {
  const session = typeof file === 'string' ? await ort.InferenceSession.create(file, { graphOptimizationLevel }) : await ort.InferenceSession.create(file, { graphOptimizationLevel });
  const out = await session.run({ [ONNX_INPUT_NAME]: new ort.Tensor('float32', images.pixels, images.shape) });
  await session.release();
  return out[ONNX_OUTPUT_NAME]!.data as Float32Array;
}

CASES.forEach((c, i) => {
  test(`a test-only architecture exports to tfjs and predicts as we do in stock TensorFlow.js: ${c.label}`, () => {
    const e = exported[i]!;
    e.tfjs.forEach((row, n) => assert.equal(argmax(row), argmax(e.ours.logits[n]!), `argmax of image ${n}`));
    const diff = maxAbsDiff(e.tfjs, e.ours.logits);
    assert.ok(diff <= 1e-4, `tfjs logits differ by ${diff}`);
  });

  test(`a test-only architecture exports to ONNX (float and int8) and the packed format: ${c.label}`, async () => {
    const e = exported[i]!;
    assertSameLogits(e.ours.logits, await runOnnx(e.onnx, e.ours, 'all'), 'ONNX');
    const { model, payload } = loadModel(e.run);
    const int8 = buildOnnxModel(model, await checkpointNormalization(payload, e.run), { weights: 'int8' });
    model.dispose();
    assertSameLogits(e.ours.logits, await runOnnx(int8, e.ours, 'basic'), 'ONNX int8');
    const packed = loadPackedModelFile(e.packed);
    const logits = tf.tidy(() => (packed.predict(tf.tensor4d(e.ours.pixels, e.ours.shape)) as tf.Tensor).dataSync());
    packed.dispose();
    assertSameLogits(e.ours.logits, logits, 'packed');
  });
});

test('the summary of a test-only architecture is generated from the same trace', () => {
  const s = summarizeCheckpoint(exported[0]!.run);
  const { model } = loadModel(exported[0]!.run);
  // 13×11 through a 3×3/2 'valid' conv: 6×5; a 3×3/2 'valid' pool: 2×2.
  assert.deepEqual(s.layers.map((l) => [l.name, l.outputShape]), [
    ['stem/conv', [6, 5, 6]], ['res/conv', [6, 5, 6]], ['res/bn', [6, 5, 6]], ['add1', [6, 5, 6]],
    ['pool1', [2, 2, 6]], ['flatten1', [24]], ['head/flat', [8]], ['avgpool1', [6]], ['head/pooled', [8]], ['add2', [8]], ['head/bn', [8]], ['logits', [5]],
  ]);
  assert.equal(s.totals.macs, 6 * 5 * 6 * (3 * 3 * 2) + 6 * 5 * 6 * (3 * 3 * 6) + 24 * 8 + 6 * 8 + 8 * 5);
  const stored = s.layers.reduce((n, l) => n + Object.values(l.weightsByBits).reduce((a, b) => a + b, 0), 0);
  assert.equal(stored, model.params.totalCount());
  model.dispose();
});
