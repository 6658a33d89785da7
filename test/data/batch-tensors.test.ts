// The one batching function of training, evaluation and gradcheck: batch b of a pass holds the
// examples order[b·size …] (stored order without an order), the last batch is partial, and the
// tensors hold exactly what makeBatch gathers (the trainer's NaN injection edits it first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../../src/engine/backend.js';
import { batchTensors } from '../../src/data/batch-tensors.js';
import { createDataset, makeBatch } from '../../src/data/pipeline.js';

/** 10 train examples of 2×2×1 whose label is their index (image values distinct per example). */
const DATA = createDataset({
  name: 'indexed',
  height: 2,
  width: 2,
  channels: 1,
  numClasses: 10,
  train: { images: Float32Array.from({ length: 40 }, (_, i) => (i % 7) / 7 + Math.floor(i / 4) / 10), labels: Int32Array.from({ length: 10 }, (_, i) => i), count: 10 },
  test: { images: Float32Array.from({ length: 12 }, (_, i) => i / 12), labels: Int32Array.of(0, 1, 2), count: 3 },
  augmentByDefault: false,
});

test('batch b of an order: its examples, the last batch partial, values as makeBatch gathers them', async () => {
  await useBackend('cpu');
  const order = Int32Array.of(3, 9, 0, 7, 1, 8, 2, 6, 4, 5);
  const got: number[][] = [];
  for (let b = 0; b < 3; b++) {
    const { x, y, size } = batchTensors(DATA, 'train', order, b, 4);
    const labels = [...y.dataSync()];
    assert.equal(size, labels.length);
    assert.deepEqual(x.shape, [size, 2, 2, 1]);
    assert.deepEqual([...x.dataSync()], [...makeBatch(DATA, 'train', Int32Array.from(labels)).images]);
    got.push(labels);
    x.dispose();
    y.dispose();
  }
  assert.deepEqual(got, [[3, 9, 0, 7], [1, 8, 2, 6], [4, 5]]);
  // No order: the stored order (evaluation).
  const t = batchTensors(DATA, 'test', null, 1, 2);
  assert.deepEqual([...t.y.dataSync()], [2]);
  t.x.dispose();
  t.y.dispose();
  // The edit hook sees the gathered batch before it becomes tensors.
  const poisoned = batchTensors(DATA, 'train', order, 0, 4, { edit: (batch) => batch.images.fill(Number.NaN) });
  assert.ok([...poisoned.x.dataSync()].every(Number.isNaN));
  poisoned.x.dispose();
  poisoned.y.dispose();
});
