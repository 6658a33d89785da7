// `--format tfjs` end to end: tiny trained checkpoints → LayersModel folders → loaded by stock
// @tensorflow/tfjs in a separate Node process (test/export/load-tfjs-model.mjs) → same predictions.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../../src/engine/tf.js';
import { loadModel, type CheckpointPayload } from '../../src/run/checkpoint-payload.js';
import { readCheckpoint, writeCheckpoint } from '../../src/run/checkpoint.js';
import { loadDeployment } from '../../src/export/deploy.js';
import { InputFileError } from '../../src/util/errors.js';
import { exportTfjs } from '../../src/export/tfjs.js';
import { exportPacked, loadPackedModelFile } from '../../src/export/packed.js';
import { kerasName } from '../../src/export/layers-model.js';
import type { TrainConfigInput } from '../../src/config/schema.js';
import { argmax, maxAbsDiff, ourPredictions, tempDir, trainTiny, useBackend, type TestImages } from './trained.js';

const LOADER = fileURLToPath(new URL('../../../test/export/load-tfjs-model.mjs', import.meta.url));
const MAIN = resolve('dist/src/cli/main.js');
const SYN8 = { dataset: 'synthetic:8x8x1:4:128:32', model: 'mlp', hidden: [16] };

const CASES: Array<{ label: string; config: TrainConfigInput }> = [
  { label: 'mlp, dorefa 1-bit, STE', config: { ...SYN8, quantizer: 'dorefa', bits: 1 } },
  { label: 'mlp, BWN per channel, MetaQuant', config: { ...SYN8, quantizer: 'bwn', perChannel: true, method: 'metaquant', meta: 'fcgrad', metaHidden: 8, optimizer: 'sgd' } },
  { label: 'mlp, float, bundled MNIST', config: { dataset: 'mnist', trainLimit: 256, testLimit: 64, model: 'mlp', hidden: [32], quantizer: 'none' } },
  { label: 'lenet5, ternary per channel, STE', config: { dataset: 'synthetic:12x12x1:10:64:32', model: 'lenet5', quantizer: 'ternary', perChannel: true, batchSize: 8 } },
  { label: 'lenet5, dorefa 1-bit, MetaQuant', config: { dataset: 'synthetic:12x12x1:10:64:32', model: 'lenet5', quantizer: 'dorefa', bits: 1, method: 'metaquant', meta: 'fcgrad', metaHidden: 8, optimizer: 'sgd', lr: 0.001, batchSize: 8 } },
  { label: 'resnet20, dorefa 2-bit, first/last float', config: { dataset: 'synthetic:8x8x3:10:96:16', model: 'resnet20', quantizer: 'dorefa', bits: 2, keepFirstLastFp: true, epochs: 2, batchSize: 16 } },
];

interface Prepared {
  run: string;
  dir: string;
  packed: string;
  ours: TestImages;
  stock?: { inputShape: Array<number | null>; logits: number[][] };
}
const prepared: Prepared[] = [];

before(async () => {
  for (const c of CASES) prepared.push({ run: await trainTiny(c.config), dir: '', packed: '', ours: undefined as unknown as TestImages });
  await useBackend('cpu');
  const work = tempDir('mq-tfjs-');
  const jobs: Array<{ dir: string; input: string; output: string }> = [];
  for (const [i, p] of prepared.entries()) {
    p.dir = join(work, `model${i}`);
    p.packed = join(work, `model${i}.mqp`);
    if (i === 0) {
      // One case goes through the command line, the rest through the library.
      const r = spawnSync(process.execPath, [MAIN, 'export', '--checkpoint', p.run, '--format', 'tfjs', '--out', p.dir, '--backend', 'cpu', '--json'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const last = JSON.parse(r.stdout.trim().split('\n').pop()!);
      assert.equal(last.format, 'tfjs');
      assert.ok(last.bytes > 0);
    } else {
      await exportTfjs(p.run, p.dir);
    }
    await exportPacked(p.run, p.packed);
    p.ours = await ourPredictions(p.run);
    const input = join(work, `input${i}.json`);
    writeFileSync(input, JSON.stringify({ shape: p.ours.shape, pixels: Array.from(p.ours.pixels) }));
    jobs.push({ dir: p.dir, input, output: join(work, `logits${i}.json`) });
  }
  writeFileSync(join(work, 'jobs.json'), JSON.stringify(jobs));
  const r = spawnSync(process.execPath, [LOADER, join(work, 'jobs.json')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  prepared.forEach((p, i) => (p.stock = JSON.parse(readFileSync(jobs[i]!.output, 'utf8'))));
});

CASES.forEach((c, i) => {
  test(`tfjs export loads in stock TensorFlow.js and predicts as we do: ${c.label}`, () => {
    const p = prepared[i]!;
    const stock = p.stock!;
    assert.deepEqual(stock.inputShape, [null, ...p.ours.shape.slice(1)], 'model.json declares the raw image shape');
    assert.equal(stock.logits.length, p.ours.logits.length);
    stock.logits.forEach((row, n) => assert.equal(argmax(row), argmax(p.ours.logits[n]!), `argmax of image ${n}`));
    const diff = maxAbsDiff(stock.logits, p.ours.logits);
    const scale = Math.max(...p.ours.logits.flat().map(Math.abs));
    assert.ok(diff <= 1e-4, `logits differ by ${diff} (largest |logit| ${scale})`);
  });

  test(`packed round trip predicts exactly as the tfjs export: ${c.label}`, () => {
    const p = prepared[i]!;
    const model = loadPackedModelFile(p.packed);
    const logits = tf.tidy(() => (model.predict(tf.tensor4d(p.ours.pixels, p.ours.shape)) as tf.Tensor).arraySync() as number[][]);
    model.dispose();
    assert.deepEqual(logits, p.stock!.logits);
  });
});

test('the shards hold Ŵ = Q(A(W)) for quantized kernels and the trained values for everything else', () => {
  for (const p of prepared) {
    const json = JSON.parse(readFileSync(join(p.dir, 'model.json'), 'utf8'));
    assert.equal(json.format, 'layers-model');
    const [group] = json.weightsManifest;
    assert.deepEqual(readdirSync(p.dir).sort(), ['model.json', ...group.paths].sort());
    const bytes = Buffer.concat(group.paths.map((f: string) => readFileSync(join(p.dir, f))));
    const stored = new Map<string, Float32Array>();
    let at = 0;
    for (const spec of group.weights as Array<{ name: string; shape: number[] }>) {
      const n = spec.shape.reduce((a, b) => a * b, 1);
      stored.set(spec.name, new Float32Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + 4 * n)));
      at += 4 * n;
    }
    assert.equal(at, bytes.length);
    const { model } = loadModel(p.run);
    const keras = (name: string) => {
      const [layer, param] = [name.slice(0, name.lastIndexOf('/')), name.slice(name.lastIndexOf('/') + 1)];
      return `${kerasName(layer)}/${{ movingMean: 'moving_mean', movingVariance: 'moving_variance' }[param] ?? param}`;
    };
    for (const info of model.params.infos) {
      const v = model.params.get(info.name);
      const expected = model.isQuantized(info.name) ? tf.tidy(() => model.quantizer!.quantize(v).dataSync()) : v.dataSync();
      assert.deepEqual(stored.get(keras(info.name)), Float32Array.from(expected), info.name);
    }
    if (model.config.keepFirstLastFp) assert.ok(!model.isQuantized('stem/conv/kernel') && !model.isQuantized('fc/kernel'));
    model.dispose();
  }
});

test('export on the command line: packed and ONNX files, and clear errors with exit code 2', async () => {
  const p = prepared[0]!;
  const cli = (args: string[]) => spawnSync(process.execPath, [MAIN, 'export', ...args], { encoding: 'utf8' });
  const out = join(tempDir('mq-cli-export-'), 'm.mqp');
  const ok = cli(['--checkpoint', p.run, '--format', 'packed', '--out', out]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /wrote packed file .*m\.mqp \(\d+(\.\d)? (B|KiB)\)/);
  // --format onnx writes a file that onnxruntime opens with the declared raw-pixel input.
  const onnxFile = join(tempDir('mq-cli-onnx-'), 'm.onnx');
  const onnx = cli(['--checkpoint', p.run, '--format', 'onnx', '--out', onnxFile]);
  assert.equal(onnx.status, 0, onnx.stderr);
  const session = await ort.InferenceSession.create(onnxFile);
  assert.deepEqual(session.inputNames, ['pixels']);
  const format = cli(['--checkpoint', p.run, '--format', 'tflite', '--out', out]);
  assert.equal(format.status, 2);
  assert.match(format.stderr, /'tflite' is invalid\. Allowed choices are tfjs, onnx, packed/);
  const missing = cli(['--checkpoint', join(p.dir, 'nope'), '--format', 'tfjs', '--out', p.dir]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /nope.*no checkpoint here/);
  const folder = cli(['--checkpoint', p.run, '--format', 'packed', '--out', p.dir]);
  assert.equal(folder.status, 2);
  assert.match(folder.stderr, /is a folder; --format packed writes one file/);
});

test('checkpoints without stored normalisation get it recomputed from their data set, or a clear error', async () => {
  const p = prepared[2]!; // bundled MNIST
  const payload = readCheckpoint(p.run) as CheckpointPayload;
  const stored = payload.normalization!;
  assert.equal(stored.mean.length, 1);
  const old = join(tempDir('mq-old-ckpt-'), 'run');
  writeCheckpoint(old, { ...payload, normalization: undefined });
  assert.deepEqual((await loadDeployment(old)).normalization, stored);
  writeCheckpoint(old, { ...payload, normalization: undefined, config: { ...payload.config, dataset: 'cifar10', dataDir: undefined } });
  await assert.rejects(loadDeployment(old), (err: unknown) => err instanceof InputFileError && /holds no input normalisation .* 'cifar10' could not be loaded/.test(err.message));
});
