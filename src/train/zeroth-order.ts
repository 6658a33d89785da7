import type { Rng } from '../util/rng.js';
import { ZO_METHODS, type ZerothOrderMethod } from '../config/choices.js';

/** The choices live with the config (config/choices.ts), below the training code. */
export { ZO_METHODS, type ZerothOrderMethod };

export interface ZerothOrderOptions {
  /** 'spsa': Rademacher (±1) directions; 'es': antithetic standard-normal directions. */
  method: ZerothOrderMethod;
  /** Antithetic pairs per estimate (each costs two objective evaluations). */
  samples: number;
  /**
   * Perturbation size relative to each tensor's root-mean-square value: tensor k moves by
   * s_k·Δ with s_k = scale·rms(φ_k) (s_k = scale where the tensor is all zeros), so one
   * setting suits tensors of very different magnitudes.
   */
  scale: number;
}

export interface ZerothOrderEstimate {
  /** The gradient estimate, per tensor. */
  grads: Map<string, Float32Array>;
  /** Fraction of pairs whose two losses were exactly equal (a piecewise-constant objective often gives 0). */
  zeroFraction: number;
  /** Mean |J(φ+sΔ) − J(φ−sΔ)| over the pairs. */
  meanAbsDifference: number;
}

/**
 * Two-point (antithetic) zeroth-order gradient estimate of J at φ:
 *   ĝ_i = (1/N) Σ_k [J(φ + s∘Δ_k) − J(φ − s∘Δ_k)] / 2 · Δ_k,i / s_i,
 * with Δ_k Rademacher (SPSA, Spall 1992) or standard normal (antithetic evolution strategies).
 * Both have E[ΔΔᵀ] = I, so for a smooth J, E[ĝ] = ∇J(φ) + O(s²): only loss values are used,
 * never a derivative. Directions come from `rng`, whose state the caller saves for resume.
 */
export function zerothOrderGradient(
  phi: Map<string, Float32Array>,
  objective: (phi: Map<string, Float32Array>) => number,
  options: ZerothOrderOptions,
  rng: Rng,
): ZerothOrderEstimate {
  const scales = new Map([...phi].map(([k, v]) => [k, perturbationScale(v, options.scale)]));
  const grads = new Map([...phi].map(([k, v]) => [k, new Float32Array(v.length)]));
  let zeros = 0;
  let absSum = 0;
  for (let sample = 0; sample < options.samples; sample++) {
    const directions = new Map([...phi].map(([k, v]) => [k, drawDirection(v.length, options.method, rng)]));
    const shifted = (sign: 1 | -1) => new Map([...phi].map(([k, v]) => [k, Float32Array.from(v, (x, i) => x + sign * scales.get(k)! * directions.get(k)![i]!)]));
    const difference = objective(shifted(1)) - objective(shifted(-1));
    if (difference === 0) zeros++;
    absSum += Math.abs(difference);
    for (const [k, g] of grads) {
      const d = directions.get(k)!;
      const factor = difference / (2 * scales.get(k)! * options.samples);
      for (let i = 0; i < g.length; i++) g[i] = g[i]! + factor * d[i]!;
    }
  }
  return { grads, zeroFraction: zeros / options.samples, meanAbsDifference: absSum / options.samples };
}

function perturbationScale(values: Float32Array, relative: number): number {
  let sq = 0;
  for (const v of values) sq += v * v;
  const rms = Math.sqrt(sq / Math.max(1, values.length));
  return relative * (rms > 0 ? rms : 1);
}

function drawDirection(n: number, method: ZerothOrderMethod, rng: Rng): Float64Array {
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = method === 'spsa' ? (rng.next() < 0.5 ? -1 : 1) : rng.normal();
  return d;
}
