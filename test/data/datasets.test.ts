import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DATASETS, loadDataset } from '../../src/data/index.js';
import { generateSynthetic, parseSyntheticSpec, DEFAULT_SYNTHETIC } from '../../src/data/synthetic.js';
import type { DataSplit, Dataset } from '../../src/data/types.js';
import { InputFileError, UsageError } from '../../src/util/errors.js';
import { makeTempDir, writeIdxFolder } from './fixtures.js';

const temp = makeTempDir('datasets');
after(temp.cleanup);

/** Test accuracy of a nearest-class-mean classifier: a cheap learnability check. */
function nearestCentroidAccuracy(ds: Dataset): number {
  const pixels = ds.height * ds.width * ds.channels;
  const centroids = Array.from({ length: ds.numClasses }, () => new Float64Array(pixels));
  const counts = new Array<number>(ds.numClasses).fill(0);
  for (let n = 0; n < ds.train.count; n++) {
    const k = ds.train.labels[n]!;
    counts[k]!++;
    for (let i = 0; i < pixels; i++) centroids[k]![i]! += ds.train.images[n * pixels + i]!;
  }
  centroids.forEach((c, k) => c.forEach((v, i) => (c[i] = v / counts[k]!)));
  let correct = 0;
  for (let n = 0; n < ds.test.count; n++) {
    let best = -1;
    let bestDistance = Infinity;
    centroids.forEach((c, k) => {
      let d = 0;
      for (let i = 0; i < pixels; i++) d += (ds.test.images[n * pixels + i]! - c[i]!) ** 2;
      if (d < bestDistance) [best, bestDistance] = [k, d];
    });
    if (best === ds.test.labels[n]) correct++;
  }
  return correct / ds.test.count;
}

function inUnitRange(split: DataSplit): boolean {
  return split.images.every((v) => v >= 0 && v <= 1);
}

describe('synthetic data set', () => {
  test('default: 8×8×1, 10 classes, 2000 / 500, deterministic and learnable', async () => {
    const a = await loadDataset({ dataset: 'synthetic' });
    const b = await loadDataset({ dataset: 'synthetic' });
    assert.equal(a.name, 'synthetic');
    assert.deepEqual([a.height, a.width, a.channels, a.numClasses], [8, 8, 1, 10]);
    assert.equal(a.train.count, 2000);
    assert.equal(a.test.count, 500);
    assert.deepEqual(a.train.images, b.train.images);
    assert.deepEqual(a.test.labels, b.test.labels);
    assert.ok(inUnitRange(a.train) && inUnitRange(a.test));
    const accuracy = nearestCentroidAccuracy(a);
    assert.ok(accuracy > 0.9, `nearest-centroid accuracy ${accuracy}`);
  });

  test('spec syntax: shape, classes, counts; test set independent of the train count', () => {
    assert.deepEqual(parseSyntheticSpec('synthetic'), DEFAULT_SYNTHETIC);
    assert.deepEqual(parseSyntheticSpec('synthetic:12x10x3:5:400'), {
      height: 12, width: 10, channels: 3, numClasses: 5, trainCount: 400, testCount: 100,
    });
    assert.equal(parseSyntheticSpec('synthetic:4x4x1:3:30:7').testCount, 7);
    const small = generateSynthetic(parseSyntheticSpec('synthetic:12x10x3:5:100:40'));
    const large = generateSynthetic(parseSyntheticSpec('synthetic:12x10x3:5:300:40'));
    assert.equal(small.name, 'synthetic:12x10x3:5:100:40');
    assert.deepEqual(small.test.images, large.test.images);
    assert.deepEqual(small.train.images, large.train.images.subarray(0, small.train.images.length));
    assert.ok(nearestCentroidAccuracy(large) > 0.9);
    for (const bad of ['synthetic:8x8', 'synthetic:0x8x1', 'synthetic:8x8x1:1', 'synthetic:8x8x1:10:abc', 'synthetic:1:2:3:4:5:6']) {
      assert.throws(() => parseSyntheticSpec(bad), UsageError, bad);
    }
  });
});

describe('loadDataset dispatch', () => {
  test('unknown names list the valid choices', async () => {
    await assert.rejects(loadDataset({ dataset: 'imagenet' }), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      for (const name of DATASETS) assert.ok(err.message.includes(name), err.message);
      return true;
    });
    await assert.rejects(loadDataset({ dataset: 'mnist:extra' }), UsageError);
  });

  test('limits must be positive integers', async () => {
    await assert.rejects(loadDataset({ dataset: 'synthetic', trainLimit: 0 }), UsageError);
    await assert.rejects(loadDataset({ dataset: 'synthetic', testLimit: 2.5 }), UsageError);
    const ds = await loadDataset({ dataset: 'synthetic:4x4x1:3:30', trainLimit: 10, testLimit: 3 });
    assert.equal(ds.train.count, 10);
    assert.equal(ds.test.count, 3);
    assert.deepEqual(Array.from(ds.train.labels), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
  });

  test('idx:DIR, mnist with a data dir, and missing folders', async () => {
    writeIdxFolder(temp.dir, { height: 4, width: 3, train: [2, 0, 1], test: [0, 2], gzip: true });
    const viaIdx = await loadDataset({ dataset: `idx:${temp.dir}` });
    assert.equal(viaIdx.name, `idx:${temp.dir}`);
    assert.deepEqual([viaIdx.height, viaIdx.width, viaIdx.numClasses, viaIdx.train.count], [4, 3, 3, 3]);
    const viaMnist = await loadDataset({ dataset: 'mnist', dataDir: temp.dir, trainLimit: 2 });
    assert.equal(viaMnist.name, 'mnist');
    assert.equal(viaMnist.train.count, 2);
    await assert.rejects(loadDataset({ dataset: 'idx:' }), UsageError);
    await assert.rejects(loadDataset({ dataset: 'fashion-mnist', dataDir: `${temp.dir}/absent` }), InputFileError);
    await assert.rejects(loadDataset({ dataset: 'cifar100' }), /needs --data-dir/);
  });
});
