// SplitV, Concat and Tanh on wasm (src/engine/wasm/block-copy.ts) against tfjs's cpu backend: the
// copies must be exact, and Tanh is the cpu backend's own Math.tanh, so results are compared bit for bit.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';

let seed = 500;
const values = (shape: number[]) => tf.tidy(() => tf.randomNormal(shape, 0, 2, 'float32', seed++).dataSync() as Float32Array);

async function assertIdentical(label: string, compute: () => Tensor[]): Promise<void> {
  const results: Record<string, Array<{ shape: number[]; data: number[] }>> = {};
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    const outs = tf.tidy(compute);
    results[backend] = outs.map((t) => ({ shape: t.shape, data: Array.from(t.dataSync()) }));
    tf.dispose(outs);
  }
  assert.deepEqual(results.wasm, results.cpu, label);
}

describe('wasm block-copy kernels', () => {
  before(() => useBackend('wasm'));

  it('split matches cpu on every axis, equal and uneven parts', async () => {
    const shape = [3, 8, 5];
    const x = values(shape);
    for (const axis of [0, 1, 2, -1]) {
      const size = shape[axis < 0 ? shape.length + axis : axis]!;
      await assertIdentical(`split axis ${axis} equal`, () => tf.split(tf.tensor(x, shape), size === 3 ? 3 : size === 8 ? 4 : 5, axis));
      const uneven = size === 3 ? [1, 2] : size === 8 ? [3, 0, 5] : [2, -1];
      await assertIdentical(`split axis ${axis} ${uneven}`, () => tf.split(tf.tensor(x, shape), uneven, axis));
    }
    const ints = Int32Array.from({ length: 12 }, (_, i) => i * 7 - 20);
    await assertIdentical('split int32', () => tf.split(tf.tensor(ints, [4, 3], 'int32'), [1, 2], 1));
  });

  it('concat matches cpu on every axis, with an empty part and int32', async () => {
    const a = values([2, 3, 4]);
    const b = values([2, 5, 4]);
    const c = values([2, 3, 1]);
    await assertIdentical('concat axis 1', () => [tf.concat([tf.tensor(a, [2, 3, 4]), tf.tensor(b, [2, 5, 4]), tf.zeros([2, 0, 4])], 1)]);
    await assertIdentical('concat axis -1', () => [tf.concat([tf.tensor(a, [2, 3, 4]), tf.tensor(c, [2, 3, 1])], -1)]);
    await assertIdentical('concat axis 0', () => [tf.concat([tf.tensor(a, [2, 3, 4]), tf.tensor(a, [2, 3, 4])], 0)]);
    await assertIdentical('concat 1-D', () => [tf.concat([tf.tensor1d([1, 2]), tf.tensor1d([3]), tf.tensor1d([4, 5, 6])])]);
    await assertIdentical('concat int32', () => [tf.concat([tf.tensor2d([[1, 2]], [1, 2], 'int32'), tf.tensor2d([[3], [4]].flat(), [1, 2], 'int32')], 0)]);
  });

  it('slice matches cpu: row chunks, inner windows, whole tensors, int32', async () => {
    const shape = [5, 4, 6];
    const x = values(shape);
    const cases: Array<[number[], number[]]> = [
      [[0, 0, 0], [5, 4, 6]],
      [[2, 0, 0], [2, 4, 6]],
      [[1, 1, 0], [3, 2, 6]],
      [[0, 1, 2], [5, 3, 3]],
      [[4, 3, 5], [1, 1, 1]],
      [[1, 0, 0], [-1, -1, 2]],
      [[0, 0, 0], [0, 4, 6]],
    ];
    for (const [begin, size] of cases) {
      await assertIdentical(`slice ${begin} ${size}`, () => [tf.slice(tf.tensor(x, shape), begin, size)]);
    }
    await assertIdentical('slice 1-D', () => [tf.slice(tf.tensor1d([1, 2, 3, 4, 5]), 1, 3)]);
    await assertIdentical('slice int32', () => [tf.slice(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32'), [1, 1], [2, 1])]);
  });

  it('tanh, and the LSTM-style gate gradients through split/concat/tanh, match cpu', async () => {
    const x = values([6, 8]);
    await assertIdentical('tanh', () => [tf.tanh(tf.tensor(x, [6, 8])), tf.tanh(tf.tensor1d([0, -0, 30, -30, 1e-8, NaN]))]);
    const gates = values([5, 12]);
    const gate = (g: Tensor) => {
      const [i, f, c, o] = tf.split(g, 4, 1) as [Tensor, Tensor, Tensor, Tensor];
      return tf.sum(tf.mul(tf.sigmoid(o), tf.tanh(tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(c))))));
    };
    // Gradients involve Multiply/Add of wasm's own (vectorised) kernels: compare with a tolerance.
    const grads: Record<string, Float32Array> = {};
    for (const backend of ['cpu', 'wasm'] as const) {
      await useBackend(backend);
      grads[backend] = tf.tidy(() => tf.grad(gate)(tf.tensor(gates, [5, 12])).dataSync() as Float32Array).slice();
    }
    grads.cpu!.forEach((v, k) => assert.ok(Math.abs(v - grads.wasm![k]!) <= 1e-6 * Math.max(1, Math.abs(v)), `grad[${k}]`));
  });
});
