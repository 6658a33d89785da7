import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AUGMENT_PADDING,
  batchCount,
  batchesForEpoch,
  channelStats,
  createDataset,
  epochOrder,
  makeBatch,
} from '../../src/data/pipeline.js';
import { generateSynthetic, parseSyntheticSpec } from '../../src/data/synthetic.js';
import type { Dataset } from '../../src/data/types.js';
import { Rng } from '../../src/util/rng.js';

/** A data set of `count` H×W×C images whose label is the example index. */
function tinyDataset(count: number, height: number, width: number, channels: number): Dataset {
  const pixels = height * width * channels;
  const images = new Float32Array(count * pixels);
  for (let i = 0; i < images.length; i++) images[i] = ((i * 37) % 101) / 100;
  const labels = Int32Array.from({ length: count }, (_, i) => i);
  return createDataset({
    name: 'tiny',
    height,
    width,
    channels,
    numClasses: count,
    train: { images, labels, count },
    test: { images: images.slice(0, pixels), labels: labels.slice(0, 1), count: 1 },
    augmentByDefault: false,
  });
}

/** Reference augmentation: explicit zero-padded canvas, crop, then mirror. */
function referenceAugment(ds: Dataset, index: number, shiftY: number, shiftX: number, flip: boolean): number[] {
  const { height: h, width: w, channels: ch } = ds;
  const p = AUGMENT_PADDING;
  const canvasW = w + 2 * p;
  const canvas = new Array<number>((h + 2 * p) * canvasW * ch).fill(0);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < ch; c++) canvas[((y + p) * canvasW + x + p) * ch + c] = ds.train.images[((index * h + y) * w + x) * ch + c]!;
  const out: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const cropX = flip ? w - 1 - x : x;
      for (let c = 0; c < ch; c++) {
        const raw = canvas[((y + p + shiftY) * canvasW + cropX + p + shiftX) * ch + c]!;
        out.push((raw - ds.mean[c]!) / ds.std[c]!);
      }
    }
  }
  return out;
}

describe('normalisation', () => {
  test('per-channel stats match a direct computation', () => {
    const images = Float32Array.from([0, 1, 0.5, 1, 0, 0.5, 0.5, 0.5, 0.5, 1, 1, 0.5]);
    const { mean, std } = channelStats(images, 3);
    assert.deepEqual(mean.map((m) => +m.toFixed(6)), [0.625, 0.625, 0.5]);
    // Channel 2 is constant: std falls back to 1 instead of dividing by zero.
    assert.deepEqual(std.map((s) => +s.toFixed(6)), [+Math.sqrt(0.171875).toFixed(6), +Math.sqrt(0.171875).toFixed(6), 1]);
  });

  test('normalised training batches have mean ≈ 0 and std ≈ 1 per channel', () => {
    const ds = generateSynthetic(parseSyntheticSpec('synthetic:6x5x3:4:300:10'));
    const batch = makeBatch(ds, 'train', Int32Array.from({ length: ds.train.count }, (_, i) => i));
    const { mean, std } = channelStats(batch.images, 3);
    for (let c = 0; c < 3; c++) {
      assert.ok(Math.abs(mean[c]!) < 1e-4, `mean ${mean[c]}`);
      assert.ok(Math.abs(std[c]! - 1) < 1e-4, `std ${std[c]}`);
    }
  });
});

describe('epoch order and batches', () => {
  test('epochOrder is a seeded permutation', () => {
    const a = epochOrder(50, new Rng(7));
    const b = epochOrder(50, new Rng(7));
    const c = epochOrder(50, new Rng(8));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.deepEqual(Array.from(a).sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  });

  test('last partial batch is kept and every example is visited once', () => {
    const ds = tinyDataset(10, 2, 2, 1);
    const batches = [...batchesForEpoch(ds, 'train', { batchSize: 4, shuffle: true, rng: new Rng(1) })];
    assert.deepEqual(batches.map((b) => b.size), [4, 4, 2]);
    assert.equal(batches[2]!.images.length, 2 * 4);
    assert.equal(batchCount(10, 4), 3);
    const seen = batches.flatMap((b) => Array.from(b.labels)).sort((x, y) => x - y);
    assert.deepEqual(seen, Array.from({ length: 10 }, (_, i) => i));
    const ordered = [...batchesForEpoch(ds, 'train', { batchSize: 3 })];
    assert.deepEqual(ordered.map((b) => Array.from(b.labels)), [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
  });

  test('same seed gives the same order and the same augmentation', () => {
    const ds = tinyDataset(20, 6, 6, 3);
    const run = (seed: number) => [...batchesForEpoch(ds, 'train', { batchSize: 8, shuffle: true, augment: true, rng: new Rng(seed) })];
    const a = run(42);
    const b = run(42);
    const c = run(43);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.map((x) => x.images), c.map((x) => x.images));
  });

  test('bad batch sizes and missing rngs are rejected', () => {
    const ds = tinyDataset(4, 2, 2, 1);
    assert.throws(() => [...batchesForEpoch(ds, 'train', { batchSize: 0 })], /positive integer/);
    assert.throws(() => [...batchesForEpoch(ds, 'train', { batchSize: 2, shuffle: true })], /rng/);
    assert.throws(() => makeBatch(ds, 'train', [4]), RangeError);
  });
});

describe('augmentation geometry', () => {
  test('matches an explicit pad-crop-flip on every draw', () => {
    const ds = tinyDataset(3, 5, 4, 2);
    const rng = new Rng('geometry');
    const mirror = new Rng('geometry');
    const seenFlip = new Set<boolean>();
    const seenShift = new Set<number>();
    for (let round = 0; round < 60; round++) {
      const indices = [round % 3, (round + 1) % 3];
      const batch = makeBatch(ds, 'train', indices, { augment: true, rng });
      indices.forEach((index, b) => {
        const shiftY = mirror.int(2 * AUGMENT_PADDING + 1) - AUGMENT_PADDING;
        const shiftX = mirror.int(2 * AUGMENT_PADDING + 1) - AUGMENT_PADDING;
        const flip = mirror.next() < 0.5;
        seenFlip.add(flip);
        seenShift.add(shiftX);
        const got = Array.from(batch.images.subarray(b * 40, (b + 1) * 40));
        const want = referenceAugment(ds, index, shiftY, shiftX, flip);
        got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-5, `round ${round} pixel ${i}: ${v} vs ${want[i]}`));
      });
    }
    assert.equal(seenFlip.size, 2);
    assert.ok(seenShift.size >= 7);
  });

  test('a known shift and flip on a 3×3 image', () => {
    // Values 1..9 row-major; mean/std forced to 0/1 so the output is the raw geometry.
    const images = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const ds: Dataset = {
      ...tinyDataset(1, 3, 3, 1),
      train: { images, labels: Int32Array.from([0]), count: 1 },
      mean: [0],
      std: [1],
    };
    // Find draws with shiftY = +1 (content moves up), shiftX = −1 (moves right), flip.
    for (let seed = 0; seed < 5000; seed++) {
      const probe = new Rng(seed);
      const dy = probe.int(9) - 4;
      const dx = probe.int(9) - 4;
      const flip = probe.next() < 0.5;
      if (dy !== 1 || dx !== -1 || !flip) continue;
      const batch = makeBatch(ds, 'train', [0], { augment: true, rng: new Rng(seed) });
      // Output (y, x) = source (y + 1, (2 − x) − 1): rows 4..6 and 7..9 mirrored, shifted.
      assert.deepEqual(Array.from(batch.images), [5, 4, 0, 8, 7, 0, 0, 0, 0]);
      return;
    }
    assert.fail('no seed produced the wanted draw');
  });
});
