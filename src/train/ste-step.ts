import { tf, type Tensor, type Variable } from '../engine/tf.js';
import type { QuantizedModel } from '../models/model.js';
import type { WeightHooks } from '../models/layers.js';
import { BaseOptimizer, type OptimizerState } from './optimizers.js';
import { lossAndGradients } from './loss.js';
import { FlipTracker, MeanAccumulator } from './diagnostics.js';
import type { StepContext, StepResult, TrainStep } from './step.js';
import { FiniteCheck } from './finite-check.js';

export interface SteStepOptions {
  /** Multiplies the learning rate (the `--lr-scale` ablation: STE at lr × c). */
  lrScale?: number;
}

interface SavedSteState {
  optimizer: OptimizerState;
  /** Diagnostics in progress (absent in older checkpoints). */
  flips?: ReturnType<FlipTracker['getState']>;
  diagnostics?: ReturnType<MeanAccumulator['getState']>;
}

/** Straight-through training: forward with Q(A(W)), backward with the quantizer's estimator. */
export class SteStep implements TrainStep {
  readonly name: string = 'ste';
  protected readonly vars: Map<string, Variable>;
  private readonly flips = new FlipTracker();
  private readonly diag = new MeanAccumulator();
  private readonly finite = new FiniteCheck();

  constructor(
    protected readonly model: QuantizedModel,
    protected readonly optimizer: BaseOptimizer,
    protected readonly options: SteStepOptions = {},
  ) {
    this.vars = new Map(model.params.trainableNames().map((n) => [n, model.params.get(n)]));
  }

  step(images: Tensor, labels: Tensor, ctx: StepContext): StepResult {
    const wHats = new Map<string, Tensor>();
    const base = this.model.steHooks();
    const hooks: WeightHooks = {
      kernel: (name, w) => {
        const q = base.kernel(name, w);
        if (this.model.isQuantized(name)) wHats.set(name, tf.keep(q));
        return q;
      },
      bias: base.bias,
    };
    const { loss, correct, grads } = lossAndGradients(this.model, images, labels, hooks, this.vars);
    this.finite.watch('gradient', grads.values());
    const directions = this.optimizer.apply((n) => this.model.params.get(n), grads, this.learningRate(grads, ctx));
    this.afterUpdate(directions, ctx);
    this.diag.add('flipRatio', this.flips.update(wHats));
    tf.dispose([...grads.values(), ...directions.values(), ...wHats.values()]);
    return { loss, correct, size: labels.shape[0]!, nonFinite: this.finite.take() };
  }

  /** The step size for this update (subclasses adapt it; `grads` are this step's gradients). */
  protected learningRate(_grads: Map<string, Tensor>, ctx: StepContext): number {
    return ctx.lr * (this.options.lrScale ?? 1);
  }

  /** Sees the applied directions π(g) before they are disposed. */
  protected afterUpdate(_directions: Map<string, Tensor>, _ctx: StepContext): void {}

  takeDiagnostics(): Record<string, number> {
    return this.diag.take();
  }

  getState(): SavedSteState {
    return { optimizer: this.optimizer.getState(), flips: this.flips.getState(), diagnostics: this.diag.getState() };
  }

  setState(state: unknown): void {
    const s = state as SavedSteState;
    this.optimizer.setState(s.optimizer);
    this.flips.setState(s.flips);
    this.diag.setState(s.diagnostics);
  }

  dispose(): void {
    this.optimizer.dispose();
    this.flips.dispose();
    this.finite.dispose();
  }
}
