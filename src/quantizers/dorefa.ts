import { tf, type Tensor } from '../engine/tf.js';
import { disposingScope } from '../engine/ops.js';
import { unknownChoice } from '../util/errors.js';
import { QuantizerBase, rejectPerChannel } from './base.js';
import { ESTIMATOR_DESCRIPTIONS, codesFrom, float32From, roundHalfToEven, type QuantizerForward } from './estimators.js';
import type { QuantizedEncoding, QuantizerConfig } from './types.js';

export const DOREFA_BITS = [1, 2, 3, 4, 5, 6, 7, 8] as const;

/**
 * max|tanh W| over the whole tensor, with 0 replaced by 1. All-zero weights would otherwise give
 * 0/0: with the guard they map to W̃ = 1/2 and cal = 1, as if max|tanh W| were 1.
 */
function safeMaxAbs(t: Tensor): Tensor {
  return tf.tidy(() => {
    const maxAbs = tf.max(tf.abs(t));
    return tf.where(tf.greater(maxAbs, 0), maxAbs, tf.onesLike(maxAbs));
  });
}

/** W̃ = tanh(W)/(2·max|tanh W|) + 1/2 ∈ [0, 1], and the pieces the backward needs. */
function dorefaPreQuantize(w: Tensor): { wTilde: Tensor; tanhW: Tensor; maxAbsTanh: Tensor } {
  const tanhW = tf.tanh(w);
  const maxAbsTanh = safeMaxAbs(tanhW);
  const wTilde = tf.add(tf.div(tanhW, tf.mul(maxAbsTanh, 2)), 0.5);
  return { wTilde, tanhW, maxAbsTanh };
}

/** Integer codes round((2^k−1)·W̃), rounding half to even. */
function dorefaCodes(wTilde: Tensor, bits: number): Tensor {
  return tf.tidy(() => roundHalfToEven(tf.mul(wTilde, 2 ** bits - 1)));
}

/** Code → level 2·code/(2^k−1) − 1. Used for Ŵ and for the code book, so both agree bit for bit. */
function dorefaLevelsOf(codes: Tensor, bits: number): Tensor {
  return tf.tidy(() => tf.sub(tf.div(tf.mul(codes, 2), 2 ** bits - 1), 1));
}

/** Q for dorefa: W̃ ∈ [0, 1] → 2·round((2^k−1)·W̃)/(2^k−1) − 1. Exported so ties can be tested directly. */
export function dorefaQuantizeUnit(wTilde: Tensor, bits: number): Tensor {
  return tf.tidy(() => dorefaLevelsOf(dorefaCodes(wTilde, bits), bits));
}

/**
 * DoReFa k-bit weights (spec §3): W̃ = tanh(W)/(2·max|tanh W|) + 1/2,
 * Ŵ = 2·round((2^k−1)·W̃)/(2^k−1) − 1, no scale. max|tanh W| is a constant in the backward.
 */
export class DorefaQuantizer extends QuantizerBase {
  readonly name: string = 'dorefa';
  readonly bits: number;

  constructor(config: Omit<QuantizerConfig, 'name'> = {}) {
    super({ name: 'dorefa', ...config });
    const bits = config.bits ?? 1;
    if (!(DOREFA_BITS as readonly number[]).includes(bits)) {
      throw unknownChoice('dorefa bits', String(bits), DOREFA_BITS.map(String));
    }
    rejectPerChannel('dorefa', config.perChannel);
    this.bits = bits;
  }

  protected forward(w: Tensor): QuantizerForward {
    const { wTilde, tanhW, maxAbsTanh } = dorefaPreQuantize(w);
    const wHat = dorefaLevelsOf(dorefaCodes(wTilde, this.bits), this.bits);
    // STE through round: ∂Ŵ/∂W̃ = 2 and ∂W̃/∂W = (1 − tanh²W)/(2·max|tanh W|), i.e. exactly cal(W).
    return { wTilde, wHat, steScale: dorefaCalibration(tanhW, maxAbsTanh) };
  }

  protected preQuantizeValues(w: Tensor): Tensor {
    return dorefaPreQuantize(w).wTilde;
  }

  /** cal = (1 − tanh²W)/max|tanh W| (spec §3), the reference's value including the factor 2. */
  override calibration(w: Tensor): Tensor {
    return tf.tidy(() => {
      const tanhW = tf.tanh(w);
      return dorefaCalibration(tanhW, safeMaxAbs(tanhW));
    });
  }

  override get label(): string {
    return `${this.name} ${this.bits}-bit`;
  }

  /** A′ = (1 − tanh²W)/(2·max|tanh W|) = cal/2 (max|tanh W| constant, as in the backward). */
  override preQuantizeDerivative(w: Tensor): Tensor {
    return tf.tidy(() => tf.mul(this.calibration(w), 0.5));
  }

  override get preQuantizeDerivativeFormula(): string {
    return '(1 − tanh²)/(2·max|tanh|)';
  }

  encode(w: Tensor): QuantizedEncoding {
    return disposingScope(() => {
      const codes = dorefaCodes(dorefaPreQuantize(w).wTilde, this.bits);
      const levels = dorefaLevelsOf(tf.range(0, 2 ** this.bits, 1, 'float32'), this.bits);
      return { bits: this.bits, codes: codesFrom(codes), levels: float32From(levels), scales: Float32Array.of(1) };
    });
  }

  describe(): string {
    return [
      `dorefa ${this.bits}-bit: W~ = tanh(W)/(2*max|tanh W|) + 1/2 (max over the tensor, constant in the backward);`,
      `  W^ = 2*round((2^k-1)*W~)/(2^k-1) - 1, levels {2i/(2^k-1) - 1}, no scale.`,
      `  rounding: half to even (at k = 1, W = 0 gives W~ = 1/2 and W^ = -1); all-zero W uses max|tanh W| := 1.`,
      `  backward (${this.estimator}): ${ESTIMATOR_DESCRIPTIONS[this.estimator]};`,
      `  dL/dW = g * (1 - tanh^2 W)/max|tanh W|${this.estimator === 'clipped-ste' ? ' * 1{|W| <= 1}' : ''}.`,
      `  calibration: (1 - tanh^2 W)/max|tanh W|.`,
    ].join('\n');
  }
}

function dorefaCalibration(tanhW: Tensor, maxAbsTanh: Tensor): Tensor {
  return tf.tidy(() => tf.div(tf.sub(1, tf.square(tanhW)), maxAbsTanh));
}
