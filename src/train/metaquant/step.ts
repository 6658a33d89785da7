import { tf, type Tensor } from '../../engine/tf.js';
import type { QuantizedModel } from '../../models/model.js';
import type { WeightQuantizer } from '../../quantizers/types.js';
import type { LstmState, MetaNetwork } from '../../meta/types.js';
import { FlipTracker, MeanAccumulator, cosines } from '../diagnostics.js';
import { UsageError } from '../../util/errors.js';
import { BaseOptimizer, TorchAdam } from '../optimizers.js';
import { replaceKept } from '../tensor-state.js';
import { FiniteCheck } from '../finite-check.js';
import type { StepContext, StepResult, TrainStep } from '../step.js';
import { KernelLayout, MetaCall, WASM_HEAP_BYTES, checkLstmMemory } from './meta-pass.js';
import { LookaheadForward, type ForwardRecord, type KernelWeight } from './forward.js';
import { createPhiPath, steRegressionPath, withLinearLookahead, type PhiGradientStrategy } from './phi-path.js';
import { CarriedState, restoreMetaQuantState, saveMetaQuantState, type SavedMetaQuantState } from './state.js';
import { disposeTrace, newTrace, record, type MetaQuantTrace } from './trace.js';
import { applyFixedC } from './fix-c.js';
import { MetaMonitor } from './monitor.js';
import { referenceMomentumNotice, type MetaQuantMode, type MetaQuantOptions } from './options.js';

/**
 * One MetaQuant iteration (spec §6 code-faithful, §7 paper-faithful). The meta network M_φ turns
 * last iteration's (g_Ŵ, W̃) into a gradient for W̃; φ is trained by the task loss through a
 * look-ahead weight placed in the forward pass. `codeIteration` and `paperIteration` read top to
 * bottom; the meta pass, the φ-paths and the carried state live beside this file.
 */
export class MetaQuantStep implements TrainStep {
  readonly name = 'metaquant';
  /** One line for the run's log when the step departs from the textbook (the reference's SGD-M). */
  readonly notice: string | null;
  /** Set by `step` when `recordTrace` is true. */
  lastTrace: MetaQuantTrace | null = null;
  recordTrace = false;
  private readonly quantizer: WeightQuantizer;
  private readonly layout: KernelLayout;
  private readonly network: LookaheadForward;
  private readonly metaAdam: TorchAdam;
  private readonly phiPath: PhiGradientStrategy;
  /** Code mode's SGD-M (spec §6 step 5): the optimizer also sees each kernel's raw δ. */
  private readonly aliasedMomentum: boolean;
  private readonly carried = new CarriedState();
  private readonly flips = new FlipTracker();
  private readonly diag = new MeanAccumulator();
  /** NaN/Inf probes of this step's meta output and gradients (read back once per step). */
  private readonly finite = new FiniteCheck();
  /** The meta learning rate's multiplier this step (StepContext.metaLrScale). */
  private metaLrScale = 1;
  /** The φ schedule (--meta-warmup) and the collapse watch. */
  private readonly monitor: MetaMonitor;

  constructor(
    readonly model: QuantizedModel,
    private readonly meta: MetaNetwork,
    private readonly optimizer: BaseOptimizer,
    private readonly options: MetaQuantOptions,
  ) {
    if (!model.quantizer) throw new UsageError('MetaQuant needs a quantizer (got --quantizer none)');
    this.quantizer = model.quantizer;
    this.layout = new KernelLayout(model);
    this.network = new LookaheadForward(model, this.quantizer, options.mode, this.carried, this.finite);
    this.metaAdam = new TorchAdam(options.metaLr);
    this.phiPath = createPhiPath(options);
    this.monitor = new MetaMonitor(options);
    applyFixedC(meta, options);
    this.notice = referenceMomentumNotice(options.mode, optimizer.config);
    this.aliasedMomentum = this.notice !== null;
    checkLstmMemory(meta, this.layout.total, options.maxMetaMemoryBytes ?? 8 * 2 ** 30, tf.getBackend() === 'wasm' ? WASM_HEAP_BYTES : undefined);
  }

  step(images: Tensor, labels: Tensor, ctx: StepContext): StepResult {
    const t0 = performance.now();
    this.metaLrScale = ctx.metaLrScale ?? 1;
    const result = !this.carried.started
      ? this.firstIteration(images, labels)
      : this.options.mode === 'code'
        ? this.codeIteration(images, labels, ctx.lr)
        : this.paperIteration(images, labels, ctx.lr, ctx.lrMultiplier);
    this.carried.started = true;
    this.diag.add('stepSeconds', (performance.now() - t0) / 1000);
    const c = this.meta.effectiveScalar();
    if (c !== null) this.diag.add('metaC', c);
    return { ...result, nonFinite: this.finite.take() };
  }

  /** Spec §6, iteration 0: no meta-gradient exists yet. Forward with W; G := the raw gradients; nothing moves. */
  private firstIteration(images: Tensor, labels: Tensor): StepResult {
    const forward = this.network.forwardBackward(images, labels, (_k, w) => w, 0, null, false);
    for (const name of this.network.lookaheadNames) replaceKept(this.carried.lookahead, name, forward.grads.get(name)!.clone());
    tf.dispose([...forward.grads.values()]);
    this.finishIteration(forward, null, new Map(), new Map(), null, null);
    return { loss: forward.loss, correct: forward.correct, size: labels.shape[0]! };
  }

  /** Spec §6, the authors' code (iterations t ≥ 1). */
  private codeIteration(images: Tensor, labels: Tensor, alpha: number): StepResult {
    // --meta-warmup: φ by regression onto STE and W by STE (δ) for the first iterations.
    const warmup = this.monitor.warmingUp;
    const phiPath = warmup ? steRegressionPath : this.phiPath;
    // Step 2's constant: cal = cal(W), from the weights before this step.
    const calibration = this.calibrations();
    const trace = this.startTrace(calibration);
    let metaStart = performance.now();
    // Step 1: m = M_φ(g_Ŵ^{t−1}, W̃^{t−1}), evaluated when first needed (with φ's VJP on the STE and Eq. 8 paths).
    const call = this.metaCall();
    // Step 2's look-ahead value: W − α·G. Its φ-derivative is −α·cal ⊙ ∂m/∂φ, i.e. as a function of m,
    // W_meta(m) = (W − α·G) − α·cal ⊙ (m − m(φ₀)): the zeroth-order path's objective, taken before anything moves.
    const lookahead: KernelWeight = (k, w) => tf.sub(w, tf.mul(this.carried.lookahead.get(k)!, alpha));
    const early = withLinearLookahead(call, this.layout, calibration, alpha, (k) => lookahead(k, this.model.params.get(k)), (weightAt) =>
      phiPath.early({ ...this.phiContext(call, calibration, alpha), weightAt, loss: (kernel) => this.network.loss(images, labels, kernel, alpha) }),
    );
    let metaSeconds = (performance.now() - metaStart) / 1000;
    // Steps 2–3: forward with W − α·G (and b − α·G_b); one backward gives δ = ∂L/∂W_meta, g_Ŵ^t and W̃^t.
    const forward = this.network.forwardBackward(images, labels, lookahead, alpha, trace, phiPath.readsWMeta);
    metaStart = performance.now();
    // φ's gradient (STE: the VJP of M_φ with cotangent −α·cal ⊙ δ; Eq. 8; STE regression), in the pass that also yields m.
    const phiGrads = early ?? phiPath.late({ ...this.phiContext(call, calibration, alpha), forward });
    this.finite.watch('meta output', call.values().metaGrad);
    const m = this.layout.split(call.values().metaGrad);
    // Step 4: Adam on φ.
    this.metaStep(phiGrads, 1);
    metaSeconds += (performance.now() - metaStart) / 1000;

    // Step 5: W's gradient := cal ⊙ m (the STE gradient δ is discarded; during the warm-up δ is
    // kept); every parameter takes p ← p − α·π(grad) and G := π.
    const grads = forward.grads;
    const calibrated = new Map(this.layout.kernels.map((k) => [k, tf.mul(calibration.get(k)!, m.get(k)!)]));
    this.watchCosines(calibrated, grads, forward.loss);
    const raw = new Map<string, Tensor>();
    for (const k of this.layout.kernels) {
      record(trace, 'steGrad', k, grads.get(k)!);
      raw.set(k, grads.get(k)!);
      if (warmup) calibrated.get(k)!.dispose();
      else grads.set(k, calibrated.get(k)!);
    }
    const directions = this.optimizer.apply((n) => this.model.params.get(n), grads, alpha, this.aliasedMomentum ? raw : undefined);
    for (const [name, d] of directions) {
      if (this.carried.lookahead.has(name)) replaceKept(this.carried.lookahead, name, d);
      else d.dispose();
    }
    tf.dispose([...new Set([...grads.values(), ...raw.values()])]);
    this.finishIteration(forward, call, m, calibration, trace, phiGrads);
    this.diag.add('metaSeconds', metaSeconds);
    return { loss: forward.loss, correct: forward.correct, size: labels.shape[0]! };
  }

  /** Spec §7, the paper's equations: W moves first, the forward uses the moved weights; β decays with α. */
  private paperIteration(images: Tensor, labels: Tensor, alpha: number, lrMultiplier: number): StepResult {
    const calibration = this.calibrations();
    const trace = this.startTrace(calibration);
    let metaStart = performance.now();
    // m = M_φ(g_Ŵ^{t−1}, W̃^{t−1}).
    const call = this.metaCall();
    this.finite.watch('meta output', call.values().metaGrad);
    const m = this.layout.split(call.values().metaGrad);
    // The zeroth-order path's objective is the loss of the weights the forward will use,
    // W_t − α·π(cal ⊙ m(φ)) (π previewed without advancing the optimizer), before W moves.
    const early = this.phiPath.early({
      ...this.phiContext(call, calibration, alpha),
      weightAt: (k, mk) => {
        const w = this.model.params.get(k);
        return tf.sub(w, tf.mul(this.optimizer.peekDirection(k, w, tf.mul(calibration.get(k)!, mk)), alpha));
      },
      loss: (kernel) => this.network.loss(images, labels, kernel, alpha),
    });
    // W ← W − α·π(cal ⊙ m).
    const calibrated = new Map(this.layout.kernels.map((k) => [k, tf.keep(tf.mul(calibration.get(k)!, m.get(k)!))]));
    tf.dispose([...this.optimizer.apply((n) => this.model.params.get(n), calibrated, alpha).values()]);
    let metaSeconds = (performance.now() - metaStart) / 1000;
    // Forward with the moved weights; one backward gives δ, g_Ŵ^t and W̃^t.
    const forward = this.network.forwardBackward(images, labels, (_k, w) => w, alpha, trace, this.phiPath.readsWMeta);
    metaStart = performance.now();
    // φ's gradient through −α·cal ⊙ m (cotangent −α·cal ⊙ δ, or Eq. 8's), then Adam on φ with β·(α's schedule).
    const phiGrads = early ?? this.phiPath.late({ ...this.phiContext(call, calibration, alpha), forward });
    this.metaStep(phiGrads, lrMultiplier);
    metaSeconds += (performance.now() - metaStart) / 1000;

    // The float parameters (biases, batch norm) take their ordinary gradients.
    const grads = forward.grads;
    this.watchCosines(calibrated, grads, forward.loss);
    for (const k of this.layout.kernels) {
      record(trace, 'steGrad', k, grads.get(k)!);
      grads.get(k)!.dispose();
      grads.delete(k);
    }
    tf.dispose([...this.optimizer.apply((n) => this.model.params.get(n), grads, alpha).values(), ...calibrated.values(), ...grads.values()]);
    this.finishIteration(forward, call, m, calibration, trace, phiGrads);
    this.diag.add('metaSeconds', metaSeconds);
    return { loss: forward.loss, correct: forward.correct, size: labels.shape[0]! };
  }

  /** The `cosMetaSte` diagnostic, cos(cal ⊙ m, δ) per kernel, and the collapse watch that reads it. */
  private watchCosines(calibrated: Map<string, Tensor>, grads: Map<string, Tensor>, loss: number): void {
    const values = cosines(this.layout.kernels.map((k) => [calibrated.get(k)!, grads.get(k)!]));
    for (const c of values) this.diag.add('cosMetaSte', c);
    this.monitor.afterMetaStep(values, loss);
  }

  /** Collapse warnings since the last call (the trainer prints them on stderr). */
  takeWarnings(): string[] {
    return this.monitor.takeWarnings();
  }

  private phiContext(call: MetaCall, calibration: Map<string, Tensor>, alpha: number) {
    return { alpha, layout: this.layout, quantizer: this.quantizer, call, calibration, diag: this.diag };
  }

  private metaCall(): MetaCall {
    const inputs = { gHat: this.layout.flatten((k) => this.carried.gHatPrev.get(k)!), wTilde: this.layout.flatten((k) => this.carried.wTildePrev.get(k)!) };
    return new MetaCall(this.meta, inputs, this.carried.lstm ?? undefined);
  }

  private metaStep(phiGrads: Map<string, Tensor> | null, lrMultiplier: number): void {
    if (!phiGrads || this.options.freezePhi || this.options.detachPhi) return;
    this.metaAdam.lr = this.options.metaLr * this.metaLrScale * (this.options.mode === 'paper' ? lrMultiplier : 1);
    this.metaAdam.step(this.meta.params, phiGrads);
  }

  private calibrations(): Map<string, Tensor> {
    return new Map(this.layout.kernels.map((k) => [k, tf.keep(this.quantizer.calibration(this.model.params.get(k)))]));
  }

  private startTrace(calibration: Map<string, Tensor>): MetaQuantTrace | null {
    if (this.lastTrace) disposeTrace(this.lastTrace);
    this.lastTrace = this.recordTrace ? newTrace(calibration) : null;
    return this.lastTrace;
  }

  /** Carries g_Ŵ^t, W̃^t and the LSTM state to the next iteration; the trace keeps m and φ's gradient. */
  private finishIteration(forward: ForwardRecord, call: MetaCall | null, m: Map<string, Tensor>, calibration: Map<string, Tensor>, trace: MetaQuantTrace | null, phiGrads: Map<string, Tensor> | null): void {
    this.carried.keepCaptures(forward.captures);
    this.diag.add('flipRatio', this.flips.update(forward.wHats));
    this.carried.carryLstm(call?.takeState(), this.options.lstmReset ?? false);
    call?.dispose();
    for (const [k, v] of m) trace ? trace.metaGrad.set(k, v) : v.dispose();
    for (const [k, v] of phiGrads ?? []) trace ? trace.metaParamGrads.set(k, v) : v.dispose();
    tf.dispose([...forward.wHats.values(), ...forward.wMetas.values(), ...calibration.values()]);
  }

  /** Code mode's quirk: the evaluation forward overwrites each layer's stored W̃ with A(W). */
  afterEvaluation(): void {
    if (this.options.mode !== 'code' || !this.carried.started) return;
    for (const k of this.layout.kernels) replaceKept(this.carried.wTildePrev, k, this.quantizer.preQuantize(this.model.params.get(k)));
  }

  takeDiagnostics(): Record<string, number> {
    return { ...this.diag.take(), ...this.monitor.takeDiagnostics() };
  }

  getState(): SavedMetaQuantState {
    return saveMetaQuantState(this.stateOwners());
  }

  setState(raw: unknown): void {
    restoreMetaQuantState(this.stateOwners(), raw);
  }

  private stateOwners() {
    const { carried, optimizer, meta, metaAdam, phiPath, flips, diag, monitor } = this;
    return { carried, optimizer, meta, metaAdam, phiPath, flips, diag, monitor };
  }

  /** g_Ŵ from the last backward pass, per quantized kernel (the next meta call's input). */
  previousGHat(kernel: string): Tensor | undefined { return this.carried.gHatPrev.get(kernel); }

  /** W̃ from the last forward pass, per quantized kernel. */
  previousWTilde(kernel: string): Tensor | undefined { return this.carried.wTildePrev.get(kernel); }

  /** G, the last applied direction the next look-ahead uses (quantized kernels and their biases). */
  lookaheadDirection(name: string): Tensor | undefined { return this.carried.lookahead.get(name); }

  /** The per-element LSTM state the next meta call will receive (null = zeros). */
  get lstmState(): LstmState | null { return this.carried.lstm; }

  /** 'code' or 'paper' (read by the φ probe). */
  get mode(): MetaQuantMode { return this.options.mode; }

  /** The base optimizer (the φ probe previews paper mode's π with it). */
  get baseOptimizer(): BaseOptimizer { return this.optimizer; }

  /** The meta network M_φ (read by gradcheck and the φ probe). */
  get metaNetwork(): MetaNetwork { return this.meta; }

  /** The meta optimizer (the parity test compares its state; tests and gradcheck observe the φ-gradient it receives). */
  get metaOptimizer(): TorchAdam { return this.metaAdam; }

  dispose(): void {
    this.optimizer.dispose();
    this.metaAdam.dispose();
    this.meta.dispose();
    this.carried.dispose();
    this.flips.dispose();
    this.finite.dispose();
    if (this.lastTrace) disposeTrace(this.lastTrace);
  }
}
