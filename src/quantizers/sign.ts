import { tf, type Tensor } from '../engine/tf.js';
import { disposingScope } from '../engine/ops.js';
import { QuantizerBase, checkFixedBits, rejectPerChannel } from './base.js';
import { ESTIMATOR_DESCRIPTIONS, codesFrom, signZeroIsPlusOne, type QuantizerForward } from './estimators.js';
import type { QuantizedEncoding, QuantizerConfig } from './types.js';

/**
 * BNN-style sign without a scale: Ŵ = sign(W) ∈ {−1, +1} with sign(0) = +1 (also for −0), so Ŵ
 * is truly binary. This differs on purpose from BWN, whose sign(0) = 0 follows the reference.
 */
export class SignQuantizer extends QuantizerBase {
  readonly name: string = 'sign';
  readonly bits = 1;

  constructor(config: Omit<QuantizerConfig, 'name'> = {}) {
    super({ name: 'sign', ...config });
    checkFixedBits('sign', config.bits, 1);
    rejectPerChannel('sign', config.perChannel);
  }

  protected forward(w: Tensor): QuantizerForward {
    return { wTilde: w, wHat: signZeroIsPlusOne(w), steScale: tf.scalar(1) };
  }

  protected preQuantizeValues(w: Tensor): Tensor {
    return w.clone();
  }

  encode(w: Tensor): QuantizedEncoding {
    return disposingScope(() => ({
      bits: 1,
      codes: codesFrom(tf.greaterEqual(w, 0)),
      levels: Float32Array.of(-1, 1),
      scales: Float32Array.of(1),
    }));
  }

  describe(): string {
    return [
      `sign: W~ = W; W^ = sign(W) in {-1, +1} with sign(0) = +1 (unlike bwn's sign(0) = 0), no scale.`,
      `  backward (${this.estimator}): ${ESTIMATOR_DESCRIPTIONS[this.estimator]};`,
      `  dL/dW = g${this.estimator === 'clipped-ste' ? ' * 1{|W| <= 1}' : ''}.`,
      `  calibration: 1.`,
    ].join('\n');
  }
}
