import type { Tensor } from '../engine/tf.js';
import type { NonFiniteQuantity } from './finite-check.js';

/** What one training iteration reports to the epoch loop. */
export interface StepResult {
  loss: number;
  correct: number;
  size: number;
  /** Quantities besides the loss that held NaN/Inf this step (the trainer checks the loss itself). */
  nonFinite?: NonFiniteQuantity[];
}

export interface StepContext {
  epoch: number;
  /** Iteration within the epoch (0-based). */
  batchIndex: number;
  /** Base learning rate α for this epoch. */
  lr: number;
  /** Multiplier of the base schedule this epoch (paper-mode MetaQuant decays β with it). */
  lrMultiplier: number;
  /** Multiplies the meta network's learning rate (halved by `--on-nan rollback`); default 1. */
  metaLrScale?: number;
}

/**
 * A training strategy (STE, MetaQuant, ablations). The epoch loop, evaluation, logging and
 * checkpoints are shared; strategies differ only in how one batch updates the model.
 */
export interface TrainStep {
  readonly name: string;
  /** One line the run's log should show when the strategy departs from the textbook (null/absent: none). */
  readonly notice?: string | null;
  step(images: Tensor, labels: Tensor, ctx: StepContext): StepResult;
  /** Called after each end-of-epoch evaluation (MetaQuant's code mode reads W̃ from it). */
  afterEvaluation?(): void;
  /** Warnings raised since the last call (MetaQuant's collapse watch); the trainer passes them to onWarning. */
  takeWarnings?(): string[];
  /** Per-epoch averages of the strategy's own diagnostics; resets the accumulators. */
  takeDiagnostics(): Record<string, number>;
  /** Everything the next step depends on, as plain data (bit-identical resume). */
  getState(): unknown;
  setState(state: unknown): void;
  dispose(): void;
}
