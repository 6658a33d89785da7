// The validation split: stratified (each class keeps its share), seeded (same seed, same split;
// independent of anything else), disjoint from training, and a data set built from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stratifiedValidationIndices, withValidationSplit } from '../../src/data/validation-split.js';
import { createDataset } from '../../src/data/pipeline.js';
import { UsageError } from '../../src/util/errors.js';

/** 3 classes of very different sizes (100, 40, 10), interleaved. */
function labels(): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < 100; i++) {
    out.push(0);
    if (i % 5 < 2) out.push(1);
    if (i % 10 === 0) out.push(2);
  }
  return Int32Array.from(out);
}

test('the validation split keeps every class proportion (round(f × class count) per class)', () => {
  const y = labels();
  const { val, train } = stratifiedValidationIndices(y, 3, 0.2, 0);
  const count = (idx: number[], c: number) => idx.filter((i) => y[i] === c).length;
  // Hand-computed: 20 % of 100, 40 and 10.
  assert.deepEqual([0, 1, 2].map((c) => count(val, c)), [20, 8, 2]);
  assert.deepEqual([0, 1, 2].map((c) => count(train, c)), [80, 32, 8]);
});

test('the split is disjoint, covers every example, and depends only on its seed', () => {
  const y = labels();
  const a = stratifiedValidationIndices(y, 3, 0.1, 0);
  const b = stratifiedValidationIndices(y, 3, 0.1, 0);
  const c = stratifiedValidationIndices(y, 3, 0.1, 7);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.val, c.val);
  const all = [...a.train, ...a.val].sort((p, q) => p - q);
  assert.deepEqual(all, Array.from({ length: y.length }, (_, i) => i));
  assert.equal(new Set(a.val).size + new Set(a.train).size, y.length);
});

test('withValidationSplit moves the held-out images and renormalises from the remaining training images', () => {
  const y = labels();
  const n = y.length;
  // One pixel per image whose value encodes its index, so moved images can be traced.
  const images = Float32Array.from({ length: n }, (_, i) => i / n);
  const ds = createDataset({ name: 't', height: 1, width: 1, channels: 1, numClasses: 3, train: { images, labels: y, count: n }, test: { images, labels: y, count: n }, augmentByDefault: false });
  const split = withValidationSplit(ds, 0.2, 3);
  const { val } = stratifiedValidationIndices(y, 3, 0.2, 3);
  assert.equal(split.val!.count, val.length);
  assert.deepEqual(Array.from(split.val!.images), val.map((i) => Math.fround(i / n)));
  assert.deepEqual(Array.from(split.val!.labels), val.map((i) => y[i]));
  assert.equal(split.train.count, n - val.length);
  const kept = Array.from(split.train.images);
  const m = kept.reduce((s, v) => s + v, 0) / kept.length;
  assert.ok(Math.abs(split.mean[0]! - m) < 1e-6, `mean ${split.mean[0]} should be the training part's ${m}`);
  assert.equal(split.test, ds.test);
});

test('a fraction outside (0, 1), or one that leaves a side empty, is a usage error', () => {
  assert.throws(() => stratifiedValidationIndices(labels(), 3, 0, 0), UsageError);
  assert.throws(() => stratifiedValidationIndices(labels(), 3, 1, 0), UsageError);
  assert.throws(() => stratifiedValidationIndices(Int32Array.from([0, 1]), 2, 0.1, 0), /leaves 0 for validation/);
});
