import { tf, type Variable } from '../engine/tf.js';

/** φ as plain values, one Float32Array per tensor (for finite differences and loss-difference estimates). */
export function phiValues(params: Map<string, Variable>): Map<string, Float32Array> {
  return new Map([...params].map(([k, v]) => [k, Float32Array.from(v.dataSync())]));
}

/**
 * Runs `f` with φ set to `phi` (tensors it does not name keep their value), then restores φ
 * bit for bit, also when `f` throws. Without `phi`, just runs `f`.
 */
export function withPhi<T>(params: Map<string, Variable>, phi: Map<string, Float32Array> | undefined, f: () => T): T {
  if (!phi) return f();
  const saved = new Map([...phi.keys()].map((k) => [k, tf.keep(params.get(k)!.clone())]));
  tf.tidy(() => {
    for (const [k, v] of phi) params.get(k)!.assign(tf.tensor(v, params.get(k)!.shape));
  });
  try {
    return f();
  } finally {
    for (const [k, v] of saved) {
      params.get(k)!.assign(v);
      v.dispose();
    }
  }
}
