import { tf, type Tensor } from '../engine/tf.js';

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
