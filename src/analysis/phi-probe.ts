import { tf, type Tensor } from '../engine/tf.js';
import type { WeightHooks } from '../models/layers.js';
import type { LstmState } from '../meta/types.js';
import { phiValues, withPhi } from '../meta/phi-values.js';
import { crossEntropy } from '../train/loss.js';
import type { MetaQuantStep } from '../train/metaquant/step.js';

/**
 * The loss of the step's next iteration as a function of φ, built from the step's state alone
 * (W, G, g_Ŵ^{t−1}, W̃^{t−1}, LSTM state, φ) and written without any of the step's code, so that
 * its finite differences check the gradient the step applies. Build it before that step: the
 * probe copies what it reads, but its losses use the model's other live parameters.
 */
export interface PhiProbe {
  phi0: Map<string, Float32Array>;
  /**
   * 'surrogate': L with W_meta(φ) = W_meta⁰ − α·cal ⊙ (M_φ − M_φ₀), i.e. the value of
   *   W − α·(cal⊙M_φ + stopgrad(G − cal⊙M_φ)) with its φ-derivative, and Q replaced by its STE
   *   stand-in at W_meta⁰ (what the 'ste' φ-path differentiates);
   * 'eq8': Σ M_t ⊙ A′(W_meta⁰) ⊙ (W_meta(φ) − W_meta⁰), whose gradient is Eq. 8's
   *   M_φ(g_Ŵ^t, W̃^t)·∂W̃^t/∂φ (what the 'meta' φ-path applies);
   * 'quantized': the real network, L(Q(A(W_meta(φ)))).
   */
  loss(kind: PhiObjective, phi?: Map<string, Float32Array>): number;
  /** |value| the objective's float32 roundoff is proportional to (for the ε·scale/h floor). */
  roundoffScale(kind: PhiObjective): number;
  /** The factors of the chain φ → m → W_meta → W̃ → Ŵ → L at φ₀, per quantized kernel (owned by the probe). */
  readonly parts: PhiProbeParts;
  /** One backward pass at φ₀: g_Ŵ = ∂L/∂Ŵ, and δ = ∂L/∂W_meta through the quantizer's estimator (caller disposes). */
  backprop(): { gHat: Map<string, Tensor>; delta: Map<string, Tensor> };
  dispose(): void;
}

export type PhiObjective = 'surrogate' | 'eq8' | 'quantized';

export interface PhiProbeParts {
  /** W_meta(φ₀): the pre-quantization weight the forward uses (code: W − α·G; paper: W − α·π(cal⊙m₀)). */
  wMeta: Map<string, Tensor>;
  calibration: Map<string, Tensor>;
  /** m(φ₀) = M_φ₀(g_Ŵ^{t−1}, W̃^{t−1}), reshaped per kernel. */
  m0: Map<string, Tensor>;
  /** The meta network's inputs (flat, all kernels) and LSTM state (undefined = zeros). */
  inputs: { gHat: Tensor; wTilde: Tensor };
  state: LstmState | undefined;
}

/** Probes the iteration `step` takes next on (images, labels) at learning rate α. */
export function phiProbe(step: MetaQuantStep, images: Tensor, labels: Tensor, alpha: number): PhiProbe {
  const model = step.model;
  const q = model.quantizer!;
  const meta = step.metaNetwork;
  const kernels = model.quantizedKernels;
  if (!step.previousGHat(kernels[0]!)) throw new Error('the φ probe needs one completed iteration (no g_Ŵ yet)');
  const kept = (f: () => Tensor) => tf.keep(tf.tidy(f));
  const flatOf = (get: (kernel: string) => Tensor) => kept(() => tf.concat(kernels.map((l) => tf.reshape(get(l), [-1]))));
  const perKernel = (flat: Tensor) => {
    const parts = kernels.length === 1 ? [flat] : tf.split(flat, kernels.map((l) => model.params.get(l).size));
    return new Map(kernels.map((l, i) => [l, tf.reshape(parts[i]!, model.params.get(l).shape)]));
  };

  const calibration = new Map(kernels.map((l) => [l, kept(() => q.calibration(model.params.get(l)))]));
  const inputs = { gHat: flatOf((l) => step.previousGHat(l)!), wTilde: flatOf((l) => step.previousWTilde(l)!) };
  const state = step.lstmState ? { h: kept(() => step.lstmState!.h.clone()), c: kept(() => step.lstmState!.c.clone()) } : undefined;
  const metaOutput = () => perKernel(meta.forward(inputs, state).metaGrad);
  const m0 = new Map<string, Tensor>();
  tf.tidy(() => {
    for (const [l, m] of metaOutput()) m0.set(l, tf.keep(m));
  });
  // The look-ahead value: code mode W − α·G, paper mode the post-update weight W − α·π(cal ⊙ m₀).
  const wMeta = new Map(
    kernels.map((l) => {
      const w = model.params.get(l);
      const direction = () => (step.mode === 'code' ? step.lookaheadDirection(l)! : step.baseOptimizer.peekDirection(l, w, tf.mul(calibration.get(l)!, m0.get(l)!)));
      return [l, kept(() => tf.sub(w, tf.mul(direction(), alpha)))];
    }),
  );
  // Code mode gives the biases of quantized layers the value-only look-ahead b − α·G_b.
  const biases = new Map<string, Tensor>();
  if (step.mode === 'code') {
    for (const name of model.params.names((p) => p.role === 'bias')) {
      const g = step.lookaheadDirection(name);
      if (g) biases.set(name, kept(() => tf.sub(model.params.get(name), tf.mul(g, alpha))));
    }
  }
  // W_meta(φ): value W_meta⁰ at φ₀, φ-derivative −α·cal ⊙ ∂M_φ/∂φ.
  const wMetaAt = (m: Map<string, Tensor>, l: string) => tf.sub(wMeta.get(l)!, tf.mul(tf.mul(calibration.get(l)!, tf.sub(m.get(l)!, m0.get(l)!)), alpha));
  // Q's STE stand-in at W_meta⁰: its value plus the estimator's slope times the displacement.
  const steValue = new Map(kernels.map((l) => [l, kept(() => q.quantize(wMeta.get(l)!))]));
  const steSlope = new Map(kernels.map((l) => [l, kept(() => tf.grad((w: Tensor) => tf.sum(q.quantize(w)))(wMeta.get(l)!))]));

  const forwardLoss = (kernel: (l: string, w: Tensor) => Tensor) => {
    const hooks: WeightHooks = { kernel: (name, w) => (kernels.includes(name) ? kernel(name, w) : w), bias: (name, b) => biases.get(name) ?? b };
    return crossEntropy(model.forward(images, hooks, true, { updateStatistics: false }), labels) as tf.Scalar;
  };
  const backprop = () => {
    const wHats = kernels.map((l) => q.quantize(wMeta.get(l)!));
    const at = (ws: Tensor[], wrap: (w: Tensor) => Tensor) => forwardLoss((l) => wrap(ws[kernels.indexOf(l)]!));
    const gHat = tf.grads((...ws: Tensor[]) => at(ws, (w) => w))(wHats);
    const delta = tf.grads((...ws: Tensor[]) => at(ws, (w) => q.quantize(w)))(kernels.map((l) => wMeta.get(l)!));
    tf.dispose(wHats);
    return { gHat: new Map(kernels.map((l, i) => [l, gHat[i]!])), delta: new Map(kernels.map((l, i) => [l, delta[i]!])) };
  };

  // Eq. 8's weights M_t ⊙ A′(W_meta⁰): M_t is the meta network at this iteration's (g_Ŵ^t, W̃^t),
  // with the LSTM state its call on last iteration's inputs produces. Built on first use.
  let eq8Weights: Map<string, Tensor> | null = null;
  const eq8 = () => {
    if (eq8Weights) return eq8Weights;
    const { gHat, delta } = backprop();
    tf.dispose([...delta.values()]);
    eq8Weights = new Map();
    tf.tidy(() => {
      const next = meta.forward(inputs, state).state;
      const now = { gHat: tf.concat(kernels.map((l) => tf.reshape(gHat.get(l)!, [-1]))), wTilde: tf.concat(kernels.map((l) => tf.reshape(q.preQuantize(wMeta.get(l)!), [-1]))) };
      for (const [l, mt] of perKernel(meta.forward(now, next).metaGrad)) eq8Weights!.set(l, tf.keep(tf.mul(mt, q.preQuantizeDerivative(wMeta.get(l)!))));
    });
    tf.dispose([...gHat.values()]);
    return eq8Weights;
  };

  const objective = (kind: PhiObjective): tf.Scalar => {
    const m = metaOutput();
    if (kind === 'eq8') return tf.addN(kernels.map((l) => tf.sum(tf.mul(eq8().get(l)!, tf.sub(wMetaAt(m, l), wMeta.get(l)!))))) as tf.Scalar;
    if (kind === 'quantized') return forwardLoss((l) => q.quantize(wMetaAt(m, l)));
    return forwardLoss((l) => tf.add(steValue.get(l)!, tf.mul(steSlope.get(l)!, tf.sub(wMetaAt(m, l), wMeta.get(l)!))));
  };
  const metaParams = meta.params;
  return {
    phi0: phiValues(metaParams),
    parts: { wMeta, calibration, m0, inputs, state },
    backprop,
    loss: (kind, phi) => {
      if (kind === 'eq8') eq8();
      return withPhi(metaParams, phi, () => tf.tidy(() => objective(kind).dataSync()[0]!));
    },
    roundoffScale: (kind) => {
      if (kind !== 'eq8') return Math.abs(tf.tidy(() => objective(kind).dataSync()[0]!));
      const weights = eq8();
      return tf.tidy(() => tf.addN(kernels.map((l) => tf.sum(tf.abs(tf.mul(weights.get(l)!, wMeta.get(l)!))))).dataSync()[0]!);
    },
    dispose: () => {
      tf.dispose([inputs.gHat, inputs.wTilde, ...m0.values(), ...wMeta.values(), ...calibration.values(), ...biases.values(), ...steValue.values(), ...steSlope.values()]);
      if (state) tf.dispose([state.h, state.c]);
      if (eq8Weights) tf.dispose([...eq8Weights.values()]);
    },
  };
}
