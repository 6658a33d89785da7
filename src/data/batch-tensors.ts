import { tf } from '../engine/tf.js';

type Tensor1D = ReturnType<typeof tf.tensor1d>;
type Tensor4D = ReturnType<typeof tf.tensor4d>;
import { makeBatch, type MakeBatchOptions } from './pipeline.js';
import type { Batch, Dataset } from './types.js';

export interface TensorBatch {
  /** size × height × width × channels, normalised. */
  x: Tensor4D;
  /** int32 labels. */
  y: Tensor1D;
  size: number;
}

export interface BatchTensorOptions extends MakeBatchOptions {
  /** Sees the gathered batch before it becomes tensors (the trainer's --inject-nan poisons it here). */
  edit?(batch: Batch): void;
}

/**
 * Batch `index` of one pass over a split: the examples `order[index·batchSize …]` (stored order
 * when `order` is null; the last batch may be smaller), gathered, normalised, augmented if asked,
 * as tensors the caller disposes. The one batching function of training, evaluation and gradcheck.
 */
export function batchTensors(
  ds: Dataset,
  split: 'train' | 'test',
  order: Int32Array | null,
  index: number,
  batchSize: number,
  options: BatchTensorOptions = {},
): TensorBatch {
  const count = order ? order.length : ds[split].count;
  const start = index * batchSize;
  const end = Math.min(start + batchSize, count);
  const indices = order ? order.subarray(start, end) : Int32Array.from({ length: end - start }, (_, i) => start + i);
  const batch = makeBatch(ds, split, indices, options);
  options.edit?.(batch);
  return {
    x: tf.tensor4d(batch.images, [batch.size, ds.height, ds.width, ds.channels]),
    y: tf.tensor1d(batch.labels, 'int32'),
    size: batch.size,
  };
}
