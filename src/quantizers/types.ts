import type { Tensor } from '../engine/tf.js';

/** Pseudo-gradient used to back-propagate through the quantizer's rounding/sign. */
export const ESTIMATORS = ['ste', 'clipped-ste'] as const;
export type Estimator = (typeof ESTIMATORS)[number];

/** Serialisable description of a weight quantizer (what `getConfig` returns, what the registry builds from). */
export interface QuantizerConfig {
  /** Registered name: 'dorefa' | 'bwn' | 'ternary' | 'sign' (or a user-registered one). */
  name: string;
  /** Bit width of Ŵ; meaningful for dorefa (1..8); fixed for the others. */
  bits?: number;
  /** BWN/ternary: one scale per output channel (last axis) instead of one per layer. */
  perChannel?: boolean;
  /** Backward estimator; default 'ste'. */
  estimator?: Estimator;
}

/**
 * Where a quantizer records what MetaQuant needs from one forward/backward pass:
 * the pre-quantized weights W̃ (set in the forward) and ∂L/∂Ŵ (set in the backward).
 * Recorded tensors are `tf.keep`-ed clones owned by the caller, who disposes them.
 */
export interface QuantizeCapture {
  wTilde?: Tensor;
  gHat?: Tensor;
}

/**
 * Ŵ in deployable form: integer codes and a code book, so that
 * Ŵ[i] = scales[channel(i)] * levels[codes[i]], where channel(i) = i mod scales.length
 * (the last axis is the output channel, row-major) and scales.length is 1 for per-layer scales.
 */
export interface QuantizedEncoding {
  bits: number;
  codes: Uint8Array;
  levels: Float32Array;
  scales: Float32Array;
}

/**
 * A weight quantizer: W̃ = A(W), Ŵ = Q(W̃), with a custom gradient (the estimator) from Ŵ to W.
 * It knows nothing about training.
 */
export interface WeightQuantizer {
  readonly name: string;
  readonly bits: number;
  readonly estimator: Estimator;
  /** How logs, reports and exports name it: 'dorefa 2-bit', 'bwn'. */
  readonly label: string;
  getConfig(): QuantizerConfig;
  /** W̃ = A(W), plain values. */
  preQuantize(w: Tensor): Tensor;
  /** Ŵ = Q(A(W)) whose gradient with respect to `w` is the estimator's. */
  quantize(w: Tensor, capture?: QuantizeCapture): Tensor;
  /** MetaQuant's calibration cal(W), elementwise, spec §3 (dorefa: (1−tanh²W)/max|tanh W|; BWN: 1). */
  calibration(w: Tensor): Tensor;
  /** A′ = ∂W̃/∂W elementwise, layer statistics held constant (dorefa: (1 − tanh²W)/(2·max|tanh W|) = cal/2; W̃ = W: 1). */
  preQuantizeDerivative(w: Tensor): Tensor;
  /** A′ in words, for reports. */
  readonly preQuantizeDerivativeFormula: string;
  /** Ŵ as integer codes + code book, for packed export. */
  encode(w: Tensor): QuantizedEncoding;
}
