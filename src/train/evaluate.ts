import { tf } from '../engine/tf.js';
import type { QuantizedModel } from '../models/model.js';
import type { Dataset } from '../data/types.js';
import { batchCount } from '../data/pipeline.js';
import { batchTensors } from '../data/batch-tensors.js';
import { countCorrect, crossEntropy } from './loss.js';

export interface Evaluation {
  loss: number;
  accuracy: number;
  count: number;
}

/** Test-set loss and accuracy with Q(A(W)), no look-ahead, batch-norm running statistics. */
export function evaluate(model: QuantizedModel, dataset: Dataset, split: 'train' | 'test' = 'test', batchSize = 500): Evaluation {
  const count = dataset[split].count;
  let lossSum = 0;
  let correct = 0;
  for (let b = 0; b < batchCount(count, batchSize); b++) {
    tf.tidy(() => {
      const { x, y, size } = batchTensors(dataset, split, null, b, batchSize);
      const logits = model.predict(x);
      lossSum += crossEntropy(logits, y).dataSync()[0]! * size;
      correct += countCorrect(logits, y);
    });
  }
  return { loss: lossSum / count, accuracy: correct / count, count };
}
