import { tf, type Tensor } from '../engine/tf.js';
import { disposingScope } from '../engine/ops.js';
import { QuantizerBase, checkFixedBits } from './base.js';
import {
  ESTIMATOR_DESCRIPTIONS,
  codesFrom,
  float32From,
  hardtanhGate,
  meanAbs,
  signZeroIsZero,
  type QuantizerForward,
} from './estimators.js';
import type { QuantizedEncoding, QuantizerConfig } from './types.js';

/**
 * Binary-weight networks (spec §3): W̃ = W, a = mean|W| (per layer, or per output channel),
 * Ŵ = a·sign(W) with sign(0) = 0 like the reference. a is a constant in the backward.
 * The reference's STE is already gated, a·g ⊙ 1{|W| ≤ 1}, so 'ste' and 'clipped-ste' coincide.
 */
export class BwnQuantizer extends QuantizerBase {
  readonly name: string = 'bwn';
  readonly bits = 1;

  constructor(config: Omit<QuantizerConfig, 'name'> = {}) {
    super({ name: 'bwn', ...config });
    checkFixedBits('bwn', config.bits, 1);
  }

  protected forward(w: Tensor): QuantizerForward {
    const scale = meanAbs(w, this.perChannel);
    const wHat = tf.mul(signZeroIsZero(w), scale);
    // Gated for both estimators: the gate is part of the reference's BWN STE.
    return { wTilde: w, wHat, steScale: tf.mul(hardtanhGate(w), scale) };
  }

  protected preQuantizeValues(w: Tensor): Tensor {
    return w.clone();
  }

  /**
   * Levels [−1, +1] at 1 bit; a weight that is exactly 0 has Ŵ = 0, which needs the 2-bit book
   * [−1, 0, +1, (pad 0)].
   */
  encode(w: Tensor): QuantizedEncoding {
    return disposingScope(() => {
      const signs = signZeroIsZero(w);
      const scales = float32From(meanAbs(w, this.perChannel));
      const hasZero = tf.any(tf.equal(signs, 0)).dataSync()[0] === 1;
      if (hasZero) {
        return { bits: 2, codes: codesFrom(tf.add(signs, 1)), levels: Float32Array.of(-1, 0, 1, 0), scales };
      }
      return { bits: 1, codes: codesFrom(tf.greater(signs, 0)), levels: Float32Array.of(-1, 1), scales };
    });
  }

  describe(): string {
    return [
      `bwn: W~ = W; a = mean|W| ${this.perChannel ? 'per output channel (last axis)' : 'over the tensor'}, constant in the backward;`,
      `  W^ = a*sign(W) with sign(0) = 0 (the reference's convention; a zero weight stays 0 and encodes with 2 bits).`,
      `  backward (${this.estimator}): ${ESTIMATOR_DESCRIPTIONS[this.estimator]};`,
      `  dL/dW = a * g * 1{|W| <= 1} for both estimators (the reference's STE is already gated).`,
      `  calibration: 1.`,
    ].join('\n');
  }
}
