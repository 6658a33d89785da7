import { tf, type Tensor } from '../engine/tf.js';
import type { QuantizedModel } from '../models/model.js';
import type { BaseOptimizer, OptimizerName, OptimizerState } from './optimizers.js';
import { loadTensorMap, disposeMap, replaceKept, saveTensorMap, type SavedTensor } from './tensor-state.js';
import { SteStep } from './ste-step.js';
import type { StepContext } from './step.js';
import { UsageError } from '../util/errors.js';

/** β of Baydin et al.'s experiments: 1e-3 for SGD-HD (and SGDN-HD), 1e-7 for Adam-HD. */
export const DEFAULT_HYPERGRAD_BETA: Record<OptimizerName, number> = { sgd: 1e-3, adam: 1e-7 };

export interface HypergradientState {
  alpha: number;
  previous: Record<string, SavedTensor>;
}

/**
 * Hypergradient descent on one global learning rate (Baydin et al., ICLR 2018). The update is
 * θ_t = θ_{t−1} − α_t·μ_t·d_{t−1}, with d the optimizer's direction π(∇f) and μ the schedule's
 * multiplier, so ∂θ_{t−1}/∂α = −μ_{t−1}·d_{t−2} and the hypergradient is
 *   h_t = ∂f(θ_{t−1})/∂α = −∇f(θ_{t−1}) · μ_{t−1}·d_{t−2},     α_t = α_{t−1} − β·h_t.
 * For plain SGD (d = ∇f, μ = 1) this is α_t = α_{t−1} + β·∇f(θ_{t−1})·∇f(θ_{t−2}); for Adam d is
 * m̂/(√v̂ + ε). ∇f includes the L2 term λθ when the optimizer folds weight decay into the gradient
 * (it is the gradient of the objective the optimizer descends). No clamping: α may shrink or grow freely.
 */
export class HypergradientLr {
  private currentAlpha: number;
  /** μ_{t−1}·d_{t−2} per parameter, or empty before the first update. */
  private readonly previous = new Map<string, Tensor>();

  constructor(
    initialAlpha: number,
    readonly beta: number,
    private readonly weightDecay = 0,
  ) {
    if (!(initialAlpha > 0 && Number.isFinite(initialAlpha))) throw new UsageError(`hypergradient: the initial learning rate must be positive; got ${initialAlpha}`);
    if (!(beta > 0 && Number.isFinite(beta))) throw new UsageError(`--hypergrad-beta must be a positive number; got ${beta}`);
    this.currentAlpha = initialAlpha;
  }

  get alpha(): number {
    return this.currentAlpha;
  }

  /** α_t from this step's gradients at θ_{t−1} (`params` gives θ_{t−1}); returns the new α. */
  update(grads: Map<string, Tensor>, params: (name: string) => Tensor): number {
    if (this.previous.size === 0) return this.currentAlpha;
    const dot = tf.tidy(() => {
      let sum: Tensor = tf.scalar(0);
      for (const [name, g] of grads) {
        const u = this.previous.get(name);
        if (!u) continue;
        const full = this.weightDecay !== 0 ? tf.add(g, tf.mul(params(name), this.weightDecay)) : g;
        sum = tf.add(sum, tf.sum(tf.mul(full, u)));
      }
      return sum.dataSync()[0]!;
    });
    this.currentAlpha += this.beta * dot; // −β·h_t with h_t = −dot
    return this.currentAlpha;
  }

  /** Remembers μ_t·d_t, the step just applied (copies; the caller keeps its tensors). */
  record(directions: Map<string, Tensor>, multiplier: number): void {
    for (const [name, d] of directions) replaceKept(this.previous, name, tf.tidy(() => (multiplier === 1 ? d.clone() : tf.mul(d, multiplier))));
  }

  getState(): HypergradientState {
    return { alpha: this.currentAlpha, previous: saveTensorMap(this.previous) };
  }

  setState(s: HypergradientState): void {
    this.currentAlpha = s.alpha;
    disposeMap(this.previous);
    for (const [k, v] of loadTensorMap(s.previous)) this.previous.set(k, v);
  }

  dispose(): void {
    disposeMap(this.previous);
  }
}

export interface SteHypergradOptions {
  /** α₀ (the run's --lr × --lr-scale). */
  initialLr: number;
  /** β; defaults to {@link DEFAULT_HYPERGRAD_BETA} for the optimizer. */
  beta?: number;
}

/**
 * Ablation `ste-hypergrad`: STE whose learning rate adapts online by hypergradient descent. It
 * separates "a learned step size" from "a learned gradient shape": FC-Grad without activation is
 * exactly a learned global multiplier c on the STE gradient, trained by the same kind of signal
 * (spec §6). The schedule's multiplier still applies on top of the adapted α.
 */
export class SteHypergradStep extends SteStep {
  override readonly name: string = 'ste-hypergrad';
  private readonly hyper: HypergradientLr;

  constructor(model: QuantizedModel, optimizer: BaseOptimizer, options: SteHypergradOptions) {
    super(model, optimizer, {});
    const beta = options.beta ?? DEFAULT_HYPERGRAD_BETA[optimizer.config.name];
    this.hyper = new HypergradientLr(options.initialLr, beta, optimizer.config.weightDecay);
  }

  /** The current adapted learning rate α (before the schedule's multiplier). */
  get alpha(): number {
    return this.hyper.alpha;
  }

  protected override learningRate(grads: Map<string, Tensor>, ctx: StepContext): number {
    return this.hyper.update(grads, (n) => this.model.params.get(n)) * ctx.lrMultiplier;
  }

  protected override afterUpdate(directions: Map<string, Tensor>, ctx: StepContext): void {
    this.hyper.record(directions, ctx.lrMultiplier);
  }

  override takeDiagnostics(): Record<string, number> {
    return { ...super.takeDiagnostics(), hyperLr: this.hyper.alpha };
  }

  override getState(): { optimizer: OptimizerState; hypergrad: HypergradientState } {
    return { ...super.getState(), hypergrad: this.hyper.getState() };
  }

  override setState(state: unknown): void {
    super.setState(state);
    this.hyper.setState((state as { hypergrad: HypergradientState }).hypergrad);
  }

  override dispose(): void {
    super.dispose();
    this.hyper.dispose();
  }
}
