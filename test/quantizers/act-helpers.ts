// Plain-JS references of the activation quantizers and LSQ (float32 at each step, as tfjs computes).
import { roundHalfEven } from './helpers.js';

const f = Math.fround;

/** y = s·clamp(round(x/s), 0, Q), its x-gate 1{0 ≤ x/s ≤ Q}, and v = x/s. */
export function uniformRef(x: ArrayLike<number>, step: number, maxCode: number) {
  const s = f(step);
  const v = Array.from(x, (xi) => f(xi / s));
  const codes = v.map((vi) => Math.min(Math.max(roundHalfEven(vi), 0), maxCode));
  return { v, codes, y: codes.map((c) => f(c * s)), gate: v.map((vi) => (vi >= 0 && vi <= maxCode ? 1 : 0)) };
}

/** LSQ's ∂L/∂s = g·Σ r·(q(v) − v·1{inside}), g = 1/√(N·Q_P). */
export function lsqStepGradRef(r: ArrayLike<number>, v: number[], q: number[], inside: number[], n: number, qp: number): number {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += r[i]! * (q[i]! - v[i]! * inside[i]!);
  return sum / Math.sqrt(n * qp);
}

/** Values mostly in [−1, 4] with exact grid points and the clip edges mixed in. */
export function sampleActivations(size: number, random: () => number, specials: number[] = []): Float32Array {
  const out = Float32Array.from({ length: size }, () => f(random() * 5 - 1));
  specials.forEach((s, j) => {
    if (j * 5 < size) out[j * 5] = s;
  });
  return out;
}
