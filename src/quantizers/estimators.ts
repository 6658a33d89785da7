// Shared pieces of every weight quantizer: the rounding and sign conventions, the hardtanh gate
// of the clipped estimator, per-layer / per-output-channel reductions, and the custom-gradient
// wrapper that turns a forward (W̃, Ŵ, STE scale) into Ŵ with the estimator's backward.
import { tf, type Tensor } from '../engine/tf.js';
import { unknownChoice } from '../util/errors.js';
import { ESTIMATORS, type Estimator, type QuantizeCapture } from './types.js';

/**
 * One-line meaning of each estimator, used by `describeQuantizer`.
 * 'clipped-ste' multiplies the 'ste' gradient by the hardtanh gate 1{|W| ≤ 1} on the latent
 * weight W (the BNN convention). For BWN the two coincide because the reference's STE is
 * already gated; for dorefa the gate is on W, not on W̃ ∈ [0, 1], so it does bite there.
 */
export const ESTIMATOR_DESCRIPTIONS: Readonly<Record<Estimator, string>> = {
  ste: 'straight-through: the derivative of round/sign is taken as 1',
  'clipped-ste': "straight-through gated by the hardtanh window: the 'ste' gradient times 1{|W| <= 1} on the latent weight W",
};

export function assertEstimator(value: unknown): Estimator {
  if (typeof value === 'string' && (ESTIMATORS as readonly string[]).includes(value)) return value as Estimator;
  throw unknownChoice('estimator', String(value), ESTIMATORS);
}

/**
 * Round half to even (0.5 → 0, 1.5 → 2, 2.5 → 2), the reference's torch.round convention.
 * tf.round already behaves this way on the cpu and wasm backends (the quantizer tests check it
 * on both), so no hand-written rounding is needed.
 */
export function roundHalfToEven(x: Tensor): Tensor {
  return tf.round(x);
}

/**
 * sign with sign(0) = 0, the reference's convention (BWN, ternary). Built from comparisons
 * because tf.sign on the wasm backend (tfjs 4.22) returns 0 for |x| below about 1e-6, where
 * cpu returns ±1; the tests check that tiny weights keep their sign on both.
 */
export function signZeroIsZero(x: Tensor): Tensor {
  return tf.tidy(() => tf.sub(tf.cast(tf.greater(x, 0), 'float32'), tf.cast(tf.less(x, 0), 'float32')));
}

/** sign with sign(0) = +1 (also for −0), so the result is truly binary (BNN-style sign). */
export function signZeroIsPlusOne(x: Tensor): Tensor {
  return tf.tidy(() => {
    const ones = tf.onesLike(x);
    return tf.where(tf.greaterEqual(x, 0), ones, tf.neg(ones));
  });
}

/** The hardtanh window 1{|W| ≤ 1} as float32 0/1 (|W| = 1 is inside). */
export function hardtanhGate(w: Tensor): Tensor {
  return tf.tidy(() => tf.cast(tf.lessEqual(tf.abs(w), 1), 'float32'));
}

/**
 * Reduces over the whole tensor (a scalar) or, with `perChannel`, over every axis but the last
 * (shape [out], which broadcasts against the weight since the output channel is the last axis).
 */
export function reduceForScale(x: Tensor, perChannel: boolean, op: 'mean' | 'sum'): Tensor {
  return tf.tidy(() => {
    if (!perChannel || x.rank === 0) return op === 'mean' ? tf.mean(x) : tf.sum(x);
    const channels = x.shape[x.rank - 1]!;
    const rows = tf.reshape(x, [-1, channels]);
    return op === 'mean' ? tf.mean(rows, 0) : tf.sum(rows, 0);
  });
}

/** mean|W| per layer (scalar) or per output channel ([out]). */
export function meanAbs(w: Tensor, perChannel: boolean): Tensor {
  return tf.tidy(() => reduceForScale(tf.abs(w), perChannel, 'mean'));
}

/** What a quantizer's forward computes; `steScale` is ∂Ŵ/∂W under plain 'ste' (broadcastable to W). */
export interface QuantizerForward {
  wTilde: Tensor;
  wHat: Tensor;
  steScale: Tensor;
}

/** Replaces a captured tensor with a kept clone of `value`, disposing what was there before. */
export function storeCaptured(capture: QuantizeCapture, key: keyof QuantizeCapture, value: Tensor): void {
  const previous = capture[key];
  capture[key] = tf.keep(value.clone());
  previous?.dispose(); // a no-op if the caller already disposed it
}

/**
 * Ŵ = forward(W).wHat whose gradient with respect to W is dy ⊙ steScale, times the hardtanh
 * gate for 'clipped-ste'. With a capture, the forward records W̃ and the backward records
 * dy = ∂L/∂Ŵ, which is how the MetaQuant trainer gets both from one ordinary backward pass.
 */
export function quantizeWithEstimator(
  w: Tensor,
  estimator: Estimator,
  forward: (w: Tensor) => QuantizerForward,
  capture?: QuantizeCapture,
): Tensor {
  // customGrad runs `f` inside a tidy; only `value`, saved tensors and kept captures survive it.
  const op = tf.customGrad((latentArg, saveArg) => {
    const latent = latentArg as Tensor;
    const save = saveArg as tf.GradSaveFunc;
    const { wTilde, wHat, steScale } = forward(latent);
    if (capture) storeCaptured(capture, 'wTilde', wTilde);
    const backwardScale = estimator === 'clipped-ste' ? tf.mul(steScale, hardtanhGate(latent)) : steScale;
    save([backwardScale]);
    return {
      value: wHat,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        if (capture) storeCaptured(capture, 'gHat', dy);
        return tf.mul(dy, saved[0]!);
      },
    };
  });
  return op(w);
}

/** Reads an int-valued tensor into a Uint8Array of codes. */
export function codesFrom(codes: Tensor): Uint8Array {
  return Uint8Array.from(codes.dataSync() as ArrayLike<number>);
}

/** A tensor's values as a Float32Array (a copy). */
export function float32From(x: Tensor): Float32Array {
  return Float32Array.from(x.dataSync() as ArrayLike<number>);
}
