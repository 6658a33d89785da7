// The fixed vocabularies of a training config. They live here, below the training code that
// implements them, so that the config (and the run folder that stores it) can be validated
// without importing the trainer. Open families (quantizers, meta networks, architectures) come
// from their registries instead; see fields.ts.

/** Training methods: the STE baselines, MetaQuant, and the ablations of the critique issue. */
export const METHODS = ['ste', 'clipped-ste', 'metaquant', 'ste-hypergrad'] as const;
export type MethodName = (typeof METHODS)[number];

export const ON_NAN = ['stop', 'skip-batch', 'rollback'] as const;
export type OnNanPolicy = (typeof ON_NAN)[number];

export const OPTIMIZERS = ['sgd', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export const SCHEDULES = ['step', 'cosine', 'constant'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

/** MetaQuant: the authors' code or the paper's equations (spec §6–§7). */
export const MQ_MODES = ['code', 'paper'] as const;
export type MetaQuantMode = (typeof MQ_MODES)[number];

/**
 * How φ gets its gradient: through the quantizer with STE (the reference), Eq. 8 of the paper,
 * or from loss differences of the real quantized network (never differentiating through Q).
 */
export const PHI_PATHS = ['ste', 'meta', 'zeroth-order'] as const;
export type PhiPath = (typeof PHI_PATHS)[number];

/** Zeroth-order φ path: Rademacher (SPSA) or antithetic Gaussian (ES) perturbations. */
export const ZO_METHODS = ['spsa', 'es'] as const;
export type ZerothOrderMethod = (typeof ZO_METHODS)[number];

/** What trains φ (issue 17): the task loss (the reference) or regression onto the STE gradient. */
export const PHI_OBJECTIVES = ['base', 'ste-regression'] as const;
export type PhiObjective = (typeof PHI_OBJECTIVES)[number];
