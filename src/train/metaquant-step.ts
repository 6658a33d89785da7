import { tf, type Tensor, type Variable } from '../engine/tf.js';
import { stopGradient, valueAndGrads } from '../engine/ops.js';
import type { QuantizedModel } from '../models/model.js';
import type { WeightHooks } from '../models/layers.js';
import type { QuantizeCapture, WeightQuantizer } from '../quantizers/types.js';
import type { LstmState, MetaNetwork } from '../meta/types.js';
import { lstmStateBytes } from '../meta/lstm.js';
import { BaseOptimizer, TorchAdam, type OptimizerState } from './optimizers.js';
import { crossEntropy, lossAndGradients } from './loss.js';
import { FlipTracker, MeanAccumulator, cosines } from '../analysis/diagnostics.js';
import { disposeMap, loadTensor, loadTensorMap, replaceKept, saveTensor, saveTensorMap, type SavedTensor } from './tensor-state.js';
import type { StepContext, StepResult, TrainStep } from './step.js';
import { UsageError } from '../util/errors.js';
import { Rng, type RngState } from '../util/rng.js';
import { zerothOrderGradient, type ZerothOrderOptions } from './zeroth-order.js';
import { FiniteCheck } from './finite-check.js';

import type { MetaQuantMode, PhiPath } from '../config/choices.js';
export { MQ_MODES, PHI_PATHS, type MetaQuantMode, type PhiPath } from '../config/choices.js';

export interface MetaQuantOptions {
  mode: MetaQuantMode;
  phiPath: PhiPath;
  /** β, the meta network's Adam learning rate. */
  metaLr: number;
  /** Zero the LSTM state at every step instead of carrying it. */
  lstmReset?: boolean;
  /** Ablation: φ keeps its random initial value. */
  freezePhi?: boolean;
  /** Ablation: the look-ahead carries no path to φ, so nothing trains φ. */
  detachPhi?: boolean;
  /** Refuse to allocate more LSTM state than this many bytes. */
  maxMetaMemoryBytes?: number;
  /** phiPath 'zeroth-order': the estimator and the seed of its perturbations. */
  zerothOrder?: ZerothOrderOptions & { seed: number };
}

/** What one iteration recorded (for tests and the parity check against the reference traces). */
export interface MetaQuantTrace {
  wMeta: Map<string, Tensor>;
  bMeta: Map<string, Tensor>;
  metaGrad: Map<string, Tensor>;
  calibration: Map<string, Tensor>;
  steGrad: Map<string, Tensor>;
  metaParamGrads: Map<string, Tensor>;
}

/** The loss of one iteration as a function of φ (see {@link MetaQuantStep.phiProbe}). */
export interface PhiProbe {
  phi0: Map<string, Float32Array>;
  /** ∂L/∂φ as the step computes it (through the quantizer with the estimator). */
  autodiff(): Map<string, Float32Array>;
  /** 'surrogate': Q replaced by its first-order STE stand-in at W_meta(φ₀); 'quantized': the real network. */
  loss(kind: 'surrogate' | 'quantized', phi?: Map<string, Float32Array>): number;
  /** The factors of the chain φ → m → W_meta → W̃ → Ŵ → L at φ₀, per quantized kernel (owned by the probe). */
  readonly parts: PhiProbeParts;
  /** One backward pass at φ₀: g_Ŵ = ∂L/∂Ŵ, and δ = ∂L/∂W_meta through the quantizer's estimator (caller disposes). */
  backprop(): { gHat: Map<string, Tensor>; delta: Map<string, Tensor> };
  dispose(): void;
}

export interface PhiProbeParts {
  /** W_meta(φ₀): the pre-quantization weight the forward uses. */
  wMeta: Map<string, Tensor>;
  calibration: Map<string, Tensor>;
  /** m(φ₀) = M_φ₀(g_Ŵ^{t−1}, W̃^{t−1}), reshaped per kernel. */
  m0: Map<string, Tensor>;
  /** The meta network's inputs (flat, all kernels) and LSTM state (undefined = zeros). */
  inputs: { gHat: Tensor; wTilde: Tensor };
  state: LstmState | undefined;
}

/** What the forward/backward pass of one iteration produced. */
interface ForwardRecord {
  loss: number;
  correct: number;
  /** Gradients of the base parameters; a quantized kernel's is δ = ∂L/∂W_meta. */
  grads: Map<string, Tensor>;
  /** g_Ŵ and W̃ per quantized kernel. */
  captures: Map<string, QuantizeCapture>;
  wHats: Map<string, Tensor>;
  wMetas: Map<string, Tensor>;
}

interface SavedMetaQuantState {
  started: boolean;
  optimizer: OptimizerState;
  metaParams: Record<string, SavedTensor>;
  metaAdam: ReturnType<TorchAdam['getState']>;
  gHatPrev: Record<string, SavedTensor>;
  wTildePrev: Record<string, SavedTensor>;
  lookahead: Record<string, SavedTensor>;
  lstm: { h: SavedTensor; c: SavedTensor } | null;
  /** The zeroth-order path's perturbation stream (absent for the other φ-paths). */
  zoRng?: RngState;
  /** Diagnostics in progress (absent in older checkpoints). */
  flips?: Record<string, SavedTensor>;
  diagnostics?: ReturnType<MeanAccumulator['getState']>;
}

/**
 * One MetaQuant iteration (spec §6 code-faithful, §7 paper-faithful). The meta network M_φ turns
 * last iteration's (g_Ŵ, W̃) into a gradient for W̃; φ is trained by the task loss through a
 * look-ahead weight placed in the forward pass.
 */
export class MetaQuantStep implements TrainStep {
  readonly name = 'metaquant';
  private readonly quantizer: WeightQuantizer;
  private readonly layers: string[];
  private readonly sizes: number[];
  private readonly baseVars: Map<string, Variable>;
  /** Biases of quantized layers: they get the look-ahead b − α·G too (the reference's classifier bias). */
  private readonly lookaheadBiases: Set<string>;
  private readonly metaAdam: TorchAdam;
  private started = false;
  private readonly gHatPrev = new Map<string, Tensor>();
  private readonly wTildePrev = new Map<string, Tensor>();
  /** G: the base optimizer's last applied direction, for quantized kernels and look-ahead biases. */
  private readonly lookahead = new Map<string, Tensor>();
  private lstm: LstmState | null = null;
  /** Perturbation directions of the zeroth-order φ-path (its state is checkpointed). */
  private zoRng: Rng | null = null;
  private readonly flips = new FlipTracker();
  private readonly diag = new MeanAccumulator();
  /** NaN/Inf probes of this step's meta output and gradients (read back once per step). */
  private readonly finite = new FiniteCheck();
  /** The meta learning rate's multiplier this step (StepContext.metaLrScale). */
  private metaLrScale = 1;
  /** Set by `step` when `recordTrace` is true. */
  lastTrace: MetaQuantTrace | null = null;
  recordTrace = false;

  constructor(
    private readonly model: QuantizedModel,
    private readonly meta: MetaNetwork,
    private readonly optimizer: BaseOptimizer,
    private readonly options: MetaQuantOptions,
  ) {
    if (!model.quantizer) throw new UsageError('MetaQuant needs a quantizer (got --quantizer none)');
    this.quantizer = model.quantizer;
    this.layers = model.quantizedKernels;
    this.sizes = this.layers.map((n) => model.params.get(n).size);
    const quantizedLayers = new Set(this.layers.map((n) => model.params.info(n).layer));
    this.lookaheadBiases = new Set(model.params.names((p) => p.role === 'bias' && quantizedLayers.has(p.layer)));
    this.baseVars = new Map(model.params.trainableNames().map((n) => [n, model.params.get(n)]));
    this.metaAdam = new TorchAdam(options.metaLr);
    if (options.phiPath === 'zeroth-order') {
      const zo = options.zerothOrder;
      if (!zo) throw new UsageError("--phi-path zeroth-order needs the estimator's options (method, samples, scale, seed)");
      if (!(Number.isInteger(zo.samples) && zo.samples >= 1)) throw new UsageError(`--zo-samples must be a positive integer; got ${zo.samples}`);
      if (!(zo.scale > 0 && Number.isFinite(zo.scale))) throw new UsageError(`--zo-scale must be a positive number; got ${zo.scale}`);
      this.zoRng = new Rng(`zeroth-order:${zo.seed}`);
    }
    if (meta.stateful) {
      const bytes = lstmStateBytes(this.sizes.reduce((a, b) => a + b, 0), meta.config.hidden);
      const limit = options.maxMetaMemoryBytes ?? 8 * 2 ** 30;
      if (bytes > limit) {
        throw new UsageError(
          `the LSTM meta state needs ${(bytes / 2 ** 30).toFixed(2)} GiB (2 × hidden ${meta.config.hidden} floats for each of ` +
            `${this.sizes.reduce((a, b) => a + b, 0)} weights), above --max-meta-memory ${(limit / 2 ** 30).toFixed(2)} GiB; ` +
            'use a smaller model or --meta-hidden, or raise the bound',
        );
      }
    }
  }

  /** g_Ŵ from the last backward pass, per quantized kernel (the next meta call's input). */
  previousGHat(kernel: string): Tensor | undefined {
    return this.gHatPrev.get(kernel);
  }

  /** W̃ from the last forward pass, per quantized kernel. */
  previousWTilde(kernel: string): Tensor | undefined {
    return this.wTildePrev.get(kernel);
  }

  /** G, the last applied direction the next look-ahead uses (quantized kernels and their biases). */
  lookaheadDirection(name: string): Tensor | undefined {
    return this.lookahead.get(name);
  }

  /** The per-element LSTM state the next meta call will receive (null = zeros). */
  get lstmState(): LstmState | null {
    return this.lstm;
  }

  step(images: Tensor, labels: Tensor, ctx: StepContext): StepResult {
    const t0 = performance.now();
    this.metaLrScale = ctx.metaLrScale ?? 1;
    const result: StepResult = !this.started
      ? this.firstIteration(images, labels)
      : this.options.mode === 'code'
        ? this.codeIteration(images, labels, ctx)
        : this.paperIteration(images, labels, ctx);
    this.started = true;
    this.diag.add('stepSeconds', (performance.now() - t0) / 1000);
    const c = this.meta.effectiveScalar();
    if (c !== null) this.diag.add('metaC', c);
    result.nonFinite = this.finite.take();
    return result;
  }

  /** Iteration 0: no meta-gradient exists yet. Forward with W, record g_Ŵ and W̃, G := raw gradients, update nothing. */
  private firstIteration(images: Tensor, labels: Tensor): StepResult {
    const forward = this.forwardBackward(images, labels, 0, null, (_name, w) => w);
    for (const name of [...this.layers, ...this.lookaheadBiases]) replaceKept(this.lookahead, name, forward.grads.get(name)!.clone());
    tf.dispose([...forward.grads.values()]);
    this.finishIteration(forward, undefined, new Map(), new Map(), null, new Map());
    return { loss: forward.loss, correct: forward.correct, size: labels.shape[0]! };
  }

  /**
   * Spec §6. The forward uses the look-ahead value W − α·G; one backward gives δ = ∂L/∂W_meta.
   * The reference reaches φ through W_meta = W − α·(cg + stopgrad(G − cg)), cg = cal ⊙ m, so φ's
   * gradient is the vector–Jacobian product of M_φ at last iteration's inputs with cotangent
   * −α·cal ⊙ δ; it is computed as such (in row chunks, so the LSTM's tape stays bounded), in
   * the same pass that produces m. Then W's gradient := cal ⊙ m and p ← p − α·π(grad).
   */
  private codeIteration(images: Tensor, labels: Tensor, ctx: StepContext): StepResult {
    const alpha = ctx.lr;
    const calibration = this.calibrations();
    const trace = this.newTrace(calibration);
    const forward = this.forwardBackward(images, labels, alpha, trace, (name, w) => tf.sub(w, tf.mul(this.lookahead.get(name)!, alpha)));
    const metaStart = performance.now();
    const inputs = this.metaInputs();
    let eq8State: LstmState | undefined;
    if (this.options.phiPath === 'meta') {
      // Eq. 8 needs this iteration's m first, evaluated from the state this call produces.
      const values = this.metaPass(inputs, this.lstm ?? undefined, null);
      eq8State = values.state;
      tf.dispose(values.metaGrad);
    }
    const cotangent = this.phiCotangent(forward, calibration, alpha, eq8State);
    const pass = this.metaPass(inputs, this.lstm ?? undefined, cotangent);
    this.finite.watch('meta output', pass.metaGrad);
    if (eq8State) tf.dispose([eq8State.h, eq8State.c]);
    if (this.trainsPhiByLossDifferences()) {
      // The function the reference's STE path differentiates, W_meta(φ) = (W − α·G) − α·cal ⊙ (m(φ) − m(φ₀)),
      // evaluated with the real Q: the forward value W − α·G carries φ only through this first-order
      // stand-in for G's meta part, so this is the same objective with STE replaced by loss differences.
      const m0 = this.splitToLayers(pass.metaGrad, true);
      const zo = this.zerothOrderPhiGrads(images, labels, inputs, alpha, (l, m) =>
        tf.sub(forward.wMetas.get(l)!, tf.mul(tf.mul(calibration.get(l)!, tf.sub(m, m0.get(l)!)), alpha)),
      );
      tf.dispose([...m0.values()]);
      for (const [k, g] of zo) pass.phiGrads.set(k, g);
    }
    tf.dispose([inputs.gHat, inputs.wTilde]);
    if (cotangent) cotangent.dispose();
    this.metaStep(pass.phiGrads, 1);
    const metaGrads = this.splitToLayers(pass.metaGrad, true);
    pass.metaGrad.dispose();
    const metaSeconds = (performance.now() - metaStart) / 1000;

    // Step 5: W's gradient is the calibrated meta-gradient; every parameter takes p − α·π(grad).
    const grads = forward.grads;
    const calibrated = new Map(this.layers.map((name) => [name, tf.mul(calibration.get(name)!, metaGrads.get(name)!)]));
    for (const c of cosines(this.layers.map((name) => [calibrated.get(name)!, grads.get(name)!]))) this.diag.add('cosMetaSte', c);
    for (const name of this.layers) {
      if (trace) trace.steGrad.set(name, tf.keep(grads.get(name)!.clone()));
      grads.get(name)!.dispose();
      grads.set(name, calibrated.get(name)!);
    }
    const directions = this.optimizer.apply((n) => this.model.params.get(n), grads, alpha);
    for (const [name, d] of directions) {
      if (this.lookahead.has(name)) replaceKept(this.lookahead, name, d);
      else d.dispose();
    }
    tf.dispose([...grads.values()]);
    this.finishIteration(forward, pass.state, metaGrads, calibration, trace, pass.phiGrads);
    this.diag.add('metaSeconds', metaSeconds);
    return { loss: forward.loss, correct: forward.correct, size: labels.shape[0]! };
  }

  /**
   * Spec §7: W first moves by −α·π(cal ⊙ M(g_Ŵ^{t−1}, W̃^{t−1})) and the forward uses the moved
   * weights; the path to φ is through −α·cal ⊙ m (cotangent −α·cal ⊙ δ, or Eq. 8's). β decays with α.
   */
  private paperIteration(images: Tensor, labels: Tensor, ctx: StepContext): StepResult {
    const alpha = ctx.lr;
    const calibration = this.calibrations();
    const trace = this.newTrace(calibration);
    let metaStart = performance.now();
    const inputs = this.metaInputs();
    const values = this.metaPass(inputs, this.lstm ?? undefined, null);
    this.finite.watch('meta output', values.metaGrad);
    const metaGrads = this.splitToLayers(values.metaGrad, true);
    values.metaGrad.dispose();
    // Zeroth-order path: the loss of the weights the paper-mode forward uses, W_t − α·π(cal ⊙ m(φ)),
    // quantized, on this batch (π previewed without advancing the optimizer), before the update is applied.
    const zoGrads = this.trainsPhiByLossDifferences()
      ? this.zerothOrderPhiGrads(images, labels, inputs, alpha, (l, m) => {
          const w = this.model.params.get(l);
          return tf.sub(w, tf.mul(this.optimizer.peekDirection(l, w, tf.mul(calibration.get(l)!, m)), alpha));
        })
      : null;
    const calibratedGrads = new Map(this.layers.map((l) => [l, tf.keep(tf.mul(calibration.get(l)!, metaGrads.get(l)!))]));
    tf.dispose([...this.optimizer.apply((n) => this.model.params.get(n), calibratedGrads, alpha).values()]);
    let metaSeconds = (performance.now() - metaStart) / 1000;

    const forward = this.forwardBackward(images, labels, alpha, trace, (_name, w) => w);
    metaStart = performance.now();
    const cotangent = this.phiCotangent(forward, calibration, alpha, values.state);
    const pass = cotangent ? this.metaPass(inputs, this.lstm ?? undefined, cotangent) : null;
    tf.dispose([inputs.gHat, inputs.wTilde]);
    if (cotangent) cotangent.dispose();
    const phiGrads = zoGrads ?? pass?.phiGrads ?? new Map<string, Tensor>();
    if (pass) {
      tf.dispose(pass.metaGrad);
      if (pass.state) tf.dispose([pass.state.h, pass.state.c]);
    }
    this.metaStep(phiGrads, ctx.lrMultiplier);
    metaSeconds += (performance.now() - metaStart) / 1000;

    // The float parameters (biases, batch norm) take their ordinary gradients.
    const grads = forward.grads;
    for (const c of cosines(this.layers.map((name) => [calibratedGrads.get(name)!, grads.get(name)!]))) this.diag.add('cosMetaSte', c);
    for (const name of this.layers) {
      if (trace) trace.steGrad.set(name, tf.keep(grads.get(name)!.clone()));
      grads.get(name)!.dispose();
      grads.delete(name);
    }
    tf.dispose([...this.optimizer.apply((n) => this.model.params.get(n), grads, alpha).values(), ...calibratedGrads.values(), ...grads.values()]);
    this.finishIteration(forward, values.state, metaGrads, calibration, trace, phiGrads);
    this.diag.add('metaSeconds', metaSeconds);
    return { loss: forward.loss, correct: forward.correct, size: labels.shape[0]! };
  }

  /**
   * Forward with `lookahead(name, W)` as each quantized kernel's pre-quantization weight, and one
   * backward pass: the loss, δ = ∂L/∂W_meta (as W's gradient), the other parameters' gradients,
   * and, through the quantizer's capture, g_Ŵ and W̃.
   */
  private forwardBackward(images: Tensor, labels: Tensor, alpha: number, trace: MetaQuantTrace | null, lookahead: (name: string, w: Tensor) => Tensor): ForwardRecord {
    const captures = new Map<string, QuantizeCapture>(this.layers.map((l) => [l, {}]));
    const wHats = new Map<string, Tensor>();
    const wMetas = new Map<string, Tensor>();
    const hooks: WeightHooks = {
      kernel: (name, w) => {
        const cap = captures.get(name);
        if (!cap) return w;
        const wMeta = lookahead(name, w);
        // Only Eq. 8's cotangent, the zeroth-order objective and the trace read W_meta after the
        // pass: skip the copy otherwise.
        if (this.options.phiPath !== 'ste' || trace) wMetas.set(name, tf.keep(wMeta.clone()));
        const q = this.quantizer.quantize(wMeta, cap);
        wHats.set(name, tf.keep(q));
        return q;
      },
      bias: (name, b) => {
        if (this.options.mode !== 'code' || !this.started || !this.lookaheadBiases.has(name)) return b;
        const bMeta = tf.sub(b, tf.mul(this.lookahead.get(name)!, alpha));
        if (trace) trace.bMeta.set(name, tf.keep(bMeta.clone()));
        return bMeta;
      },
    };
    const { loss, correct, grads } = lossAndGradients(this.model, images, labels, hooks, this.baseVars);
    this.finite.watch('gradient', grads.values());
    if (trace) for (const [k, v] of wMetas) trace.wMeta.set(k, tf.keep(v.clone()));
    return { loss, correct, grads, captures, wHats, wMetas };
  }

  /**
   * The cotangent of the meta network's output m (flat [N]) on the path to φ, or null when
   * nothing trains φ. 'ste' (the reference): −α·cal ⊙ δ, δ crossing the quantizer with STE.
   * 'meta' (Eq. 8 of the paper): M_φ(g_Ŵ^t, W̃^t) replaces ∂L/∂W̃, so the cotangent is
   * −α·cal ⊙ M_t ⊙ ∂W̃/∂W_meta.
   */
  private phiCotangent(forward: ForwardRecord, calibration: Map<string, Tensor>, alpha: number, eq8State: LstmState | undefined): Tensor | null {
    if (this.options.freezePhi || this.options.detachPhi || this.options.phiPath === 'zeroth-order') return null;
    if (this.options.phiPath === 'ste') {
      return tf.tidy(() => tf.concat(this.layers.map((l) => tf.reshape(tf.mul(tf.mul(calibration.get(l)!, forward.grads.get(l)!), -alpha), [-1]))));
    }
    const now = tf.tidy(() => ({
      gHat: tf.concat(this.layers.map((l) => tf.reshape(forward.captures.get(l)!.gHat!, [-1]))),
      wTilde: tf.concat(this.layers.map((l) => tf.reshape(forward.captures.get(l)!.wTilde!, [-1]))),
    }));
    const mNow = this.metaPass(now, eq8State, null);
    if (mNow.state) tf.dispose([mNow.state.h, mNow.state.c]);
    const mLayers = this.splitToLayers(mNow.metaGrad, true);
    const u = tf.tidy(() =>
      tf.concat(
        this.layers.map((l) => {
          const wMeta = forward.wMetas.get(l)!;
          const dTilde = preQuantizeDerivative(this.quantizer, wMeta);
          return tf.reshape(tf.mul(tf.mul(calibration.get(l)!, tf.mul(mLayers.get(l)!, dTilde)), -alpha), [-1]);
        }),
      ),
    );
    tf.dispose([now.gHat, now.wTilde, mNow.metaGrad, ...mLayers.values()]);
    return u;
  }

  private trainsPhiByLossDifferences(): boolean {
    return this.options.phiPath === 'zeroth-order' && !this.options.freezePhi && !this.options.detachPhi;
  }

  /**
   * φ's gradient estimated from loss differences of the real quantized network (SPSA or antithetic
   * ES, see zeroth-order.ts): J(φ) = L(Q(A(weight(l, m_φ)))) on this batch, where m_φ is the meta
   * network's output at last iteration's inputs with φ in place of the current parameters. Nothing
   * is differentiated; batch-norm statistics are not updated; φ is restored afterwards.
   */
  private zerothOrderPhiGrads(images: Tensor, labels: Tensor, inputs: { gHat: Tensor; wTilde: Tensor }, alpha: number, weight: (layer: string, m: Tensor) => Tensor): Map<string, Tensor> {
    const params = this.meta.params;
    const phi0 = new Map([...params].map(([k, v]) => [k, Float32Array.from(v.dataSync())]));
    const biasHook = (name: string, b: tf.Variable) =>
      this.options.mode === 'code' && this.lookaheadBiases.has(name) ? tf.sub(b, tf.mul(this.lookahead.get(name)!, alpha)) : b;
    const objective = (phi: Map<string, Float32Array>): number => {
      tf.tidy(() => {
        for (const [k, v] of phi) params.get(k)!.assign(tf.tensor(v, params.get(k)!.shape));
      });
      const pass = this.metaPass(inputs, this.lstm ?? undefined, null);
      if (pass.state) tf.dispose([pass.state.h, pass.state.c]);
      const m = this.splitToLayers(pass.metaGrad, true);
      pass.metaGrad.dispose();
      const loss = tf.tidy(() => {
        const hooks: WeightHooks = { kernel: (name, w) => (m.has(name) ? this.quantizer.quantize(weight(name, m.get(name)!)) : w), bias: biasHook };
        return crossEntropy(this.model.forward(images, hooks, true, { updateStatistics: false }), labels).dataSync()[0]!;
      });
      tf.dispose([...m.values()]);
      return loss;
    };
    try {
      const estimate = zerothOrderGradient(phi0, objective, this.options.zerothOrder!, this.zoRng!);
      this.diag.add('zoZeroFraction', estimate.zeroFraction);
      this.diag.add('zoMeanAbsDiff', estimate.meanAbsDifference);
      return new Map([...estimate.grads].map(([k, g]) => [k, tf.keep(tf.tensor(g, params.get(k)!.shape))]));
    } finally {
      tf.tidy(() => {
        for (const [k, v] of phi0) params.get(k)!.assign(tf.tensor(v, params.get(k)!.shape));
      });
    }
  }

  /**
   * Evaluates M_φ on every weight element in row chunks (bounded memory for the LSTM), returning
   * m and the new LSTM state; with a cotangent u it also returns ∂(Σ u ⊙ m)/∂φ, i.e. φ's gradient.
   */
  private metaPass(inputs: { gHat: Tensor; wTilde: Tensor }, state: LstmState | undefined, cotangent: Tensor | null) {
    const n = inputs.gHat.size;
    const cheap = !this.meta.stateful && this.meta.config.activation === 'none';
    const rows = cheap ? n : Math.max(1024, Math.floor(2 ** 21 / this.meta.config.hidden));
    const outputs: Tensor[] = [];
    const hs: Tensor[] = [];
    const cs: Tensor[] = [];
    const phiGrads = new Map<string, Tensor>();
    for (let start = 0; start < n; start += rows) {
      const size = Math.min(rows, n - start);
      const chunk = (t: Tensor) => (size === n ? t : tf.slice(t, start, size));
      const chunkState = (s: LstmState) => (size === n ? s : { h: tf.slice(s.h, [start, 0], [size, -1]), c: tf.slice(s.c, [start, 0], [size, -1]) });
      const run = () => {
        const out = this.meta.forward({ gHat: chunk(inputs.gHat), wTilde: chunk(inputs.wTilde) }, state ? chunkState(state) : undefined);
        outputs.push(tf.keep(out.metaGrad));
        if (out.state) {
          hs.push(tf.keep(out.state.h));
          cs.push(tf.keep(out.state.c));
        }
        return out.metaGrad;
      };
      if (!cotangent) {
        tf.tidy(() => void run());
        continue;
      }
      const { value, grads } = valueAndGrads(() => tf.sum(tf.mul(run(), chunk(cotangent))) as tf.Scalar, new Map(this.meta.params));
      value.dispose();
      for (const [k, g] of grads) {
        const prev = phiGrads.get(k);
        phiGrads.set(k, prev ? tf.add(prev, g) : g);
        if (prev) tf.dispose([prev, g]);
      }
    }
    // A φ tensor the output did not reach (the LSTM's W_hh while the state is zero) has gradient
    // exactly zero, and its Adam step counter still advances, as in PyTorch.
    if (cotangent) for (const [k, v] of this.meta.params) if (!phiGrads.has(k)) phiGrads.set(k, tf.zerosLike(v));
    const join = (parts: Tensor[], axis: number) => {
      if (parts.length === 1) return parts[0]!;
      const joined = tf.concat(parts, axis);
      tf.dispose(parts);
      return joined;
    };
    const metaGrad = join(outputs, 0);
    const newState = hs.length ? { h: join(hs, 0), c: join(cs, 0) } : undefined;
    return { metaGrad, state: newState, phiGrads };
  }

  private metaStep(phiGrads: Map<string, Tensor>, lrMultiplier: number): void {
    if (this.options.freezePhi || this.options.detachPhi) return;
    this.metaAdam.lr = this.options.metaLr * this.metaLrScale * (this.options.mode === 'paper' ? lrMultiplier : 1);
    this.metaAdam.step(this.meta.params, phiGrads);
  }

  private calibrations(): Map<string, Tensor> {
    return new Map(this.layers.map((l) => [l, tf.keep(this.quantizer.calibration(this.model.params.get(l)))]));
  }

  private metaInputs(): { gHat: Tensor; wTilde: Tensor } {
    return {
      gHat: tf.concat(this.layers.map((l) => tf.reshape(this.gHatPrev.get(l)!, [-1]))),
      wTilde: tf.concat(this.layers.map((l) => tf.reshape(this.wTildePrev.get(l)!, [-1]))),
    };
  }

  /** Splits a flat [N] tensor into per-layer tensors of the kernels' shapes. */
  private splitToLayers(flat: Tensor, keep = false): Map<string, Tensor> {
    if (!keep) {
      const parts = this.layers.length === 1 ? [flat] : tf.split(flat, this.sizes);
      return new Map(this.layers.map((l, i) => [l, tf.reshape(parts[i]!, this.model.params.get(l).shape)]));
    }
    return tf.tidy(() => {
      const parts = this.layers.length === 1 ? [flat] : tf.split(flat, this.sizes);
      const out = new Map(this.layers.map((l, i) => [l, tf.reshape(parts[i]!, this.model.params.get(l).shape)]));
      for (const t of out.values()) tf.keep(t);
      return out as unknown as tf.TensorContainer;
    }) as unknown as Map<string, Tensor>;
  }

  private newTrace(calibration: Map<string, Tensor>): MetaQuantTrace | null {
    if (this.lastTrace) disposeTrace(this.lastTrace);
    this.lastTrace = null;
    if (!this.recordTrace) return null;
    return { wMeta: new Map(), bMeta: new Map(), metaGrad: new Map(), calibration: new Map([...calibration].map(([k, v]) => [k, tf.keep(v.clone())])), steGrad: new Map(), metaParamGrads: new Map() };
  }

  private storeCaptures(captures: Map<string, QuantizeCapture>): void {
    for (const [l, cap] of captures) {
      replaceKept(this.gHatPrev, l, cap.gHat!);
      replaceKept(this.wTildePrev, l, cap.wTilde!);
    }
  }

  private finishIteration(
    forward: ForwardRecord,
    newState: LstmState | undefined,
    metaGrads: Map<string, Tensor>,
    calibration: Map<string, Tensor>,
    trace: MetaQuantTrace | null,
    phiGrads: Map<string, Tensor>,
  ): void {
    this.storeCaptures(forward.captures);
    this.diag.add('flipRatio', this.flips.update(forward.wHats));
    const old = this.lstm;
    this.lstm = this.options.lstmReset || !newState ? null : newState;
    if (old) tf.dispose([old.h, old.c]);
    if (this.options.lstmReset && newState) tf.dispose([newState.h, newState.c]);
    if (trace) {
      for (const [k, v] of metaGrads) trace.metaGrad.set(k, v);
      for (const [k, v] of phiGrads) trace.metaParamGrads.set(k, v);
      this.lastTrace = trace;
    } else {
      tf.dispose([...metaGrads.values(), ...phiGrads.values()]);
    }
    tf.dispose([...forward.wHats.values(), ...forward.wMetas.values(), ...calibration.values()]);
  }

  /**
   * This iteration's loss as a function of φ, for gradient checks; changes no state. The forward
   * weight is W_meta(φ) = W_base − α·cal ⊙ (m(φ) − m(φ₀)), where W_base is the look-ahead value
   * (code mode: W − α·G; paper mode: W − α·π(cal ⊙ m(φ₀))), i.e. exactly the function whose
   * gradient the step's autodiff computes (the stop-gradient constant frozen at φ₀).
   */
  phiProbe(images: Tensor, labels: Tensor, alpha: number): PhiProbe {
    if (!this.started) throw new Error('the φ probe needs one completed iteration (no g_Ŵ yet)');
    const calibration = this.calibrations();
    const inputs = tf.tidy(() => {
      const i = this.metaInputs();
      return { gHat: tf.keep(i.gHat), wTilde: tf.keep(i.wTilde) };
    });
    const state = this.lstm ?? undefined;
    const m0 = new Map<string, Tensor>();
    tf.tidy(() => {
      for (const [k, v] of this.splitToLayers(this.meta.forward(inputs, state).metaGrad)) m0.set(k, tf.keep(v));
    });
    const base = new Map<string, Tensor>();
    if (this.options.mode === 'code') {
      for (const l of this.layers) base.set(l, tf.keep(tf.tidy(() => tf.sub(this.model.params.get(l), tf.mul(this.lookahead.get(l)!, alpha)))));
    } else {
      const saved = this.optimizer.getState();
      for (const l of this.layers) {
        base.set(l, tf.keep(tf.tidy(() => tf.sub(this.model.params.get(l), tf.mul(this.optimizer.direction(l, this.model.params.get(l), tf.mul(calibration.get(l)!, m0.get(l)!)), alpha)))));
      }
      this.optimizer.setState(saved);
    }
    const wMetaAt = (m: Map<string, Tensor>, l: string) => tf.sub(base.get(l)!, tf.mul(tf.mul(calibration.get(l)!, tf.sub(m.get(l)!, m0.get(l)!)), alpha));
    // A linear stand-in for Q with the estimator's derivative at W_meta(φ₀): FD of it → the STE-path gradient.
    const surrogate = new Map<string, { value: Tensor; slope: Tensor }>();
    for (const l of this.layers) {
      const w0 = base.get(l)!;
      surrogate.set(l, {
        value: tf.keep(this.quantizer.quantize(w0)),
        slope: tf.keep(tf.grad((w: Tensor) => tf.sum(this.quantizer.quantize(w)))(w0)),
      });
    }
    const biasHook = (name: string, b: tf.Variable) =>
      this.options.mode === 'code' && this.lookaheadBiases.has(name) ? tf.sub(b, tf.mul(this.lookahead.get(name)!, alpha)) : b;
    const lossWith = (kernel: (l: string, m: Map<string, Tensor>) => Tensor): (() => tf.Scalar) => () => {
      const m = this.splitToLayers(this.meta.forward(inputs, state).metaGrad);
      const hooks: WeightHooks = { kernel: (name, w) => (this.layers.includes(name) ? kernel(name, m) : w), bias: biasHook };
      return crossEntropy(this.model.forward(images, hooks, true, { updateStatistics: false }), labels) as tf.Scalar;
    };
    const metaParams = this.meta.params;
    const withPhi = <T>(phi: Map<string, Float32Array> | undefined, f: () => T): T => {
      if (!phi) return f();
      const saved = new Map([...metaParams].map(([k, v]) => [k, tf.keep(v.clone())]));
      tf.tidy(() => {
        for (const [k, v] of phi) metaParams.get(k)!.assign(tf.tensor(v, metaParams.get(k)!.shape));
      });
      try {
        return f();
      } finally {
        for (const [k, v] of saved) {
          metaParams.get(k)!.assign(v);
          v.dispose();
        }
      }
    };
    return {
      phi0: new Map([...metaParams].map(([k, v]) => [k, Float32Array.from(v.dataSync())])),
      parts: { wMeta: base, calibration, m0, inputs, state },
      backprop: () => {
        const wHats = this.layers.map((l) => this.quantizer.quantize(base.get(l)!));
        const lossOf = (kernel: (i: number, w: Tensor) => Tensor) => (...ws: Tensor[]) => {
          const hooks: WeightHooks = { kernel: (name, w) => (this.layers.includes(name) ? kernel(this.layers.indexOf(name), ws[this.layers.indexOf(name)]!) : w), bias: biasHook };
          return crossEntropy(this.model.forward(images, hooks, true, { updateStatistics: false }), labels);
        };
        const gHat = tf.grads(lossOf((_i, w) => w))(wHats);
        const delta = tf.grads(lossOf((_i, w) => this.quantizer.quantize(w)))(this.layers.map((l) => base.get(l)!));
        tf.dispose(wHats);
        return { gHat: new Map(this.layers.map((l, i) => [l, gHat[i]!])), delta: new Map(this.layers.map((l, i) => [l, delta[i]!])) };
      },
      autodiff: () => {
        const { value, grads } = valueAndGrads(
          lossWith((l, m) => this.quantizer.quantize(tf.add(base.get(l)!, tf.sub(wMetaAt(m, l), stopGradient(wMetaAt(m, l)))))),
          new Map([...metaParams]),
        );
        const out = new Map([...metaParams.keys()].map((k) => [k, grads.has(k) ? Float32Array.from(grads.get(k)!.dataSync()) : new Float32Array(metaParams.get(k)!.size)]));
        tf.dispose([value, ...grads.values()]);
        return out;
      },
      loss: (kind, phi) =>
        withPhi(phi, () =>
          tf.tidy(() => {
            const kernel =
              kind === 'quantized'
                ? (l: string, m: Map<string, Tensor>) => this.quantizer.quantize(wMetaAt(m, l))
                : (l: string, m: Map<string, Tensor>) => {
                    const s = surrogate.get(l)!;
                    return tf.add(s.value, tf.mul(s.slope, tf.sub(wMetaAt(m, l), base.get(l)!)));
                  };
            return lossWith(kernel)().dataSync()[0]!;
          }),
        ),
      dispose: () => {
        tf.dispose([inputs.gHat, inputs.wTilde, ...m0.values(), ...base.values(), ...calibration.values()]);
        for (const s of surrogate.values()) tf.dispose([s.value, s.slope]);
      },
    };
  }

  /** Code mode's quirk: the evaluation forward overwrites each layer's stored W̃ with A(W). */
  afterEvaluation(): void {
    if (this.options.mode !== 'code' || !this.started) return;
    for (const l of this.layers) replaceKept(this.wTildePrev, l, this.quantizer.preQuantize(this.model.params.get(l)));
  }

  takeDiagnostics(): Record<string, number> {
    return this.diag.take();
  }

  getState(): SavedMetaQuantState {
    const metaParams: Record<string, SavedTensor> = {};
    for (const [k, v] of this.meta.params) metaParams[k] = saveTensor(v);
    return {
      started: this.started,
      optimizer: this.optimizer.getState(),
      metaParams,
      metaAdam: this.metaAdam.getState(),
      gHatPrev: saveTensorMap(this.gHatPrev),
      wTildePrev: saveTensorMap(this.wTildePrev),
      lookahead: saveTensorMap(this.lookahead),
      lstm: this.lstm ? { h: saveTensor(this.lstm.h), c: saveTensor(this.lstm.c) } : null,
      ...(this.zoRng ? { zoRng: this.zoRng.state() } : {}),
      flips: this.flips.getState(),
      diagnostics: this.diag.getState(),
    };
  }

  setState(raw: unknown): void {
    const s = raw as SavedMetaQuantState;
    this.started = s.started;
    this.optimizer.setState(s.optimizer);
    for (const [k, v] of Object.entries(s.metaParams)) this.meta.params.get(k)!.assign(tf.tensor(v.data, v.shape));
    this.metaAdam.setState(s.metaAdam);
    for (const [target, saved] of [[this.gHatPrev, s.gHatPrev], [this.wTildePrev, s.wTildePrev], [this.lookahead, s.lookahead]] as const) {
      disposeMap(target);
      for (const [k, v] of loadTensorMap(saved)) target.set(k, v);
    }
    if (this.lstm) tf.dispose([this.lstm.h, this.lstm.c]);
    this.lstm = s.lstm ? { h: loadTensor(s.lstm.h), c: loadTensor(s.lstm.c) } : null;
    this.flips.setState(s.flips);
    this.diag.setState(s.diagnostics);
    if (this.zoRng && s.zoRng) this.zoRng = new Rng(0, s.zoRng);
  }

  /** The meta network M_φ (read by gradcheck). */
  get metaNetwork(): MetaNetwork {
    return this.meta;
  }

  /** The meta optimizer (exposed for the parity test, which compares its state). */
  get metaOptimizer(): TorchAdam {
    return this.metaAdam;
  }

  dispose(): void {
    this.optimizer.dispose();
    this.metaAdam.dispose();
    this.meta.dispose();
    disposeMap(this.gHatPrev);
    disposeMap(this.wTildePrev);
    disposeMap(this.lookahead);
    if (this.lstm) tf.dispose([this.lstm.h, this.lstm.c]);
    this.flips.dispose();
    this.finite.dispose();
    if (this.lastTrace) disposeTrace(this.lastTrace);
  }
}

/**
 * ∂W̃/∂W elementwise, with the layer statistics held constant: dorefa's A has derivative
 * (1 − tanh²W)/(2·max|tanh W|) = cal/2; BWN, ternary and sign have W̃ = W.
 */
export function preQuantizeDerivative(q: WeightQuantizer, w: Tensor): Tensor {
  return q.name === 'dorefa' ? tf.mul(q.calibration(w), 0.5) : tf.onesLike(w);
}

export function disposeTrace(t: MetaQuantTrace): void {
  for (const m of [t.wMeta, t.bMeta, t.metaGrad, t.calibration, t.steGrad, t.metaParamGrads]) disposeMap(m);
}
