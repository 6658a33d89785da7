import { tf, type Tensor } from '../engine/tf.js';
import { disposingScope } from '../engine/ops.js';
import { UsageError, unknownChoice } from '../util/errors.js';
import { rejectPerChannel } from './base.js';
import { assertEstimator, codesFrom, float32From } from './estimators.js';
import { lsqLevel, lsqQuantize, type LsqGrid } from './lsq-grid.js';
import type { Estimator, QuantizedEncoding, QuantizerConfig, WeightQuantizer } from './types.js';

export const LSQ_BITS = [1, 2, 3, 4, 5, 6, 7, 8] as const;

/** Why MetaQuant cannot train LSQ weights (the config check and the quantizer say the same). */
export const LSQ_METAQUANT_REASON =
  "MetaQuant's update (spec §6) moves the latent W with the meta network's gradient from dL/dŴ and a calibration fixed by the quantizer family; " +
  "LSQ's Ŵ = s·q(W/s) also depends on a learned step s that this update has no gradient for (the look-ahead moves W, never s) and whose calibration changes every step";

/** The signed LSQ grid of a k-bit weight: [−2^(k−1), 2^(k−1) − 1], and ±1 (sign) at one bit. */
export function lsqWeightGrid(bits: number): LsqGrid {
  return bits === 1 ? { qn: 1, qp: 1, binary: true } : { qn: 2 ** (bits - 1), qp: 2 ** (bits - 1) - 1, binary: false };
}

/** A quantizer whose Ŵ depends on a learned per-layer step held next to the kernel. */
export interface LearnedStepQuantizer extends WeightQuantizer {
  readonly learnsStep: true;
  /** The step a kernel starts from. */
  initialStep(w: Float32Array): number;
  quantizeWithStep(w: Tensor, step: Tensor): Tensor;
  encodeWithStep(w: Tensor, step: Tensor): QuantizedEncoding;
}

export function learnsStep(q: WeightQuantizer | null): q is LearnedStepQuantizer {
  return (q as Partial<LearnedStepQuantizer> | null)?.learnsStep === true;
}

/**
 * LSQ weights (Esser et al. 2020): Ŵ = s·clamp(round(W/s), −Q_N, Q_P), s learned per layer with
 * gradient scale 1/√(N·Q_P), N = the kernel's size. At 1 bit Ŵ = s·sign(W/s) ∈ {−s, +s}.
 * Initial s = 2·mean|W|/√Q_P (the paper's rule), mean|W| at 1 bit (the binary optimum).
 */
export class LsqQuantizer implements LearnedStepQuantizer {
  readonly name = 'lsq';
  readonly learnsStep = true as const;
  readonly bits: number;
  readonly estimator: Estimator;
  readonly preQuantizeDerivativeFormula = 'W̃ = W: 1';
  private readonly grid: LsqGrid;

  constructor(config: Omit<QuantizerConfig, 'name'> = {}) {
    const bits = config.bits ?? 1;
    if (!(LSQ_BITS as readonly number[]).includes(bits)) throw unknownChoice('lsq bits', String(bits), LSQ_BITS.map(String));
    rejectPerChannel('lsq', config.perChannel);
    this.bits = bits;
    this.estimator = assertEstimator(config.estimator ?? 'ste');
    this.grid = lsqWeightGrid(bits);
  }

  get label(): string {
    return `lsq ${this.bits}-bit`;
  }

  getConfig(): QuantizerConfig {
    return { name: this.name, bits: this.bits, perChannel: false, estimator: this.estimator };
  }

  initialStep(w: Float32Array): number {
    let sum = 0;
    for (const x of w) sum += Math.abs(x);
    const meanAbs = w.length ? sum / w.length : 0;
    const step = this.grid.binary ? meanAbs : (2 * meanAbs) / Math.sqrt(this.grid.qp);
    return step > 0 ? step : 1; // an all-zero kernel still needs a usable step
  }

  quantizeWithStep(w: Tensor, step: Tensor): Tensor {
    return lsqQuantize(w, step, this.grid, w.size);
  }

  encodeWithStep(w: Tensor, step: Tensor): QuantizedEncoding {
    return disposingScope(() => {
      const level = lsqLevel(tf.div(w, step), this.grid);
      const levels = this.grid.binary ? [-1, 1] : Array.from({ length: this.grid.qn + this.grid.qp + 1 }, (_, i) => i - this.grid.qn);
      const codes = this.grid.binary ? tf.greater(level, 0) : tf.add(level, this.grid.qn);
      return { bits: this.bits, codes: codesFrom(codes), levels: Float32Array.from(levels), scales: float32From(step) };
    });
  }

  private needsStep(): never {
    throw new UsageError(`quantizer 'lsq' learns a step per layer; use the model's kernel quantization (quantizeKernel / encodeKernel), not quantize(w) alone. ${LSQ_METAQUANT_REASON}`);
  }

  quantize(): Tensor {
    return this.needsStep();
  }

  encode(): QuantizedEncoding {
    return this.needsStep();
  }

  preQuantize(w: Tensor): Tensor {
    return w.clone();
  }

  calibration(w: Tensor): Tensor {
    return tf.onesLike(w);
  }

  preQuantizeDerivative(w: Tensor): Tensor {
    return tf.onesLike(w);
  }

  describe(): string {
    return [
      `lsq ${this.bits}-bit weights: W^ = s*${this.grid.binary ? 'sign(W/s)' : `clamp(round(W/s), -${this.grid.qn}, ${this.grid.qp})`}, s learned per layer,`,
      `  initial s = ${this.grid.binary ? 'mean|W|' : `2*mean|W|/sqrt(${this.grid.qp})`};`,
      `  backward dL/dW = g * 1{-${this.grid.qn} <= W/s <= ${this.grid.qp}}; dL/ds = sum of g * (q(W/s) - W/s * 1{inside}) / sqrt(N*${this.grid.qp}), N = kernel size.`,
      `  MetaQuant cannot train it: ${LSQ_METAQUANT_REASON}.`,
    ].join('\n');
  }
}
