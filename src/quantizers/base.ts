import { tf, type Tensor } from '../engine/tf.js';
import { UsageError, unknownChoice } from '../util/errors.js';
import { assertEstimator, quantizeWithEstimator, type QuantizerForward } from './estimators.js';
import type {
  Estimator,
  QuantizeCapture,
  QuantizedEncoding,
  QuantizerConfig,
  WeightQuantizer,
} from './types.js';

/**
 * Common behaviour of the built-in quantizers: config handling and the custom-gradient
 * quantize(). A family supplies its forward (W̃, Ŵ, STE scale), W̃ alone, encode and a description.
 */
export abstract class QuantizerBase implements WeightQuantizer {
  abstract readonly name: string;
  abstract readonly bits: number;
  readonly estimator: Estimator;
  readonly perChannel: boolean;

  protected constructor(config: QuantizerConfig) {
    this.estimator = assertEstimator(config.estimator ?? 'ste');
    this.perChannel = config.perChannel ?? false;
  }

  getConfig(): QuantizerConfig {
    return { name: this.name, bits: this.bits, perChannel: this.perChannel, estimator: this.estimator };
  }

  quantize(w: Tensor, capture?: QuantizeCapture): Tensor {
    return quantizeWithEstimator(w, this.estimator, (latent) => this.forward(latent), capture);
  }

  preQuantize(w: Tensor): Tensor {
    return tf.tidy(() => this.preQuantizeValues(w));
  }

  get label(): string {
    return this.name;
  }

  /** A′ = 1: W̃ = W unless the family overrides A. */
  preQuantizeDerivative(w: Tensor): Tensor {
    return tf.onesLike(w);
  }

  get preQuantizeDerivativeFormula(): string {
    return 'W̃ = W: 1';
  }

  /** cal = 1 unless the family's pre-quantization map A is not the identity. */
  calibration(w: Tensor): Tensor {
    return tf.onesLike(w);
  }

  abstract encode(w: Tensor): QuantizedEncoding;

  /** Human-readable forward, backward and numeric conventions. */
  abstract describe(): string;

  /** Runs inside customGrad's tidy: every tensor it makes may be temporary. */
  protected abstract forward(w: Tensor): QuantizerForward;

  protected abstract preQuantizeValues(w: Tensor): Tensor;
}

/** A fixed bit width: `bits` may be omitted or must equal it. */
export function checkFixedBits(name: string, bits: number | undefined, fixed: number): void {
  if (bits !== undefined && bits !== fixed) throw unknownChoice(`${name} bits`, String(bits), [String(fixed)]);
}

/** Families whose scale is 1 reject `perChannel: true` instead of silently ignoring it. */
export function rejectPerChannel(name: string, perChannel: boolean | undefined): void {
  if (perChannel) throw new UsageError(`quantizer '${name}' has no scale, so perChannel is not supported; it applies to: bwn, ternary`);
}
