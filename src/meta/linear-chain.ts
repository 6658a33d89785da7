import { tf, type Tensor } from '../engine/tf.js';
import type { MetaActivation } from './types.js';

/**
 * x [N] through bias-free linear layers with PyTorch [out, in] weights and an optional
 * activation between them, returning [N]. With no activation the chain is c·x with
 * c = W_L···W_1 (a scalar for 1→H→…→1), which is evaluated as such: identical up to float
 * rounding, and N·H times cheaper.
 */
export function linearChain(x: Tensor, weights: Tensor[], activation: MetaActivation): Tensor {
  if (activation === 'none') return tf.mul(x, chainScalar(weights));
  let h: Tensor = tf.reshape(x, [-1, 1]);
  weights.forEach((w, i) => {
    h = tf.matMul(h as tf.Tensor2D, tf.transpose(w) as tf.Tensor2D);
    if (i < weights.length - 1) h = activation === 'relu' ? tf.relu(h) : tf.tanh(h);
  });
  return tf.reshape(h, [-1]);
}

/** W_L···W_1 as a scalar tensor (differentiable). */
export function chainScalar(weights: Tensor[]): Tensor {
  let prod: Tensor = weights[0]!;
  for (let i = 1; i < weights.length; i++) prod = tf.matMul(weights[i] as tf.Tensor2D, prod as tf.Tensor2D);
  return tf.reshape(prod, []);
}

/** The same chain evaluated layer by layer with matmuls, as the reference does (for tests). */
export function linearChainExplicit(x: Tensor, weights: Tensor[]): Tensor {
  let h: Tensor = tf.reshape(x, [-1, 1]);
  for (const w of weights) h = tf.matMul(h as tf.Tensor2D, tf.transpose(w) as tf.Tensor2D);
  return tf.reshape(h, [-1]);
}
