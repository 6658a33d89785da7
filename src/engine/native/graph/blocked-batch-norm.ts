// Batch norm on blocked (NCHWc) activations with few passes over memory. onnxruntime's
// broadcasting elementwise ops are slow on [N, C/B, H, W, B] against [1, C/B, 1, 1, B] (~3× a
// plain pass), and a one-step reduction over axes 0, 2, 3 misses its fast reduction kernels
// (~17× slower than two steps), so: reductions in two steps (spatial, then batch), and every
// per-channel affine map x·s + t as a 1×1 depthwise blocked convolution, which also fuses the
// following ReLU and adds a second tensor for free. Training saves the centred c = x − μ and 1/σ.
//   forward   μ = mean(x), c = x − μ, σ² = mean(c²), y = c·(γ/σ) + β  [ReLU]
//   backward  dβ = Σ dy, Σdy·c; dγ = Σ(dy·c)/σ;
//             dx = (γ/σ)·dy + k₂·c + k₃,  k₂ = −(γ/σ)·dγ/(σM),  k₃ = −(γ/σ)·dβ/M
import type { GraphBuilder } from './builder.js';
import { NCHWC } from './nchwc.js';

/** A [1, C/B, 1, 1, B] vector as a depthwise filter [C, 1, 1, 1] (the same element order). */
const filter = (g: GraphBuilder, v: string, c: number) => g.reshape(v, [c, 1, 1, 1]);

/** x·w + b (+ sum) per channel, optionally through ReLU: one pass. */
function affine(g: GraphBuilder, x: string, c: number, w: string, b: string | null, opts: { sum?: string; relu?: boolean } = {}): string {
  const out = g.fresh('affine');
  const inputs = [x, filter(g, w, c), b ? g.reshape(b, [c]) : g.node('Expand', [g.scalar(0), g.ints([c])]), ...(opts.sum ? [opts.sum] : [])];
  g.nodes.push({ op: 'Conv', domain: NCHWC, inputs, outputs: [out], attrs: { group: c, kernel_shape: [1, 1] }, ...(opts.relu ? { stringAttrs: { activation: 'Relu' } } : {}) });
  return out;
}

/** Σ over batch and space of a blocked tensor viewed as `view` = [N, C/B, H, W, B]: [1, C/B, 1, 1, B]. */
function channelSum(g: GraphBuilder, x: string, view: number[], op: 'ReduceSum' | 'ReduceSumSquare' = 'ReduceSum'): string {
  // (Opset 13–17: ReduceSum takes its axes as an input, ReduceSumSquare as an attribute.)
  const viewed = g.reshape(x, view);
  const spatial = op === 'ReduceSum' ? g.node(op, [viewed, g.ints([2, 3])], undefined, { keepdims: 1 }) : g.node(op, [viewed], undefined, { axes: [2, 3], keepdims: 1 });
  return g.node('ReduceSum', [spatial, g.ints([0])], undefined, { keepdims: 1 });
}

export interface BlockedBnInputs {
  x: string;
  /** Logical [N, C, H, W] and the blocked view [N, C/B, H, W, B]. */
  dims: number[];
  view: number[];
  /** Per-channel vectors as graph values: γ, β [C] (and running statistics in inference). */
  gamma: string;
  beta: string;
}

/** Training forward: y (ReLU applied when `relu`), the batch μ and σ² as [1, C/B, 1, 1, B], and the saved c, 1/σ. */
export function blockedBnTrain(g: GraphBuilder, p: BlockedBnInputs, relu: boolean, epsilon: number): { y: string; mean: string; variance: string; centred: string; rstd: string } {
  const c = p.dims[1]!;
  const m = p.view[0]! * p.view[2]! * p.view[3]!;
  const vec = [1, p.view[1]!, 1, 1, p.view[4]!];
  const mean = g.node('Mul', [channelSum(g, p.x, p.view), g.scalar(1 / m)]);
  const ones = g.node('Expand', [g.scalar(1), g.ints(vec)]);
  const centred = affine(g, p.x, c, ones, g.node('Neg', [mean]));
  const variance = g.node('Mul', [channelSum(g, centred, p.view, 'ReduceSumSquare'), g.scalar(1 / m)]);
  const rstd = g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [variance, g.scalar(epsilon)])])]);
  const scale = g.node('Mul', [g.reshape(p.gamma, vec), rstd]);
  const y = affine(g, centred, c, scale, p.beta, { relu });
  return { y, mean, variance, centred, rstd };
}

/** Inference forward with running statistics: y = (x − μ_run)·γ/√(σ²_run + ε) + β [ReLU], one pass. */
export function blockedBnInfer(g: GraphBuilder, p: BlockedBnInputs, runMean: string, runVar: string, relu: boolean, epsilon: number): string {
  const c = p.dims[1]!;
  const scale = g.node('Mul', [p.gamma, g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [runVar, g.scalar(epsilon)])])])]);
  const shift = g.node('Sub', [p.beta, g.node('Mul', [runMean, scale])]);
  return affine(g, p.x, c, scale, shift, { relu });
}

/** Backward: dγ, dβ as [C] and dx (blocked), from dy, the saved c and 1/σ, and γ. */
export function blockedBnGrad(g: GraphBuilder, dy: string, centred: string, rstd: string, gamma: string, dims: number[], view: number[]): { dx: string; dgamma: string; dbeta: string } {
  const c = dims[1]!;
  const m = view[0]! * view[2]! * view[3]!;
  const vec = [1, view[1]!, 1, 1, view[4]!];
  const dbeta = channelSum(g, dy, view);
  const dyc = channelSum(g, g.node('Mul', [dy, centred]), view);
  const dgamma = g.node('Mul', [dyc, rstd]);
  const scale = g.node('Mul', [g.reshape(gamma, vec), rstd]);
  const k2 = g.node('Mul', [g.node('Mul', [scale, g.node('Mul', [dgamma, rstd])]), g.scalar(-1 / m)]);
  const k3 = g.node('Mul', [g.node('Mul', [scale, dbeta]), g.scalar(-1 / m)]);
  const dx = affine(g, dy, c, scale, k3, { sum: affine(g, centred, c, k2, null) });
  return { dx, dgamma: g.reshape(dgamma, [c]), dbeta: g.reshape(dbeta, [c]) };
}
