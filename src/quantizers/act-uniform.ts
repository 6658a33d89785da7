// The unsigned uniform grid the k-bit activation quantizers share (DoReFa, PACT, LSQ):
// y = step·clamp(round(x/step), 0, Q) with Q = 2^k − 1, rounding half to even. Written as
// x/step (a division, not x·(1/step)) so that ONNX QuantizeLinear computes the same float32 values.
import { tf, type Tensor } from '../engine/tf.js';
import { unknownChoice, UsageError } from '../util/errors.js';
import { roundHalfToEven } from './estimators.js';

export const ACT_BITS = [1, 2, 3, 4, 5, 6, 7, 8] as const;

/** Checks a k-bit activation quantizer's width (default 1 is not assumed: callers pass their default). */
export function checkActBits(name: string, bits: number): number {
  if (!(ACT_BITS as readonly number[]).includes(bits)) throw unknownChoice(`${name} activation bits`, String(bits), ACT_BITS.map(String));
  return bits;
}

/** Q = 2^k − 1, the largest code of an unsigned k-bit grid. */
export const maxCodeOf = (bits: number): number => 2 ** bits - 1;

/** v = x/step and the codes clamp(round(v), 0, Q); both as tensors (the caller's tidy owns them). */
export function uniformCodes(x: Tensor, step: Tensor | number, maxCode: number): { v: Tensor; codes: Tensor } {
  const v = tf.div(x, step);
  return { v, codes: tf.clipByValue(roundHalfToEven(v), 0, maxCode) };
}

/** 1{0 ≤ v ≤ Q} as float 0/1: where the straight-through gradient passes. */
export function insideGate(v: Tensor, maxCode: number): Tensor {
  return tf.cast(tf.logicalAnd(tf.greaterEqual(v, 0), tf.lessEqual(v, maxCode)), 'float32');
}

/** The learned scalar a quantizer was handed, or a clear error when the caller forgot it. */
export function requireScale(name: string, scale: Tensor | undefined): Tensor {
  if (!scale) throw new UsageError(`activation quantizer '${name}' learns a per-layer scalar; quantize() needs it`);
  return scale;
}
