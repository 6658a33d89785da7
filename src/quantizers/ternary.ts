import { tf, type Tensor } from '../engine/tf.js';
import { disposingScope } from '../engine/ops.js';
import { QuantizerBase, checkFixedBits } from './base.js';
import {
  ESTIMATOR_DESCRIPTIONS,
  codesFrom,
  float32From,
  meanAbs,
  reduceForScale,
  signZeroIsZero,
  type QuantizerForward,
} from './estimators.js';
import type { QuantizedEncoding, QuantizerConfig } from './types.js';

/** TWN's threshold factor: Δ = 0.7·mean|W|. */
export const TERNARY_THRESHOLD_FACTOR = 0.7;

/**
 * Ternary weight networks: Δ = 0.7·mean|W|, α = mean of |W_i| over |W_i| > Δ (0 when no weight
 * passes), Ŵ = α·sign(W)·1{|W| > Δ}; per layer or per output channel. The backward passes α·g
 * straight through (scaled like BWN), α constant.
 */
export class TernaryQuantizer extends QuantizerBase {
  readonly name: string = 'ternary';
  readonly bits = 2;

  constructor(config: Omit<QuantizerConfig, 'name'> = {}) {
    super({ name: 'ternary', ...config });
    checkFixedBits('ternary', config.bits, 2);
  }

  /** The mask 1{|W| > Δ} (float 0/1) and α, shaped to broadcast against W. */
  private thresholdAndScale(w: Tensor): { kept: Tensor; alpha: Tensor } {
    const absW = tf.abs(w);
    const delta = tf.mul(meanAbs(w, this.perChannel), TERNARY_THRESHOLD_FACTOR);
    const kept = tf.cast(tf.greater(absW, delta), 'float32');
    const keptCount = reduceForScale(kept, this.perChannel, 'sum');
    const keptSum = reduceForScale(tf.mul(absW, kept), this.perChannel, 'sum');
    // With nothing above Δ the sum is 0 too, so dividing by max(count, 1) gives α = 0.
    const alpha = tf.div(keptSum, tf.maximum(keptCount, 1));
    return { kept, alpha };
  }

  protected forward(w: Tensor): QuantizerForward {
    const { kept, alpha } = this.thresholdAndScale(w);
    // where() rather than a product so that dropped negative weights give +0, not −0.
    const wHat = tf.where(tf.cast(kept, 'bool'), tf.mul(signZeroIsZero(w), alpha), tf.zerosLike(w));
    return { wTilde: w, wHat, steScale: alpha };
  }

  protected preQuantizeValues(w: Tensor): Tensor {
    return w.clone();
  }

  /** 2 bits, levels [−1, 0, +1, (pad 0)], one α per layer or per channel. */
  encode(w: Tensor): QuantizedEncoding {
    return disposingScope(() => {
      const { kept, alpha } = this.thresholdAndScale(w);
      // code 1 (level 0) where dropped, else sign + 1 ∈ {0, 2}.
      const codes = tf.add(tf.mul(signZeroIsZero(w), kept), 1);
      return { bits: 2, codes: codesFrom(codes), levels: Float32Array.of(-1, 0, 1, 0), scales: float32From(alpha) };
    });
  }

  describe(): string {
    return [
      `ternary (TWN): W~ = W; delta = 0.7*mean|W| and alpha = mean of |W_i| over |W_i| > delta (0 if none),`,
      `  ${this.perChannel ? 'per output channel (last axis)' : 'over the tensor'}; W^ = alpha*sign(W)*1{|W| > delta} (|W| = delta is dropped).`,
      `  backward (${this.estimator}): ${ESTIMATOR_DESCRIPTIONS[this.estimator]};`,
      `  dL/dW = alpha * g${this.estimator === 'clipped-ste' ? ' * 1{|W| <= 1}' : ''} (alpha constant).`,
      `  calibration: 1.`,
    ].join('\n');
  }
}
