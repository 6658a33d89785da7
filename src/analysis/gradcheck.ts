import { tf, type Tensor } from '../engine/tf.js';
import { useBackend } from '../engine/backend.js';
import { batchCount, epochOrder } from '../data/pipeline.js';
import { batchTensors } from '../data/batch-tensors.js';
import { QuantizedModel } from '../models/model.js';
import { parseTrainConfig, type TrainConfig } from '../config/schema.js';
import { createStep, datasetFor, modelConfigFor } from '../train/factory.js';
import { MetaQuantStep } from '../train/metaquant/step.js';
import { phiProbe, type PhiObjective, type PhiProbe } from './phi-probe.js';
import { Rng } from '../util/rng.js';
import { UsageError } from '../util/errors.js';
import type { WeightQuantizer } from '../quantizers/types.js';

export interface GradcheckOptions {
  /** Training config (the `train` flags); the method must be metaquant. */
  config: unknown;
  /** Ordinary MetaQuant steps before the probed batch (at least 1: the meta network needs a previous g_Ŵ). */
  warmupSteps?: number;
  /** Central-difference step for (b), relative to each φ tensor's RMS. */
  fdStep?: number;
  /** Steps for (c), relative to each φ tensor's RMS. */
  quantizedSteps?: number[];
  /** Coordinates checked per φ tensor (chosen by a seeded draw; all when the tensor is smaller). */
  coordinates?: number;
  /**
   * Called as the check advances (it takes minutes with the LSTM meta network): `stage` names the
   * part running, `done` of `total` counts its units (steps or loss evaluations).
   */
  onProgress?(p: GradcheckProgress): void;
}

export interface GradcheckProgress {
  stage: string;
  done: number;
  total: number;
}

export interface ChainTerm {
  symbol: string;
  meaning: string;
  /** Frobenius norm over all quantized kernels; null where the factor is not a tensor the step forms. */
  norm: number | null;
}

/** 'autodiff' below is the φ-gradient the step hands to its meta optimizer (the key names predate that). */
export interface SurrogateCheck {
  tensor: string;
  size: number;
  checked: number;
  /** ‖fd − applied‖ / max(‖fd‖, ‖applied‖) over the checked coordinates. */
  relativeError: number;
  cosine: number;
  autodiffNorm: number;
  fdNorm: number;
  /** float32 roundoff of a central difference: ε·|L| / h (differences below it are noise). */
  roundoffFloor: number;
  /** The whole tensor at once, along a seeded Rademacher direction v: applied·v and (L(φ+hv) − L(φ−hv))/2h. */
  directional: { autodiff: number; fd: number; relativeError: number };
}

export interface QuantizedCheck {
  /** Step relative to each tensor's RMS. */
  step: number;
  differences: number;
  /** Fraction of central differences L_q(φ + h e_i) − L_q(φ − h e_i) that are exactly zero. */
  zeroFraction: number;
  maxAbsDifference: number;
  /** max |difference| / 2h: the largest finite-difference slope seen. */
  maxAbsSlope: number;
}

export interface GradcheckReport {
  setup: Record<string, string | number>;
  /** autodiffNorms: ‖∂L/∂φ‖ per tensor as the step applies it. */
  chain: { formula: string[]; terms: ChainTerm[]; autodiffNorms: Record<string, number> };
  /** objective: 'surrogate' (the STE surrogate; φ-paths ste and zeroth-order) or 'eq8' (φ-path meta). */
  surrogate: { fdStep: number; objective: PhiObjective; tensors: SurrogateCheck[] };
  quantized: QuantizedCheck[];
  /** Warnings about checks that float32 cannot resolve. */
  notes: string[];
}

/**
 * What ∂L/∂φ is (spec §8, questions 1 and 4), measured on one batch: (a) the chain from φ to the
 * loss, factor by factor, (b) the φ-gradient the step itself hands to its meta optimizer against
 * central differences of the objective that φ-path differentiates, built by the φ probe from the
 * step's state without the step's code (the STE surrogate, or Eq. 8's objective for
 * `--phi-path meta`), and (c) central differences of the true quantized loss, which is piecewise
 * constant in φ. Everything the probe measures is taken before the probed step runs.
 */
export async function gradcheck(opts: GradcheckOptions): Promise<GradcheckReport> {
  const config = parseTrainConfig(opts.config);
  if (config.method !== 'metaquant') throw new UsageError(`gradcheck probes MetaQuant's φ; got --method ${config.method}`);
  const warmup = opts.warmupSteps ?? 1;
  if (!(Number.isInteger(warmup) && warmup >= 1)) throw new UsageError(`--warmup-steps must be an integer ≥ 1 (the meta network needs one previous g_Ŵ); got ${warmup}`);
  const fdStep = opts.fdStep ?? 1e-1;
  const quantizedSteps = opts.quantizedSteps ?? [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6];
  const coordinates = opts.coordinates ?? 8;
  for (const h of [fdStep, ...quantizedSteps]) if (!(h > 0 && Number.isFinite(h))) throw new UsageError(`finite-difference steps must be positive numbers; got ${h}`);
  if (!(Number.isInteger(coordinates) && coordinates >= 1)) throw new UsageError(`--coordinates must be a positive integer; got ${coordinates}`);

  await useBackend(config.backend);
  const dataset = await datasetFor(config);
  const model = new QuantizedModel(modelConfigFor(config, dataset));
  const step = createStep(config, model);
  if (!(step instanceof MetaQuantStep)) throw new Error('internal: a metaquant config built a non-MetaQuant step');
  const order = epochOrder(dataset.train.count, new Rng(`order:${config.seed}`));
  // Batches of the first epoch's order, unaugmented; past its end the order starts again.
  const batchAt = (b: number) => batchTensors(dataset, 'train', order, b % batchCount(order.length, config.batchSize), config.batchSize);
  const alpha = config.lr;
  const ctx = (b: number) => ({ epoch: 0, batchIndex: b, lr: alpha, lrMultiplier: 1 });
  const progress = opts.onProgress ?? (() => {});
  try {
    progress({ stage: 'warm-up steps', done: 0, total: warmup });
    for (let b = 0; b < warmup; b++) {
      const { x, y } = batchAt(b);
      step.step(x, y, ctx(b));
      tf.dispose([x, y]);
      progress({ stage: 'warm-up steps', done: b + 1, total: warmup });
    }
    const { x, y } = batchAt(warmup);
    progress({ stage: 'φ probe', done: 0, total: 1 });
    const probe = phiProbe(step, x, y, alpha);
    progress({ stage: 'φ probe', done: 1, total: 1 });
    try {
      const objective: PhiObjective = config.phiPath === 'meta' ? 'eq8' : 'surrogate';
      const rng = new Rng(`gradcheck:${config.seed}`);
      const picks = new Map([...probe.phi0].map(([k, v]) => [k, pickCoordinates(v.length, coordinates, rng)]));
      const picked = [...picks.values()].reduce((s, p) => s + p.length, 0);
      const fdCounter = counter('(b) central differences (loss evaluations)', 2 * picks.size + 2 * picked, progress);
      const differences = finiteDifferences(probe, objective, picks, fdStep, rng, fdCounter);
      const qCounter = counter('(c) quantized-loss differences (loss evaluations)', 2 * picked * quantizedSteps.length, progress);
      const quantized = quantizedSteps.map((h) => quantizedCheck(probe, picks, h, qCounter));
      progress({ stage: '(a) the chain and the probed step', done: 0, total: 1 });
      const loss = probe.loss('quantized');
      const chain = describeChain(config, step, model.quantizer!, probe, alpha);
      // The probed iteration itself: the gradient it hands to the meta optimizer.
      let applied: Map<string, Float32Array> | null = null;
      step.metaOptimizer.onGradients = (grads) => {
        applied = new Map([...grads].map(([k, g]) => [k, Float32Array.from(g.dataSync())]));
      };
      step.step(x, y, ctx(warmup));
      step.metaOptimizer.onGradients = null;
      progress({ stage: '(a) the chain and the probed step', done: 1, total: 1 });
      const notes: string[] = [];
      if (!applied) notes.push('the step applied no φ-gradient (--freeze-phi or --detach-phi): its gradient is reported as zero');
      if (config.phiPath === 'zeroth-order') notes.push("the zeroth-order path's gradient is a loss-difference estimate of the quantized loss; it need not match the STE surrogate's differences");
      const appliedGrads = applied ?? new Map([...probe.phi0].map(([k, v]) => [k, new Float32Array(v.length)]));
      const surrogate = differences.map((d) => compareWithApplied(d, appliedGrads.get(d.tensor)!));
      notes.push(
        ...surrogate
          .filter((t) => t.fdNorm / Math.sqrt(t.checked) < 30 * t.roundoffFloor)
          .map((t) => `${t.tensor}: its per-coordinate loss differences are within 30× the ideal float32 roundoff (${t.roundoffFloor.toExponential(1)}); α scales φ's influence on L, so a larger --lr or --fd-step resolves it`),
      );
      const report: GradcheckReport = {
        setup: {
          model: config.model,
          hidden: (config.hidden ?? []).join(','),
          dataset: dataset.name,
          batch: y.shape[0]!,
          quantizer: model.quantizer!.label,
          meta: config.meta,
          mode: config.mqMode,
          phiPath: config.phiPath,
          optimizer: config.optimizer,
          alpha,
          warmupSteps: warmup,
          loss,
        },
        chain: { ...chain, autodiffNorms: Object.fromEntries([...appliedGrads].map(([k, g]) => [k, Math.sqrt(g.reduce((s, v) => s + v * v, 0))])) },
        surrogate: { fdStep, objective, tensors: surrogate },
        quantized,
        notes,
      };
      return report;
    } finally {
      probe.dispose();
      tf.dispose([x, y]);
    }
  } finally {
    step.dispose();
    model.dispose();
  }
}

/** Counts a stage's units of work for onProgress: the start, then every unit. */
function counter(stage: string, total: number, report: (p: GradcheckProgress) => void): () => void {
  let done = 0;
  report({ stage, done, total });
  return () => report({ stage, done: ++done, total });
}

/** Up to `n` distinct coordinates of a tensor of `size` elements, seeded; all of them when size ≤ n. */
function pickCoordinates(size: number, n: number, rng: Rng): number[] {
  const all = Array.from({ length: size }, (_, i) => i);
  if (size <= n) return all;
  rng.shuffle(all);
  return all.slice(0, n).sort((a, b) => a - b);
}

function rms(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  const r = Math.sqrt(s / Math.max(1, v.length));
  return r > 0 ? r : 1;
}

function shifted(phi0: Map<string, Float32Array>, name: string, index: number, by: number): Map<string, Float32Array> {
  const out = new Map(phi0);
  const v = Float32Array.from(phi0.get(name)!);
  v[index] = v[index]! + by;
  out.set(name, v);
  return out;
}

/** Central differences of one φ tensor's objective: per picked coordinate and along one Rademacher direction. */
interface TensorDifferences {
  tensor: string;
  size: number;
  coordinates: number[];
  fd: number[];
  direction: Float32Array;
  directionalFd: number;
  roundoffFloor: number;
}

function finiteDifferences(probe: PhiProbe, objective: PhiObjective, picks: Map<string, number[]>, relStep: number, rng: Rng, tick: () => void): TensorDifferences[] {
  const scale = probe.roundoffScale(objective);
  return [...probe.phi0].map(([name, values]) => {
    const h = relStep * rms(values);
    const direction = Float32Array.from(values, () => (rng.next() < 0.5 ? -1 : 1));
    const along = (sign: number) => new Map(probe.phi0).set(name, Float32Array.from(values, (x, i) => x + sign * h * direction[i]!));
    const lossAt = (phi: Map<string, Float32Array>) => {
      const l = probe.loss(objective, phi);
      tick();
      return l;
    };
    const directionalFd = (lossAt(along(1)) - lossAt(along(-1))) / (2 * h);
    const coordinates = picks.get(name)!;
    const fd = coordinates.map((i) => {
      // The perturbed value as float32 stores it, so the step divided by is the step taken.
      const plus = Math.fround(values[i]! + h);
      const minus = Math.fround(values[i]! - h);
      return (lossAt(shifted(probe.phi0, name, i, plus - values[i]!)) - lossAt(shifted(probe.phi0, name, i, minus - values[i]!))) / (plus - minus);
    });
    return { tensor: name, size: values.length, coordinates, fd, direction, directionalFd, roundoffFloor: (2 ** -23 * Math.max(scale, 1e-30)) / h };
  });
}

function compareWithApplied(d: TensorDifferences, applied: Float32Array): SurrogateCheck {
  const ad = d.coordinates.map((i) => applied[i]!);
  const fd = d.fd;
  const norm = (a: number[]) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));
  const diff = norm(ad.map((a, j) => a - fd[j]!));
  const scale = Math.max(norm(ad), norm(fd));
  const dot = ad.reduce((s, a, j) => s + a * fd[j]!, 0);
  const dirAd = applied.reduce((s, g, i) => s + g * d.direction[i]!, 0);
  const dirScale = Math.max(Math.abs(d.directionalFd), Math.abs(dirAd));
  return {
    tensor: d.tensor,
    size: d.size,
    checked: ad.length,
    relativeError: scale === 0 ? 0 : diff / scale,
    cosine: norm(ad) * norm(fd) === 0 ? Number.NaN : dot / (norm(ad) * norm(fd)),
    autodiffNorm: norm(ad),
    fdNorm: norm(fd),
    roundoffFloor: d.roundoffFloor,
    directional: { autodiff: dirAd, fd: d.directionalFd, relativeError: dirScale === 0 ? 0 : Math.abs(d.directionalFd - dirAd) / dirScale },
  };
}

function quantizedCheck(probe: PhiProbe, picks: Map<string, number[]>, relStep: number, tick: () => void): QuantizedCheck {
  let zeros = 0;
  let count = 0;
  let maxDiff = 0;
  let maxSlope = 0;
  for (const [name, values] of probe.phi0) {
    const h = relStep * rms(values);
    for (const i of picks.get(name)!) {
      const plus = probe.loss('quantized', shifted(probe.phi0, name, i, h));
      tick();
      const d = plus - probe.loss('quantized', shifted(probe.phi0, name, i, -h));
      tick();
      count++;
      if (d === 0) zeros++;
      maxDiff = Math.max(maxDiff, Math.abs(d));
      maxSlope = Math.max(maxSlope, Math.abs(d) / (2 * h));
    }
  }
  return { step: relStep, differences: count, zeroFraction: zeros / count, maxAbsDifference: maxDiff, maxAbsSlope: maxSlope };
}

const normOf = (tensors: Iterable<Tensor>) => Math.sqrt([...tensors].reduce((s, t) => s + tf.tidy(() => tf.sum(tf.square(t)).dataSync()[0]!), 0));

/** (a): the chain φ → m → W_meta → W̃ → Ŵ → L for this mode and φ-path, with each factor's norm. */
function describeChain(config: TrainConfig, step: MetaQuantStep, q: WeightQuantizer, probe: PhiProbe, alpha: number): Omit<GradcheckReport['chain'], 'autodiffNorms'> {
  const { wMeta, calibration, m0, inputs, state } = probe.parts;
  const { gHat, delta } = probe.backprop();
  const aPrime = new Map([...wMeta].map(([l, w]) => [l, tf.keep(q.preQuantizeDerivative(w))]));
  const lookaheadJacobian = new Map([...calibration].map(([l, c]) => [l, tf.keep(tf.mul(c, -alpha))]));
  const cotangent = [...delta].map(([l, d]) => tf.keep(tf.mul(tf.mul(calibration.get(l)!, d), -alpha)));
  const formula =
    config.mqMode === 'code'
      ? [
          'L(φ) = CE(f(x; Ŵ)), Ŵ = Q(W̃), W̃ = A(W_meta)',
          'W_meta = W − α·(cal⊙m + stopgrad(G − cal⊙m)): value W − α·G, gradient only through m (the reference)',
          'm = M_φ(g_Ŵ^{t−1}, W̃^{t−1}) (inputs from the previous iteration, constants)',
          '∂W̃/∂φ = A′(W_meta) ⊙ (−α·cal) ⊙ ∂m/∂φ: W̃ here is this iteration\'s look-ahead W̃^t, which depends on φ; W̃^{t−1} is an input',
        ]
      : [
          'L(φ) = CE(f(x; Ŵ)), Ŵ = Q(W̃), W̃ = A(W_meta)',
          'W_meta = W − α·π(cal⊙m): the post-update weight (paper mode); the step differentiates it as W − α·cal⊙m (π taken as identity in the derivative)',
          'm = M_φ(g_Ŵ^{t−1}, W̃^{t−1}) (inputs from the previous iteration, constants)',
          '∂W̃/∂φ = A′(W_meta) ⊙ (−α·cal) ⊙ ∂m/∂φ',
        ];
  formula.push(
    config.phiPath === 'ste'
      ? '∂L/∂φ = Σ (∂L/∂Ŵ) · STE(∂Ŵ/∂W̃) · A′ · (−α·cal) · ∂m/∂φ = VJP of M_φ with cotangent −α·cal⊙δ, δ = ∂L/∂W_meta through STE'
      : config.phiPath === 'meta'
        ? '∂L/∂φ = Σ M_φ(g_Ŵ^t, W̃^t) · A′ · (−α·cal) · ∂m/∂φ (Eq. 8: the meta output replaces ∂L/∂W̃)'
        : '∂L/∂φ is not formed: the zeroth-order path estimates it from L(Q(·)) differences; (b) compares that estimate with the STE surrogate',
  );
  formula.push('true ∂Ŵ/∂W̃ = 0 almost everywhere (Q is piecewise constant), so the true ∂L/∂φ is 0 wherever it exists: see (c)');
  let eq8: number | null = null;
  if (config.phiPath === 'meta') {
    eq8 = tf.tidy(() => {
      const mState = step.metaNetwork.forward(inputs, state).state;
      const now = {
        gHat: tf.concat([...gHat.values()].map((t) => tf.reshape(t, [-1]))),
        wTilde: tf.concat([...wMeta.values()].map((w) => tf.reshape(q.preQuantize(w), [-1]))),
      };
      return normOf([step.metaNetwork.forward(now, mState).metaGrad]);
    });
  }
  const terms: ChainTerm[] = [
    { symbol: '∂L/∂Ŵ', meaning: 'g_Ŵ^t, ordinary backprop to the quantized weights', norm: normOf(gHat.values()) },
    { symbol: '∂Ŵ/∂W̃ (true)', meaning: 'derivative of the quantizer Q: zero almost everywhere', norm: 0 },
    { symbol: 'δ = ∂L/∂W_meta (STE)', meaning: "the gradient with Q's straight-through stand-in (what the 'ste' φ-path uses)", norm: normOf(delta.values()) },
    ...(eq8 !== null ? [{ symbol: 'M_φ(g_Ŵ^t, W̃^t)', meaning: "Eq. 8's replacement for ∂L/∂W̃ ('meta' φ-path)", norm: eq8 }] : []),
    { symbol: "A′(W_meta) = ∂W̃/∂W_meta", meaning: `pre-quantization derivative (${q.preQuantizeDerivativeFormula})`, norm: normOf(aPrime.values()) },
    { symbol: '∂W_meta/∂m = −α·cal', meaning: 'the look-ahead: elementwise −α times the calibration', norm: normOf(lookaheadJacobian.values()) },
    { symbol: 'm = M_φ(g_Ŵ^{t−1}, W̃^{t−1})', meaning: 'the meta-gradient at last iteration\'s inputs', norm: normOf(m0.values()) },
    { symbol: 'g_Ŵ^{t−1}', meaning: 'meta input (constant)', norm: normOf([inputs.gHat]) },
    { symbol: 'W̃^{t−1}', meaning: 'meta input (constant)', norm: normOf([inputs.wTilde]) },
    { symbol: 'u = −α·cal⊙δ', meaning: "cotangent back-propagated through M_φ ('ste' φ-path)", norm: normOf(cotangent) },
  ];
  tf.dispose([...gHat.values(), ...delta.values(), ...aPrime.values(), ...lookaheadJacobian.values(), ...cotangent]);
  return { formula, terms };
}
