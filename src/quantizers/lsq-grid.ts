// Learned Step Size Quantization (Esser et al. 2020), shared by the weight and activation
// quantizers: v = x/s, ŷ = s·q(v) with q the clamp-and-round onto [−Q_N, Q_P] (or sign at
// 1-bit weights). Backward: ∂ŷ/∂x = 1{−Q_N ≤ v ≤ Q_P}; ∂ŷ/∂s = q(v) − v·1{inside}, i.e.
// −v + round(v) inside and the clamp bound outside, times the gradient scale 1/√(N·Q_P).
import { tf, type Tensor } from '../engine/tf.js';
import { roundHalfToEven, signZeroIsPlusOne } from './estimators.js';

/** The integer grid: codes in [−qn, qp]; `binary` uses sign(v) ∈ {−1, +1} (the 1-bit weight case). */
export interface LsqGrid {
  qn: number;
  qp: number;
  binary: boolean;
}

/** LSQ's gradient scale g = 1/√(N·Q_P). */
export const lsqGradScale = (n: number, qp: number): number => 1 / Math.sqrt(n * qp);

/** The level q(v) of v = x/s on the grid. */
export function lsqLevel(v: Tensor, grid: LsqGrid): Tensor {
  return grid.binary ? signZeroIsPlusOne(v) : tf.clipByValue(roundHalfToEven(v), -grid.qn, grid.qp);
}

/**
 * ŷ = s·q(x/s) with LSQ's backward; `n` is the N of the gradient scale (elements per example
 * for activations, the tensor's size for weights).
 */
export function lsqQuantize(x: Tensor, step: Tensor, grid: LsqGrid, n: number): Tensor {
  const g = lsqGradScale(n, grid.qp);
  const op = tf.customGrad((xArg, sArg, saveArg) => {
    const s = sArg as Tensor;
    const v = tf.div(xArg as Tensor, s);
    const level = lsqLevel(v, grid);
    const inside = tf.cast(tf.logicalAnd(tf.greaterEqual(v, -grid.qn), tf.lessEqual(v, grid.qp)), 'float32');
    (saveArg as tf.GradSaveFunc)([inside, tf.sub(level, tf.mul(v, inside))]);
    return {
      value: tf.mul(level, s),
      gradFunc: (dy: Tensor, saved: Tensor[]) => [tf.mul(dy, saved[0]!), tf.reshape(tf.mul(tf.sum(tf.mul(dy, saved[1]!)), g), s.shape)],
    };
  });
  return op(x, step);
}
