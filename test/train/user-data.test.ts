// The library on the caller's own data: Trainer.create({ data }) with tensors (NHWC, [N, H, W],
// flat) or tf.data datasets, the shape checks, TrainerInput's key checks, and predictImages
// (raw images in, the stored normalisation applied) against a normalisation computed here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { Trainer, type TrainerInput } from '../../src/train/trainer.js';
import { loadModel } from '../../src/run/checkpoint-payload.js';
import { datasetFromUserData, type UserData } from '../../src/data/user-data.js';
import { loadDataset } from '../../src/data/index.js';
import { readRunConfig } from '../../src/run/run-config.js';
import { Rng } from '../../src/util/rng.js';

const dir = () => join(mkdtempSync(join(tmpdir(), 'mq-user-data-')), 'run');

/** 3 classes of 6×6 grey images, 0–255: class k is bright in rows 2k and 2k+1, plus noise. */
function bands(count: number, seed: number): { pixels: Float32Array; labels: Int32Array } {
  const rng = new Rng(`bands:${seed}`);
  const pixels = new Float32Array(count * 36);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const k = i % 3;
    labels[i] = k;
    for (let p = 0; p < 36; p++) {
      const row = Math.floor(p / 6);
      const base = row === 2 * k || row === 2 * k + 1 ? 200 : 40;
      pixels[i * 36 + p] = Math.min(255, Math.max(0, Math.round(base + 30 * rng.normal())));
    }
  }
  return { pixels, labels };
}

const train = bands(240, 1);
const testSet = bands(60, 2);
const nhwc = (d: { pixels: Float32Array }, n: number, scale = 1) => tf.tensor4d(d.pixels.map((v) => v / scale), [n, 6, 6, 1]);
const TENSORS = (): UserData => ({
  xTrain: nhwc(train, 240),
  yTrain: tf.tensor1d(train.labels, 'int32'),
  xTest: nhwc(testSet, 60),
  yTest: tf.tensor1d(testSet.labels, 'int32'),
  scale: 255,
});
const COMMON = { model: 'mlp', hidden: [16], quantizer: 'dorefa', bits: 1, method: 'ste', optimizer: 'adam', lr: 0.01, epochs: 3, batchSize: 32, backend: 'cpu', seed: 1 } as const;

test('tensors in every accepted layout and tf.data datasets give the same data set', async () => {
  await useBackend('cpu');
  const reference = await datasetFromUserData(TENSORS());
  assert.equal(reference.name, 'user-data');
  assert.deepEqual([reference.height, reference.width, reference.channels, reference.numClasses], [6, 6, 1, 3]);
  assert.equal(reference.train.count, 240);
  assert.equal(reference.train.images[0], Math.fround(train.pixels[0]! / 255), 'stored in [0, 1]');
  // The normalisation: per-channel mean and std of the training images in [0, 1] units.
  const scaled = Array.from(train.pixels, (v) => v / 255);
  const mean = scaled.reduce((a, b) => a + b, 0) / scaled.length;
  const std = Math.sqrt(scaled.reduce((a, b) => a + (b - mean) ** 2, 0) / scaled.length);
  assert.ok(Math.abs(reference.mean[0]! - mean) < 1e-6 && Math.abs(reference.std[0]! - std) < 1e-6);

  const same = async (data: UserData, what: string) => {
    const ds = await datasetFromUserData(data);
    assert.deepEqual([ds.height, ds.width, ds.channels, ds.numClasses], [6, 6, 1, 3], what);
    assert.deepEqual(ds.train.images, reference.train.images, what);
    assert.deepEqual(ds.test.labels, reference.test.labels, what);
  };
  await same({ ...TENSORS(), xTrain: tf.tensor3d(train.pixels, [240, 6, 6]), xTest: tf.tensor3d(testSet.pixels, [60, 6, 6]) }, '[N, H, W]');
  await same({ ...TENSORS(), xTrain: tf.tensor2d(train.pixels, [240, 36]), xTest: tf.tensor2d(testSet.pixels, [60, 36]), imageShape: [6, 6, 1] }, 'flat with imageShape');
  await same({ ...TENSORS(), xTrain: nhwc(train, 240, 255), xTest: nhwc(testSet, 60, 255), scale: 1 }, '[0, 1] pixels');
  await same({ ...TENSORS(), yTrain: tf.tensor1d(train.labels, 'float32') }, 'float labels');
  const t = TENSORS() as { xTrain: Tensor; yTrain: Tensor; xTest: Tensor; yTest: Tensor };
  const zip = (x: Tensor, y: Tensor) => tf.data.zip({ xs: tf.data.array(tf.unstack(x)), ys: tf.data.array(tf.unstack(y)) });
  await same({ train: zip(t.xTrain, t.yTrain), test: zip(t.xTest, t.yTest), scale: 255 }, 'tf.data, one example per element');
  await same({ train: zip(t.xTrain, t.yTrain).batch(32), test: zip(t.xTest, t.yTest).batch(7), scale: 255 }, 'tf.data, batches');
  const flat = await datasetFromUserData({ ...TENSORS(), xTrain: tf.tensor2d(train.pixels, [240, 36]), xTest: tf.tensor2d(testSet.pixels, [60, 36]) });
  assert.deepEqual([flat.height, flat.width, flat.channels], [1, 36, 1], 'flat without imageShape: one row of D values');
});

test('bad data: each error names the tensor and what was expected', async () => {
  await useBackend('cpu');
  const bad = async (edit: Partial<Record<string, unknown>>, pattern: RegExp) => {
    await assert.rejects(datasetFromUserData({ ...TENSORS(), ...edit } as UserData), pattern);
  };
  await bad({ yTrain: tf.oneHot(tf.tensor1d(train.labels, 'int32'), 3) }, /data\.yTrain: expected class indices \[N\]; got shape \[240, 3\], which looks one-hot \(use tf\.argMax\(yTrain, 1\)\)/);
  await bad({ yTrain: tf.tensor1d(train.labels.slice(0, 200), 'int32') }, /data\.yTrain: 200 labels for 240 images in data\.xTrain/);
  await bad({ scale: 1 }, /data\.xTrain: value \d+ at index \d+ is outside \[0, 1\] \(0–255 pixels\? pass scale: 255\)/);
  await bad({ xTrain: tf.zeros([240]) }, /data\.xTrain: expected images \[N, H, W, C\], \[N, H, W\] or \[N, D\]; got shape \[240\]/);
  await bad({ xTest: tf.zeros([60, 5, 5, 1]) }, /data\.xTest: images of 5×5×1 do not match data\.xTrain's 6×6×1/);
  await bad({ xTrain: Array.from(train.pixels) }, /data\.xTrain: expected a tf\.Tensor of images .*; got an array \(wrap it: tf\.tensor\(\.\.\.\)\)/);
  await bad({ yTest: tf.tensor1d(Array(60).fill(1.5)) }, /data\.yTest\[0\] is 1\.5: labels are class indices/);
  await bad({ numClasses: 2 }, /a label is 2, but numClasses is 2/);
  await bad({ imageShape: [5, 5, 1] }, /data\.imageShape: 5×5×1 = 25 values per image, but data\.xTrain has 36/);
  await bad({ scale: 100 }, /data\.scale: expected 1 .* or 255/);
  await assert.rejects(datasetFromUserData({ train: [1, 2], test: tf.data.array([]) } as unknown as UserData), /data\.train: expected a tf\.data\.Dataset of \{xs, ys\} elements/);
  await assert.rejects(Trainer.create({ ...COMMON, dataset: 'mnist', data: TENSORS() }), /give either data .* or dataset 'mnist', not both/);
  await assert.rejects(loadDataset({ dataset: 'user-data' }), /trained on data passed to Trainer\.create\(\{ data \}\)/);
});

test('TrainerInput: TypeScript and the run-time check both reject unknown keys, with a suggestion', async () => {
  // @ts-expect-error 'bitz' is not a field (did you mean 'bits'?)
  const typo: TrainerInput = { bitz: 2 };
  await assert.rejects(Trainer.create(typo), /bitz: unknown key \(did you mean 'bits'\?\)/);
  // @ts-expect-error Python's spelling: the field is batchSize
  await assert.rejects(Trainer.create({ ...COMMON, data: TENSORS(), batch_size: 32 }), /batch_size: unknown key \(did you mean 'batchSize'\?\)/);
  const ok: TrainerInput = { ...COMMON, hidden: [16] as const, estimator: 'ste' }; // readonly lists and the older names type-check
  assert.equal(ok.estimator, 'ste');
});

test('trains on your own tensors; predictImages on raw pixels = predict on normalised images', async () => {
  const trainer = await Trainer.create({ ...COMMON, data: TENSORS(), out: dir() });
  const result = await trainer.run();
  assert.ok(result.testAccuracy > 0.9, `test accuracy ${result.testAccuracy}`);
  assert.equal(readRunConfig(trainer.out).dataset, 'user-data');
  const { mean, std } = trainer.dataset;
  const raw = nhwc(testSet, 60);
  const ours = trainer.model.predictImages(raw, { scale: 255 });
  const expected = trainer.model.predict(tf.div(tf.sub(tf.div(raw, 255), mean[0]!), std[0]!));
  assert.ok(tf.max(tf.abs(tf.sub(ours, expected))).dataSync()[0]! < 1e-5);
  const fromUnit = trainer.model.predictImages(tf.div(raw, 255), { scale: 1 });
  assert.ok(tf.max(tf.abs(tf.sub(fromUnit, expected))).dataSync()[0]! < 1e-5, 'scale 1 on [0, 1] images');
  const flat = trainer.model.predictImages(tf.reshape(raw, [60, 36]), { scale: 255 });
  assert.ok(tf.max(tf.abs(tf.sub(flat, expected))).dataSync()[0]! < 1e-6, 'flat images');
  // The checkpoint keeps the normalisation: loadModel's model predicts the same.
  const { model } = loadModel(trainer.out);
  assert.ok(tf.max(tf.abs(tf.sub(model.predictImages(raw, { scale: 255 }), expected))).dataSync()[0]! < 1e-5);
  assert.throws(() => model.predictImages(raw, { scale: 3 as 255 }), /options\.scale must be 255 \(pixels 0–255\) or 1/);
  assert.throws(() => model.predictImages(tf.zeros([2, 5, 5, 1]), { scale: 255 }), /expected images \[N, 6, 6, 1\]/);
  model.dispose();
  // Resuming a run on your own data takes the data again.
  await assert.rejects(Trainer.resume(trainer.out, { epochs: 4 }), /Trainer\.resume\(dir, \{\}, data\)/);
  const resumed = await Trainer.resume(trainer.out, { epochs: 4 }, TENSORS());
  assert.equal((await resumed.run()).epochs, 4);
  resumed.dispose();
  trainer.dispose();
});

test('predictImages on raw MNIST pixels: the accuracy predict gives on normalised images', async () => {
  const trainer = await Trainer.create({ ...COMMON, dataset: 'mnist', hidden: [32], trainLimit: 2000, testLimit: 500, epochs: 1, out: dir() });
  const result = await trainer.run();
  const ds = trainer.dataset;
  const pixels = tf.tensor4d(ds.test.images.map((v) => Math.round(v * 255)), [ds.test.count, 28, 28, 1]);
  const labels = tf.tensor1d(ds.test.labels, 'int32');
  const accuracy = (logits: Tensor) => tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32')).dataSync()[0]!;
  const viaImages = accuracy(trainer.model.predictImages(pixels, { scale: 255 }));
  assert.ok(Math.abs(viaImages - result.testAccuracy) < 0.01, `predictImages ${viaImages} vs the run's ${result.testAccuracy}`);
  assert.ok(viaImages > 0.7, `accuracy ${viaImages}`);
  // The mistake this method prevents: predict on raw pixels.
  assert.ok(accuracy(trainer.model.predict(pixels)) < viaImages - 0.2);
  trainer.dispose();
});

test("the README's own-data example runs", async () => {
  const readme = readFileSync('README.md', 'utf8');
  const marker = readme.indexOf('<!-- own-data example: test/train/user-data.test.ts runs it -->');
  assert.ok(marker >= 0, 'README marks the example');
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(marker))![1]!;
  const out = mkdtempSync(join(tmpdir(), 'mq-readme-'));
  const code = block.replaceAll("from 'metaquant'", `from '${pathToFileURL(resolve('dist/src/index.js')).href}'`).replaceAll("'runs/", `'${out}/`);
  const file = join(out, 'example.mjs');
  writeFileSync(file, code.replace(/console\.log\(([^;]*)\);/g, 'globalThis.__readmeResult = $1;'));
  await import(pathToFileURL(file).href);
  const accuracy = (globalThis as { __readmeResult?: unknown }).__readmeResult;
  assert.equal(typeof accuracy, 'number');
  assert.ok((accuracy as number) > 0.7, `the example's test accuracy ${accuracy}`);
});
