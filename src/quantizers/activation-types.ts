// Activation quantizers: what quantizes a quantized layer's input (Larq's `input_quantizer`).
// Unlike weight quantizers they see a fresh tensor each batch, and PACT and LSQ own a learned
// scalar per layer (the clip α, the step s), which lives in the model's ParamStore.
import type { Tensor } from '../engine/tf.js';

/** Serialisable description of an activation quantizer (stored in model configs and exports). */
export interface ActQuantizerConfig {
  /** Registered name: 'sign' | 'dorefa' | 'pact' | 'lsq' (or a user-registered one). */
  name: string;
  /** Bit width of the quantized activation (1..8); sign is always 1. */
  bits?: number;
}

/**
 * How a deployed network computes the quantizer with stock operations, its learned scalar fixed:
 * 'sign': y = +1 where x ≥ 0, else −1;
 * 'uniform': y = step·clamp(round_half_even(x / step), 0, maxCode) (unsigned, zero point 0).
 */
export type ActDeployment = { kind: 'sign' } | { kind: 'uniform'; step: number; maxCode: number };

/** The learned scalar a quantizer owns per layer: its parameter-name suffix and initial value. */
export interface LearnedActScalar {
  /** `${layer}/${suffix}` in the ParamStore, e.g. 'fc2/actAlpha'. */
  suffix: 'actAlpha' | 'actStep';
  initial: number;
}

export interface ActivationQuantizer {
  readonly name: string;
  readonly bits: number;
  /** 'pact 2-bit', 'sign'. */
  readonly label: string;
  /** null for quantizers without a learned scalar (sign, dorefa). */
  readonly learned: LearnedActScalar | null;
  getConfig(): ActQuantizerConfig;
  /**
   * The quantized activation with the quantizer's pseudo-gradient; `scale` is the layer's learned
   * scalar (a [1] tensor) for PACT/LSQ, whose gradient it also provides.
   */
  quantize(x: Tensor, scale?: Tensor): Tensor;
  /** The stock-op form for exports, given the learned scalar's value. */
  deployment(scale?: number): ActDeployment;
  /** Forward and backward in words. */
  describe(): string;
}
