// What a checkpoint holds, and its validation before anything is built from it: a checkpoint is
// a file like any other and may be corrupt, truncated or hand-edited.
import { z } from 'zod';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { QuantizedModel, type ModelConfig } from '../models/model.js';
import { MODEL_NAMES } from '../models/architectures.js';
import { InputFileError, MetaquantError, UsageError } from '../util/errors.js';
import type { RngState } from '../util/rng.js';
import { migrateLegacyKeys, type TrainConfig } from '../config/schema.js';
import { CHECKPOINT_FILE, readCheckpoint } from './checkpoint.js';

/** One line of metrics.jsonl. */
export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  lr: number;
  seconds: number;
  imagesPerSecond: number;
  [diagnostic: string]: number;
}

/** Where the next step is: its epoch, its batch within the epoch, and the epoch's running sums. */
export interface RunPosition {
  epoch: number;
  batch: number;
  lossSum: number;
  correct: number;
  seen: number;
  /** Steps discarded by `--on-nan skip-batch` this epoch. */
  skipped: number;
  /** `--on-nan rollback` restores since the last metrics line. */
  rollbacks: number;
}

export type SavedParams = Record<string, { shape: number[]; data: Float32Array }>;

/** What a checkpoint holds: enough to evaluate, export, initialise from, or resume. */
export interface CheckpointPayload {
  /** As saved, legacy keys renamed (validated only where a run is resumed from it). */
  config: TrainConfig;
  modelConfig: ModelConfig;
  epochsDone: number;
  params: SavedParams;
  stepState: unknown;
  /** order: the order stream at the start of `position.epoch`; augment: as of the checkpoint. */
  rng: { order: RngState; augment: RngState };
  history: EpochMetrics[];
  /** Per-channel mean/std (in [0,1] units) the inputs were normalised with; exports build it into the model. Absent in older checkpoints. */
  normalization?: { mean: number[]; std: number[] };
  /** The next step (absent in epoch-end checkpoints of older versions: the next epoch's start). */
  position?: RunPosition;
  globalStep?: number;
  lrScale?: number;
}

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const savedTensor = z.object({
  shape: z.array(int(0, 2 ** 31)),
  data: z.custom<Float32Array>((v) => v instanceof Float32Array, 'expected tensor data'),
});
const rngState = z.object({ i: int(0, 255), j: int(0, 255), S: z.array(int(0, 255)).length(256) });
const counter = z.number().finite().min(0);

/** Largest input image a checkpoint may describe (the build forward allocates one). */
const MAX_INPUT_VALUES = 2 ** 22;

const ModelConfigSchema = z
  .object({
    arch: z.string().refine((a) => MODEL_NAMES.includes(a), { message: `unknown architecture; expected one of: ${MODEL_NAMES.join(', ')}` }),
    inputShape: z.tuple([int(1, 4096), int(1, 4096), int(1, 64)]),
    numClasses: int(1, 100_000),
    archOptions: z.object({ hidden: z.array(int(1, 2 ** 20)).max(64).optional(), batchNorm: z.boolean().optional(), activation: z.enum(['relu', 'identity']).optional() }).optional(),
    quantizer: z.object({ name: z.string() }).passthrough().nullable(),
    keepFirstLastFp: z.boolean().optional(),
    seed: z.number().int(),
  })
  .passthrough()
  .refine((m) => m.inputShape[0] * m.inputShape[1] * m.inputShape[2] <= MAX_INPUT_VALUES, { message: `input image above ${MAX_INPUT_VALUES} values`, path: ['inputShape'] });

const PositionSchema = z.object({
  epoch: int(0, 2 ** 31),
  batch: int(0, 2 ** 31),
  lossSum: z.number().finite(),
  correct: counter,
  seen: counter,
  skipped: counter,
  rollbacks: counter,
});

const PayloadSchema = z
  .object({
    config: z.record(z.string(), z.unknown()),
    modelConfig: ModelConfigSchema,
    epochsDone: int(0, 2 ** 31),
    params: z.record(z.string(), savedTensor),
    stepState: z.record(z.string(), z.unknown()),
    rng: z.object({ order: rngState, augment: rngState }),
    history: z.array(z.record(z.string(), z.number().nullable())),
    position: PositionSchema.optional(),
    globalStep: int(0, 2 ** 52).optional(),
    lrScale: z.number().positive().finite().optional(),
  })
  .passthrough();

/** Checks the decoded payload's structure; every problem is an InputFileError naming the file and the field. */
export function validatePayload(raw: unknown, file: string): CheckpointPayload {
  const r = PayloadSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new InputFileError(file, `corrupt checkpoint: ${first.path.join('.') || '(payload)'}: ${first.message}`);
  }
  let config: Record<string, unknown>;
  try {
    config = migrateLegacyKeys(r.data.config);
  } catch (err) {
    throw new InputFileError(file, `corrupt checkpoint: config: ${(err as Error).message}`);
  }
  return { ...r.data, config } as unknown as CheckpointPayload;
}

function checkpointFile(path: string): string {
  return existsSync(path) && statSync(path).isDirectory() ? join(path, CHECKPOINT_FILE) : path;
}

/** Reads, decodes and validates a checkpoint (a run folder or the file). */
export function readCheckpointPayload(path: string): { payload: CheckpointPayload; file: string } {
  const file = checkpointFile(path);
  return { payload: validatePayload(readCheckpoint(path), file), file };
}

/**
 * Builds the model a checkpoint describes, allocating no more parameters than the file holds,
 * and loads its weights; a mismatch is an InputFileError.
 */
export function modelFromPayload(payload: CheckpointPayload, file: string): QuantizedModel {
  const held = Object.values(payload.params).reduce((n, p) => n + p.data.length, 0);
  let model: QuantizedModel;
  try {
    model = new QuantizedModel(payload.modelConfig as ModelConfig, { maxParameters: held });
  } catch (err) {
    throw new InputFileError(file, `its model description does not match its weights (${(err as Error).message})`);
  }
  try {
    loadParams(model, payload.params, file);
  } catch (err) {
    model.dispose();
    throw err;
  }
  if (payload.normalization) model.normalisation = payload.normalization;
  return model;
}

/** Loads every parameter of `model` from a checkpoint's params, as an InputFileError on any mismatch. */
export function loadParams(model: QuantizedModel, params: SavedParams, file: string): void {
  try {
    model.params.load(params);
  } catch (err) {
    if (err instanceof MetaquantError) throw err;
    throw new InputFileError(file, `its weights do not fit its model (${(err as Error).message})`);
  }
}

/** Loads a run's model (a run folder or a checkpoint file) for evaluation or export. */
export function loadModel(path: string): { model: QuantizedModel; payload: CheckpointPayload } {
  const { payload, file } = readCheckpointPayload(path);
  const model = modelFromPayload(payload, file);
  return { model, payload };
}

/** `--init`: copies every parameter whose name and shape match (e.g. a float model into a quantized one). */
export function initialiseFromCheckpoint(model: QuantizedModel, path: string): void {
  const { payload: saved } = readCheckpointPayload(path);
  let copied = 0;
  const values: SavedParams = {};
  for (const p of model.params.infos) {
    const v = saved.params[p.name];
    if (v && v.shape.join('x') === p.shape.join('x')) {
      values[p.name] = v;
      copied++;
    }
  }
  if (copied === 0) throw new UsageError(`--init ${path}: no parameter of that checkpoint matches this model (${model.config.arch})`);
  model.params.load(values, { strict: false });
}
