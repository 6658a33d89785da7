import { tf, type Tensor, type Variable } from '../engine/tf.js';
import { valueAndGrads } from '../engine/ops.js';
import type { QuantizedModel } from '../models/model.js';
import type { WeightHooks } from '../models/layers.js';

/** Mean softmax cross-entropy of logits [N, C] against integer labels [N]. */
export function crossEntropy(logits: Tensor, labels: Tensor): Tensor {
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits as tf.Tensor2D);
    const oneHot = tf.oneHot(labels as tf.Tensor1D, logits.shape[1]!);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logProbs), 1)));
  });
}

/** Number of rows whose argmax equals the label. */
export function countCorrect(logits: Tensor, labels: Tensor): number {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32')).dataSync()[0]!);
}

/**
 * One training forward pass with `hooks` and one backward pass: the batch's mean loss, the number
 * of correct predictions, and the gradients of `vars` (owned by the caller).
 */
export function lossAndGradients(model: QuantizedModel, images: Tensor, labels: Tensor, hooks: WeightHooks, vars: Map<string, Variable>): { loss: number; correct: number; grads: Map<string, Tensor> } {
  let logits: Tensor | undefined;
  const { value, grads } = valueAndGrads(() => {
    const out = model.forward(images, hooks, true);
    logits = tf.keep(out);
    return crossEntropy(out, labels) as tf.Scalar;
  }, vars);
  const loss = value.dataSync()[0]!;
  const correct = countCorrect(logits!, labels);
  tf.dispose([value, logits!]);
  return { loss, correct, grads };
}
