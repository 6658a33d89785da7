// The one definition of every training option: its key (the field of TrainConfig; the flag is the
// key in kebab case, `lrStep` ↔ `--lr-step`), its zod type with its default, its help text and how
// flag text becomes its value. schema.ts builds the zod schema from this table and flags.ts the
// commander options, so an option is added here once and nowhere else.
import { z } from 'zod';
import { BACKENDS } from '../engine/backend.js';
import { MODEL_NAMES } from '../models/architectures.js';
import { registeredQuantizerNames } from '../quantizers/registry.js';
import { registeredActQuantizerNames } from '../quantizers/act-registry.js';
import { HIDDEN_ACTIVATIONS } from '../models/architectures.js';
import { registeredMetaKinds } from '../meta/registry.js';
import { META_ACTIVATIONS } from '../meta/types.js';
import { METHODS, MQ_MODES, ON_NAN, OPTIMIZERS, PHI_OBJECTIVES, PHI_PATHS, SCHEDULES, ZO_METHODS } from './choices.js';
import { parseInteger, parseIntegerList, parseNumber } from './flag-values.js';

export interface Field<S extends z.ZodType = z.ZodType> {
  /** The value's type and default (`.default(x)`, `.optional()` or `.nullable().default(null)`). */
  schema: S;
  help: string;
  /** The flag's value placeholder, e.g. '<n>'; absent for a switch (`--nesterov`). */
  value?: string;
  /** Flag text → value (numbers, lists); absent: the text itself. */
  parse?: (text: string) => unknown;
  /** The allowed values, read when a schema or command is built (registries may grow). */
  choices?: () => readonly string[];
  /** A list field: a config file may give one number for a one-element list. */
  list?: boolean;
  /** A switch that also has `--no-key` (e.g. --augment / --no-augment): that flag's help. */
  negatable?: string;
  /** Not listed by --help (testing aids). */
  hidden?: boolean;
  /** Older flag names still accepted for this field (e.g. --estimator for --method). */
  aliases?: string[];
}

/** A value from a fixed list (a typed union) or from a registry (a string checked at parse time). */
function oneOf<T extends readonly [string, ...string[]]>(values: T, what: string) {
  return z
    .string()
    .refine((v) => (values as readonly string[]).includes(v), { message: `unknown ${what}; expected one of: ${values.join(', ')}` })
    .transform((v) => v as T[number]);
}

function registered(names: () => readonly string[], what: string) {
  return z.string().superRefine((v, ctx) => {
    const valid = names();
    if (!valid.includes(v)) ctx.addIssue({ code: 'custom', message: `unknown ${what} '${v}'; expected one of: ${valid.join(', ')}` });
  });
}

const quantizerChoices = () => [...registeredQuantizerNames(), 'none'];
const actQuantizerChoices = () => [...registeredActQuantizerNames(), 'none'];
const int = (value: string, help: string) => ({ value, help, parse: parseInteger });
const num = (value: string, help: string) => ({ value, help, parse: parseNumber });
const choice = (help: string, choices: () => readonly string[], value = '<name>') => ({ value, help, choices });
const fixed = (values: readonly string[]) => () => values;

/**
 * Every training option, in the order config.json lists them. Defaults live in the schemas only;
 * --help shows them from there.
 */
export const TRAIN_FIELDS = {
  dataset: { schema: z.string().default('mnist'), value: '<name>', help: 'mnist (bundled), fashion-mnist, idx:DIR, cifar10, cifar100, synthetic' },
  dataDir: { schema: z.string().optional(), value: '<dir>', help: 'folder holding the data set files' },
  trainLimit: { schema: z.number().int().positive().optional(), ...int('<n>', 'use only the first n training images') },
  testLimit: { schema: z.number().int().positive().optional(), ...int('<n>', 'use only the first n test images') },
  valSplit: { schema: z.number().gt(0).lt(1).optional(), ...num('<fraction>', 'hold out this stratified fraction of the training images for validation (selection never reads the test set)') },
  valSeed: { schema: z.number().int().optional(), ...int('<n>', 'seed of the --val-split split (default 0: the same split for every training seed)') },
  augment: { schema: z.boolean().optional(), negatable: 'disable augmentation', help: 'pad-4 random crop + horizontal flip (default: on for CIFAR only)' },
  model: { schema: registered(() => MODEL_NAMES, 'architecture').default('mlp'), ...choice('architecture', () => MODEL_NAMES) },
  hidden: {
    schema: z.array(z.number().int().positive().max(2 ** 20)).max(64).optional(),
    value: '<sizes>',
    help: 'mlp hidden widths, comma separated (default 256,256)',
    parse: parseIntegerList,
    list: true,
  },
  quantizer: { schema: registered(quantizerChoices, 'quantizer').default('dorefa'), ...choice('weight quantizer (registered quantizers, or none)', quantizerChoices) },
  bits: { schema: z.number().int().min(1).max(8).default(1), ...int('<k>', 'dorefa/lsq bit width (1-8)') },
  perChannel: { schema: z.boolean().default(false), help: 'bwn/ternary: one scale per output channel' },
  keepFirstLastFp: { schema: z.boolean().default(false), help: 'keep the first and last weight layers in float' },
  // --- activation quantization (issue 16). Optional, not defaulted: configs without them keep their identity (canonical JSON). ---
  actQuantizer: {
    schema: registered(actQuantizerChoices, 'activation quantizer').optional(),
    ...choice("quantize every quantized layer's input: sign, dorefa, pact, lsq, or none (default: float activations)", actQuantizerChoices),
  },
  actBits: { schema: z.number().int().min(1).max(8).optional(), ...int('<k>', 'activation bit width for dorefa/pact/lsq (1-8, default 1)') },
  hiddenActivation: {
    schema: oneOf(HIDDEN_ACTIVATIONS, 'hidden activation').optional(),
    ...choice('mlp/lenet5 hidden activation: relu (default) or identity (a BNN: sign activations need negative inputs)', fixed(HIDDEN_ACTIVATIONS)),
  },
  // --- end activation quantization ---
  method: {
    schema: oneOf(METHODS, 'method').default('ste'),
    ...choice('training method (the canonical flag; --estimator is an alias): STE variants or MetaQuant', fixed(METHODS)),
    aliases: ['estimator'],
  },
  lrScale: { schema: z.number().positive().default(1), ...num('<x>', 'multiply the STE learning rate by x') },
  /** ste-hypergrad: β of the learning-rate update; null = Baydin et al.'s setting for the optimizer (SGD 1e-3, Adam 1e-7). */
  hypergradBeta: { schema: z.number().positive().nullable().default(null), ...num('<beta>', 'ste-hypergrad: learning rate of the learning rate (default: SGD 1e-3, Adam 1e-7, as Baydin et al.)') },
  meta: { schema: registered(registeredMetaKinds, 'meta network').default('fcgrad'), ...choice('MetaQuant meta network (registered meta networks)', registeredMetaKinds, '<kind>') },
  metaHidden: { schema: z.number().int().positive().max(65536).default(100), ...int('<n>', 'meta network hidden width') },
  metaLayers: { schema: z.number().int().min(2).max(64).default(3), ...int('<n>', 'multifc linear layers (reference runs: 3, paper: 2)') },
  metaActivation: { schema: oneOf(META_ACTIVATIONS, 'meta activation').default('none'), ...choice('fcgrad/multifc activation', fixed(META_ACTIVATIONS)) },
  metaLr: { schema: z.number().positive().default(1e-3), ...num('<beta>', 'meta network Adam learning rate') },
  mqMode: { schema: oneOf(MQ_MODES, 'MetaQuant mode').default('code'), ...choice("code = the authors' code (default), paper = the paper's equations", fixed(MQ_MODES), '<mode>') },
  phiPath: {
    schema: oneOf(PHI_PATHS, 'phi path').default('ste'),
    ...choice("how phi's gradient crosses the quantizer: ste (reference), meta (Eq. 8) or zeroth-order (loss differences, no gradient through Q)", fixed(PHI_PATHS), '<path>'),
  },
  zoMethod: { schema: oneOf(ZO_METHODS, 'zeroth-order method').default('spsa'), ...choice('zeroth-order phi path: spsa (Rademacher) or es (antithetic Gaussian)', fixed(ZO_METHODS)) },
  zoSamples: { schema: z.number().int().positive().default(2), ...int('<n>', 'zeroth-order phi path: antithetic perturbation pairs per step (2 losses each)') },
  zoScale: { schema: z.number().positive().default(0.05), ...num('<sigma>', "zeroth-order phi path: perturbation size relative to each phi tensor's RMS") },
  lstmReset: { schema: z.boolean().default(false), help: 'zero the LSTM meta state every step' },
  freezePhi: { schema: z.boolean().default(false), help: 'ablation: never train phi' },
  detachPhi: { schema: z.boolean().default(false), help: 'ablation: no path from the loss to phi' },
  // --- issue 17 (sci-train): what trains φ, its warm-up, and a frozen φ with a fixed c ---
  phiObjective: {
    schema: oneOf(PHI_OBJECTIVES, 'phi objective').default('base'),
    ...choice('what trains phi: base (the task loss, the reference) or ste-regression (fit cal*M_phi to the STE gradient)', fixed(PHI_OBJECTIVES), '<objective>'),
  },
  metaWarmup: { schema: z.number().int().min(0).default(0), ...int('<steps>', 'first this many MetaQuant steps: phi by ste-regression, weights by STE; then --phi-objective') },
  fixC: { schema: z.number().nullable().default(null), ...num('<c>', "with --freeze-phi: set the meta network's scalar c to this value (fcgrad/multifc: rescale the last layer; lstm: output layer = constant c)") },
  // --- end issue 17 (sci-train) ---
  maxMetaMemory: { schema: z.number().positive().default(8), ...num('<GiB>', 'refuse LSTM meta state larger than this') },
  optimizer: { schema: oneOf(OPTIMIZERS, 'optimizer').default('adam'), ...choice('base optimizer', fixed(OPTIMIZERS)) },
  lr: { schema: z.number().positive().default(1e-3), ...num('<alpha>', 'base learning rate') },
  momentum: { schema: z.number().min(0).max(1).default(0), ...num('<mu>', 'SGD momentum') },
  nesterov: { schema: z.boolean().default(false), help: 'Nesterov momentum' },
  /** null = the method's default: 5e-4 for MetaQuant with Adam (the reference), 0 otherwise. */
  weightDecay: { schema: z.number().min(0).nullable().default(null), ...num('<lambda>', 'L2 weight decay (default: 5e-4 for MetaQuant+Adam as the reference, else 0)') },
  schedule: { schema: oneOf(SCHEDULES, 'lr schedule').default('step'), ...choice('learning-rate schedule', fixed(SCHEDULES)) },
  lrStep: { schema: z.number().int().positive().default(30), ...int('<epochs>', 'step schedule: divide the lr by 10 every this many epochs') },
  epochs: { schema: z.number().int().positive().default(5), ...int('<n>', 'epochs') },
  batchSize: { schema: z.number().int().positive().default(128), ...int('<n>', 'batch size') },
  evalBatchSize: { schema: z.number().int().positive().default(500), ...int('<n>', 'batch size of the test-set evaluation after each epoch (memory only; same results)') },
  seed: { schema: z.number().int().default(1), ...int('<n>', 'random seed (weights, data order, augmentation, meta network)') },
  backend: { schema: oneOf(BACKENDS, 'backend').default('wasm'), ...choice('TensorFlow.js backend (tensorflow = @tensorflow/tfjs-node if installed)', fixed(BACKENDS)) },
  init: { schema: z.string().optional(), value: '<checkpoint>', help: 'start from the weights of a run folder or checkpoint (e.g. a float model)' },
  out: { schema: z.string().optional(), value: '<dir>', help: 'run folder (default runs/<timestamp>)' },
  onNan: {
    schema: oneOf(ON_NAN, 'on-nan policy').default('stop'),
    ...choice('when the loss, meta output or a gradient is NaN/Inf: stop, skip-batch (discard the step), rollback (last checkpoint, halved learning rates)', fixed(ON_NAN), '<policy>'),
  },
  checkpointEvery: { schema: z.number().int().positive().optional(), ...int('<steps>', 'also write a checkpoint every this many steps (default: every epoch only)') },
  /** --on-nan rollback: give up after this many rollbacks without a new checkpoint in between. */
  maxRollbacks: { schema: z.number().int().positive().default(3), ...int('<n>', '--on-nan rollback: give up after this many consecutive rollbacks') },
  /** Refuse runs whose estimated memory exceeds this many GiB (default: the free memory of the machine). */
  maxMemory: { schema: z.number().positive().optional(), ...num('<GiB>', 'refuse runs estimated above this much memory (default: the free memory)') },
  /** Testing aid (real option, hidden from --help): these global steps (1-based) see an all-NaN input batch, once each. */
  injectNan: { schema: z.array(z.number().int().positive()).optional(), value: '<steps>', help: 'testing: feed an all-NaN batch at these global steps', parse: parseIntegerList, list: true, hidden: true },
} satisfies Record<string, Field>;

export type TrainField = keyof typeof TRAIN_FIELDS;
export const TRAIN_FIELD_KEYS = Object.keys(TRAIN_FIELDS) as TrainField[];

export const fieldOf = (key: string): Field | undefined => (Object.prototype.hasOwnProperty.call(TRAIN_FIELDS, key) ? (TRAIN_FIELDS as Record<string, Field>)[key] : undefined);

/** `lrStep` → `lr-step`: a field's flag name (without the dashes). */
export const flagName = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** `lr-step` → `lrStep`. */
export const fieldKey = (flag: string) => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The field a flag name (without dashes, aliases included) sets, or undefined. */
export function fieldForFlag(flag: string): TrainField | undefined {
  const key = fieldKey(flag);
  if (fieldOf(key) && flagName(key) === flag) return key as TrainField;
  return TRAIN_FIELD_KEYS.find((k) => (TRAIN_FIELDS[k] as Field).aliases?.includes(flag));
}
