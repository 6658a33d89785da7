import { tf, type Tensor } from '../../engine/tf.js';
import { disposeMap } from '../tensor-state.js';

/** What one iteration recorded, per tensor name (for tests and the parity check against the reference traces). */
export interface MetaQuantTrace {
  wMeta: Map<string, Tensor>;
  bMeta: Map<string, Tensor>;
  metaGrad: Map<string, Tensor>;
  calibration: Map<string, Tensor>;
  /** δ = ∂L/∂W_meta through the quantizer's estimator. */
  steGrad: Map<string, Tensor>;
  /** Ŵ = Q(A(W_meta)) as the forward used it. */
  wHat: Map<string, Tensor>;
  metaParamGrads: Map<string, Tensor>;
}

/** An empty trace holding copies of this iteration's calibration. */
export function newTrace(calibration: Map<string, Tensor>): MetaQuantTrace {
  const copy = new Map([...calibration].map(([k, v]) => [k, tf.keep(v.clone())]));
  return { wMeta: new Map(), bMeta: new Map(), metaGrad: new Map(), calibration: copy, steGrad: new Map(), wHat: new Map(), metaParamGrads: new Map() };
}

/** Records a kept copy of `t` under `name`, if there is a trace. */
export function record(trace: MetaQuantTrace | null, field: keyof MetaQuantTrace, name: string, t: Tensor): void {
  if (trace) trace[field].set(name, tf.keep(t.clone()));
}

export function disposeTrace(t: MetaQuantTrace): void {
  for (const m of [t.wMeta, t.bMeta, t.metaGrad, t.calibration, t.steGrad, t.wHat, t.metaParamGrads]) disposeMap(m);
}
