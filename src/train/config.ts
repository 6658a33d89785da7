import { z } from 'zod';
import { UsageError } from '../util/errors.js';
import { BACKENDS } from '../engine/backend.js';
import { OPTIMIZERS } from './optimizers.js';
import { SCHEDULES } from './schedules.js';
import { META_ACTIVATIONS, META_KINDS } from '../meta/types.js';
import { MQ_MODES, PHI_PATHS } from './metaquant/options.js';
import { ZO_METHODS } from './zeroth-order.js';

export const QUANTIZER_CHOICES = ['dorefa', 'bwn', 'ternary', 'sign', 'none'] as const;
/** Training methods: the STE baselines, MetaQuant, and the ablations of the critique issue. */
export const METHODS = ['ste', 'clipped-ste', 'metaquant', 'ste-hypergrad'] as const;
export const ON_NAN = ['stop', 'skip-batch', 'rollback'] as const;

const enumOf = <T extends readonly [string, ...string[]]>(values: T, what: string) =>
  z.string().refine((v) => (values as readonly string[]).includes(v), { message: `unknown ${what}; expected one of: ${values.join(', ')}` }).transform((v) => v as T[number]);

/** The one validated description of a training run. The CLI builds it from flags; tests write it directly. */
export const TrainConfigSchema = z.object({
  dataset: z.string().default('mnist'),
  dataDir: z.string().optional(),
  trainLimit: z.number().int().positive().optional(),
  testLimit: z.number().int().positive().optional(),
  augment: z.boolean().optional(),
  model: z.string().default('mlp'),
  hidden: z.array(z.number().int().positive().max(2 ** 20)).max(64).optional(),
  quantizer: enumOf(QUANTIZER_CHOICES, 'quantizer').default('dorefa'),
  bits: z.number().int().min(1).max(8).default(1),
  perChannel: z.boolean().default(false),
  keepFirstLastFp: z.boolean().default(false),
  estimator: enumOf(METHODS, 'estimator').default('ste'),
  lrScale: z.number().positive().default(1),
  /** ste-hypergrad: β of the learning-rate update; null = Baydin et al.'s setting for the optimizer (SGD 1e-3, Adam 1e-7). */
  hypergradBeta: z.number().positive().nullable().default(null),
  meta: enumOf(META_KINDS, 'meta network').default('fcgrad'),
  metaHidden: z.number().int().positive().max(65536).default(100),
  metaLayers: z.number().int().min(2).max(64).default(3),
  metaActivation: enumOf(META_ACTIVATIONS, 'meta activation').default('none'),
  metaLr: z.number().positive().default(1e-3),
  mqMode: enumOf(MQ_MODES, 'MetaQuant mode').default('code'),
  phiPath: enumOf(PHI_PATHS, 'phi path').default('ste'),
  zoMethod: enumOf(ZO_METHODS, 'zeroth-order method').default('spsa'),
  zoSamples: z.number().int().positive().default(2),
  zoScale: z.number().positive().default(0.05),
  lstmReset: z.boolean().default(false),
  freezePhi: z.boolean().default(false),
  detachPhi: z.boolean().default(false),
  maxMetaMemoryGiB: z.number().positive().default(8),
  optimizer: enumOf(OPTIMIZERS, 'optimizer').default('adam'),
  lr: z.number().positive().default(1e-3),
  momentum: z.number().min(0).max(1).default(0),
  nesterov: z.boolean().default(false),
  /** null = the method's default: 5e-4 for MetaQuant with Adam (the reference), 0 otherwise. */
  weightDecay: z.number().min(0).nullable().default(null),
  schedule: enumOf(SCHEDULES, 'lr schedule').default('step'),
  lrStepEpochs: z.number().int().positive().default(30),
  epochs: z.number().int().positive().default(5),
  batchSize: z.number().int().positive().default(128),
  evalBatchSize: z.number().int().positive().default(500),
  seed: z.number().int().default(1),
  backend: enumOf(BACKENDS, 'backend').default('wasm'),
  init: z.string().optional(),
  out: z.string().optional(),
  onNan: enumOf(ON_NAN, 'on-nan policy').default('stop'),
  checkpointEvery: z.number().int().positive().optional(),
  /** --on-nan rollback: give up after this many rollbacks without a new checkpoint in between. */
  maxRollbacks: z.number().int().positive().default(3),
  /** Refuse runs whose estimated memory exceeds this (default: the free memory of the machine). */
  maxMemoryGiB: z.number().positive().optional(),
  /** Testing aid (real option, hidden from --help): these global steps (1-based) see an all-NaN input batch, once each. */
  injectNanAtSteps: z.array(z.number().int().positive()).optional(),
});

export type TrainConfig = z.output<typeof TrainConfigSchema>;
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;

/** Validates and fills defaults; every problem is reported at once, naming the field. */
export function parseTrainConfig(input: unknown): TrainConfig {
  const result = TrainConfigSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new UsageError(`invalid training config:\n  ${lines.join('\n  ')}`);
  }
  const c = result.data;
  if (c.estimator === 'metaquant' && c.quantizer === 'none') throw new UsageError("--estimator metaquant needs a quantizer; got --quantizer none");
  if (c.quantizer !== 'dorefa' && c.bits !== 1 && c.quantizer !== 'none') {
    throw new UsageError(`--bits applies to dorefa only; ${c.quantizer} has a fixed width (use --bits 1 or omit it)`);
  }
  return c;
}

export function effectiveWeightDecay(c: TrainConfig): number {
  if (c.weightDecay !== null) return c.weightDecay;
  return c.estimator === 'metaquant' && c.optimizer === 'adam' ? 5e-4 : 0;
}
