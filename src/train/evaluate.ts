import { tf } from '../engine/tf.js';
import type { QuantizedModel } from '../models/model.js';
import type { Dataset } from '../data/types.js';
import { makeBatch } from '../data/pipeline.js';
import { countCorrect, crossEntropy } from './loss.js';

export interface Evaluation {
  loss: number;
  accuracy: number;
  count: number;
}

/** Test-set loss and accuracy with Q(A(W)), no look-ahead, batch-norm running statistics. */
export function evaluate(model: QuantizedModel, dataset: Dataset, split: 'train' | 'test' = 'test', batchSize = 500): Evaluation {
  const data = dataset[split];
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const size = Math.min(batchSize, data.count - start);
    const indices = Int32Array.from({ length: size }, (_, i) => start + i);
    const batch = makeBatch(dataset, split, indices, { augment: false });
    tf.tidy(() => {
      const x = tf.tensor4d(batch.images, [size, dataset.height, dataset.width, dataset.channels]);
      const y = tf.tensor1d(batch.labels, 'int32');
      const logits = model.predict(x);
      lossSum += crossEntropy(logits, y).dataSync()[0]! * size;
      correct += countCorrect(logits, y);
    });
  }
  return { loss: lossSum / data.count, accuracy: correct / data.count, count: data.count };
}
