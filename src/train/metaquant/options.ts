import type { OptimizerConfig } from '../optimizers.js';
import type { ZerothOrderOptions } from '../zeroth-order.js';
import type { PhiObjective } from '../../config/choices.js';

/** 'code': the authors' code (spec §6); 'paper': the paper's equations (spec §7). */
export const MQ_MODES = ['code', 'paper'] as const;
export type MetaQuantMode = (typeof MQ_MODES)[number];
/**
 * How φ gets its gradient: through the quantizer with STE (the reference), Eq. 8 of the paper,
 * or from loss differences of the real quantized network (never differentiating through Q).
 */
export const PHI_PATHS = ['ste', 'meta', 'zeroth-order'] as const;
export type PhiPath = (typeof PHI_PATHS)[number];

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
  /** What trains φ after any warm-up: the task loss ('base', the reference) or the STE regression (regression.ts). */
  phiObjective?: PhiObjective;
  /** The first this many iterations train φ by the STE regression while W moves by STE (0: none). */
  metaWarmup?: number;
  /** With freezePhi: φ's output scale set so that the effective scalar c is this value (fix-c.ts). */
  fixC?: number | null;
  /** Collapse warning: window length (steps) and consecutive negative windows (collapse.ts defaults). */
  collapse?: { window?: number; checks?: number };
  /** Refuse to allocate more LSTM state than this many bytes. */
  maxMetaMemoryBytes?: number;
  /** phiPath 'zeroth-order': the estimator and the seed of its perturbations. */
  zerothOrder?: ZerothOrderOptions & { seed: number };
}

/**
 * Spec §6 step 5: the reference's SGD-M refinement ends with `.grad = buf`, so inside its loop the
 * momentum is not textbook. Code mode reproduces that whenever SGD has momentum without Nesterov
 * (the aliasing does not depend on the values; the reference's only setting is 0.9 with weight
 * decay 5e-4); paper mode keeps textbook momentum. Returns the line a run prints, or null.
 */
export function referenceMomentumNotice(mode: MetaQuantMode, opt: Required<OptimizerConfig>): string | null {
  if (mode !== 'code' || opt.name !== 'sgd' || opt.momentum === 0 || opt.nesterov) return null;
  return (
    `code mode: SGD momentum ${opt.momentum} as the reference's SGD-M (its .grad aliases the momentum buffer): ` +
    `π = ${opt.momentum}·δ_t + cal⊙m + ${opt.weightDecay}·W for kernels, ${2 * opt.momentum}·(∂L/∂p + ${opt.weightDecay}·p) ` +
    'for the other parameters, from their second update; --mq-mode paper keeps textbook momentum'
  );
}
