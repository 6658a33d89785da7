// What a MetaQuantStep holds before an iteration, copied to float64: the input of the float64
// oracles (test/helpers/metaquant64.ts) in the φ-gradient and φ-objective tests. Reads the step's
// state only; computes nothing the oracles check.
import type { Tensor } from '../../src/engine/tf.js';
import type { MetaQuantStep } from '../../src/train/metaquant/step.js';
import type { MetaNetwork } from '../../src/meta/types.js';
import type { QuantizedModel } from '../../src/models/model.js';
import type { Lstm64, Phi } from './metaquant64.js';

/** The quantized kernels of the tiny two-layer MLP both tests train. */
export const KERNELS = ['fc1/kernel', 'fc2/kernel'];

/** What the step holds before an iteration, as float64 copies. */
export interface Before {
  w: Float64Array[];
  bias: Float64Array;
  g: Float64Array[] | null;
  gBias: Float64Array | null;
  gHatPrev: Float64Array;
  wTildePrev: Float64Array;
  lstm: Lstm64 | null;
  phi: Phi;
}

export const f64 = (t: Tensor) => Float64Array.from(t.dataSync());
export const concat = (parts: Float64Array[]) => Float64Array.from(parts.flatMap((p) => Array.from(p)));

export function before(step: MetaQuantStep, model: QuantizedModel, meta: MetaNetwork): Before {
  const g = step.lookaheadDirection(KERNELS[0]!) ? KERNELS.map((k) => f64(step.lookaheadDirection(k)!)) : null;
  const gb = step.lookaheadDirection('fc2/bias');
  return {
    w: KERNELS.map((k) => f64(model.params.get(k))),
    bias: f64(model.params.get('fc2/bias')),
    g,
    gBias: gb ? f64(gb) : null,
    gHatPrev: concat(KERNELS.map((k) => f64(step.previousGHat(k)!))),
    wTildePrev: concat(KERNELS.map((k) => f64(step.previousWTilde(k)!))),
    lstm: step.lstmState ? { h: f64(step.lstmState.h), c: f64(step.lstmState.c) } : null,
    phi: new Map([...meta.params].map(([k, v]) => [k, { shape: v.shape.slice(), data: f64(v) }])),
  };
}
