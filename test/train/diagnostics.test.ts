// The per-step diagnostics with one readback per step: the batched forms must give exactly the
// values of the per-tensor computations they replace.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { FlipTracker, cosine, cosines } from '../../src/train/diagnostics.js';

describe('diagnostics', () => {
  before(() => useBackend('wasm'));

  it('cosines equals cosine pair by pair, bit for bit, and is NaN for a zero vector', () => {
    const pairs: Array<[tf.Tensor, tf.Tensor]> = [
      [tf.randomNormal([5, 7], 0, 1, 'float32', 1), tf.randomNormal([5, 7], 0, 1, 'float32', 2)],
      [tf.randomNormal([3, 3, 2, 4], 0, 1, 'float32', 3), tf.randomNormal([3, 3, 2, 4], 0, 1, 'float32', 4)],
      [tf.tensor1d([1, 2, 3]), tf.tensor1d([2, 4, 6])],
      [tf.zeros([4]), tf.ones([4])],
    ];
    const batched = cosines(pairs);
    assert.equal(batched.length, pairs.length);
    pairs.forEach(([a, b], i) => {
      const single = cosine(a, b);
      if (Number.isNaN(single)) assert.ok(Number.isNaN(batched[i]!));
      else assert.equal(batched[i], single);
    });
    assert.ok(Math.abs(batched[2]! - 1) < 1e-6);
    assert.ok(Number.isNaN(batched[3]!));
    assert.deepEqual(cosines([]), []);
    tf.dispose(pairs.flat());
  });

  it('FlipTracker counts changed elements over all layers, NaN on the first call', () => {
    const flips = new FlipTracker();
    const a1 = tf.tensor1d([1, -1, 1, -1]);
    const b1 = tf.tensor2d([[1, 1], [1, 1], [-1, -1]]);
    assert.ok(Number.isNaN(flips.update(new Map<string, tf.Tensor>([['a', a1], ['b', b1]]))));
    const a2 = tf.tensor1d([1, 1, 1, 1]); // 2 of 4 changed
    const b2 = tf.tensor2d([[1, -1], [1, 1], [-1, -1]]); // 1 of 6 changed
    assert.equal(flips.update(new Map<string, tf.Tensor>([['a', a2], ['b', b2]])), 3 / 10);
    assert.equal(flips.update(new Map<string, tf.Tensor>([['a', a2], ['b', b2]])), 0);
    flips.dispose();
    tf.dispose([a1, b1, a2, b2]);
  });
});
