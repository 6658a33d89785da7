import { tf } from '../engine/tf.js';
import { useBackend } from '../engine/backend.js';
import { batchCount, epochOrder } from '../data/pipeline.js';
import { batchTensors } from '../data/batch-tensors.js';
import type { Dataset } from '../data/types.js';
import type { QuantizedModel } from '../models/model.js';
import { Rng, type RngState } from '../util/rng.js';
import { InterruptedError, NonFiniteError, UsageError } from '../util/errors.js';
import type { TrainConfig } from '../config/schema.js';
import { datasetFromUserData, type UserData } from '../data/user-data.js';
import { writeCheckpoint } from '../run/checkpoint.js';
import {
  initialiseFromCheckpoint,
  readCheckpointPayload,
  type CheckpointPayload,
  type EpochMetrics,
  type RunPosition,
  type SavedParams,
} from '../run/checkpoint-payload.js';
import { configFromFile, writeRunConfig } from '../run/run-config.js';
import { defaultRunDir, removeStaleTempFiles, writeMetrics } from '../run/run-folder.js';
import { lrMultiplier } from './schedules.js';
import type { StepResult, TrainStep } from './step.js';
import { evaluate } from './evaluate.js';
import { createStep, datasetFor, effectiveConfig, modelConfigFor, restoreTraining } from './factory.js';
import { buildModelWithinMemory, checkRunMemory } from './memory.js';
import { trainerInputParts, type TrainerInput } from './trainer-input.js';

export type { EpochMetrics, RunPosition, CheckpointPayload } from '../run/checkpoint-payload.js';
export type { TrainerInput } from './trainer-input.js';

export interface TrainResult {
  testAccuracy: number;
  testLoss: number;
  epochs: number;
  seconds: number;
  imagesPerSecond: number;
  out: string;
  history: EpochMetrics[];
}

export interface BatchProgress {
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
}

export interface TrainCallbacks {
  onEpochStart?(epoch: number, batches: number): void;
  onBatch?(p: BatchProgress): void;
  onEpochEnd?(m: EpochMetrics): void;
  /** A step was discarded or rolled back because of NaN/Inf (`--on-nan skip-batch|rollback`). */
  onNonFinite?(message: string): void;
  /** A warning from the step strategy (e.g. MetaQuant's collapse watch), one line. */
  onWarning?(message: string): void;
}

export interface RunOptions {
  /** Aborting it (reason 'SIGINT' or 'SIGTERM') ends the run after the current step with a checkpoint. */
  signal?: AbortSignal;
}

function epochStartPosition(epoch: number, rollbacks = 0): RunPosition {
  return { epoch, batch: 0, lossSum: 0, correct: 0, seen: 0, skipped: 0, rollbacks };
}

/** The model's and the step's state at a step boundary (for `--on-nan skip-batch`). */
interface StepSnapshot {
  params: SavedParams;
  stepState: unknown;
}

/** Lets signal handlers run between steps (the step itself is synchronous). */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The parts of a step's result that are NaN/Inf: the loss, and whatever the step reported. */
const nonFiniteParts = (r: StepResult) => [...(Number.isFinite(r.loss) ? [] : ['loss']), ...(r.nonFinite ?? [])];

/**
 * A training run, readable top to bottom: data → model → step strategy → epochs of
 * (batches → evaluation → metrics → checkpoint). Everything the next step depends on is in
 * the checkpoint, so a resumed run continues bit-identically (mid-epoch too).
 */
export class Trainer {
  /** Steps taken since the run began (skipped ones included). */
  private globalStep: number;
  /** Multiplies the base and the meta learning rate; halved by each `--on-nan rollback`. */
  private lrScale: number;
  private position: RunPosition;
  /** State of the order stream at the start of `position.epoch` (regenerates the epoch's order). */
  private orderState: RngState;
  private augmentRng: Rng;
  /** The last checkpoint written, kept in memory for `--on-nan rollback`. */
  private lastGood: CheckpointPayload | null = null;
  private lastSavedAt: string | null = null;
  private consecutiveRollbacks = 0;
  private readonly pendingNan: Set<number>;
  readonly history: EpochMetrics[];

  private constructor(
    readonly config: TrainConfig,
    readonly dataset: Dataset,
    readonly model: QuantizedModel,
    readonly step: TrainStep,
    readonly out: string,
    saved: Pick<CheckpointPayload, 'rng' | 'history' | 'position' | 'globalStep' | 'lrScale' | 'epochsDone'> | null,
  ) {
    this.history = saved ? saved.history.slice() : [];
    this.orderState = saved ? saved.rng.order : new Rng(`order:${config.seed}`).state();
    this.augmentRng = saved ? new Rng(0, saved.rng.augment) : new Rng(`augment:${config.seed}`);
    this.position = saved?.position ? { ...saved.position } : epochStartPosition(saved?.epochsDone ?? 0);
    this.globalStep = saved?.globalStep ?? 0;
    this.lrScale = saved?.lrScale ?? 1;
    this.pendingNan = new Set(config.injectNan ?? []);
    if (saved) this.lastSavedAt = describePosition(this.position);
  }

  /** Builds a fresh run from config fields (validated here) and, optionally, your own `data`. */
  static async create(input: TrainerInput): Promise<Trainer> {
    const { config, loadData } = trainerInputParts(input);
    await useBackend(config.backend);
    const dataset = await loadData();
    const model = buildModelWithinMemory(config, modelConfigFor(config, dataset));
    model.normalisation = { mean: dataset.mean, std: dataset.std };
    try {
      checkRunMemory(config, model);
      if (config.init) initialiseFromCheckpoint(model, config.init);
    } catch (err) {
      model.dispose();
      throw err;
    }
    const step = createStep(config, model);
    const out = config.out ?? defaultRunDir();
    writeRunConfig(out, effectiveConfig(config, dataset)); // defaults resolved: what the run uses
    return new Trainer(config, dataset, model, step, out, null);
  }

  /** Reopens a run folder and continues exactly where its last checkpoint left off (a run on your own data: pass it again). */
  static async resume(runDir: string, overrides: { epochs?: number; lr?: number; metaLr?: number } = {}, data?: UserData): Promise<Trainer> {
    removeStaleTempFiles(runDir);
    const { payload: saved, file } = readCheckpointPayload(runDir);
    const config = configFromFile({ ...saved.config, ...overrides, out: runDir }, file);
    await useBackend(config.backend);
    const dataset = data ? await datasetFromUserData(data, config) : await datasetFor(config);
    const { model, step } = restoreTraining(saved, file, config);
    const trainer = new Trainer(config, dataset, model, step, runDir, saved);
    // A kill between the checkpoint and the metrics write leaves metrics.jsonl behind; heal it.
    writeMetrics(runDir, trainer.history);
    return trainer;
  }

  async run(callbacks: TrainCallbacks = {}, options: RunOptions = {}): Promise<TrainResult> {
    const { config, dataset } = this;
    const started = performance.now();
    let imagesSeen = 0;
    let trainSeconds = 0;
    if (config.onNan === 'rollback' && !this.lastGood) this.lastGood = this.payload();
    epochs: while (this.position.epoch < config.epochs) {
      const epoch = this.position.epoch;
      const multiplier = lrMultiplier({ name: config.schedule, stepEpochs: config.lrStep }, epoch, config.epochs);
      const orderRng = new Rng(0, this.orderState);
      const order = epochOrder(dataset.train.count, orderRng);
      const batches = batchCount(order.length, config.batchSize);
      callbacks.onEpochStart?.(epoch, batches);
      const epochStart = performance.now();
      for (let b = this.position.batch; b < batches; b++) {
        const { result, before } = this.trainOn(order, b, epoch, multiplier);
        for (const warning of this.step.takeWarnings?.() ?? []) callbacks.onWarning?.(warning);
        const bad = nonFiniteParts(result);
        if (bad.length > 0) {
          const { message, rolledBack } = this.applyNanPolicy(bad, result, `epoch ${epoch + 1}, step ${b + 1} of ${batches}`, before);
          callbacks.onNonFinite?.(message);
          if (rolledBack) continue epochs;
        } else {
          this.position.lossSum += result.loss * result.size;
          this.position.correct += result.correct;
          this.position.seen += result.size;
        }
        this.position.batch = b + 1;
        const p = this.position;
        callbacks.onBatch?.({ epoch, batch: b, batches, loss: p.lossSum / p.seen, accuracy: p.correct / p.seen, imagesPerSecond: p.seen / ((performance.now() - epochStart) / 1000) });
        if (b + 1 < batches) this.betweenSteps(options.signal);
        await yieldToEventLoop();
      }
      const seconds = (performance.now() - epochStart) / 1000;
      trainSeconds += seconds;
      imagesSeen += this.position.seen;
      const metrics = this.epochMetrics(epoch, multiplier, seconds);
      this.history.push(metrics);
      this.orderState = orderRng.state();
      this.position = epochStartPosition(epoch + 1);
      this.saveCheckpoint();
      writeMetrics(this.out, this.history);
      callbacks.onEpochEnd?.(metrics);
      if (options.signal?.aborted && this.position.epoch < config.epochs) this.interrupt(options.signal);
    }
    const last = this.history[this.history.length - 1];
    if (!last) throw new UsageError(`nothing to train: the run already completed ${this.position.epoch} of ${config.epochs} epochs`);
    return {
      testAccuracy: last.testAccuracy,
      testLoss: last.testLoss,
      epochs: this.position.epoch,
      seconds: (performance.now() - started) / 1000,
      imagesPerSecond: imagesSeen / Math.max(trainSeconds, 1e-9),
      out: this.out,
      history: this.history,
    };
  }

  /** One step on batch `b` of the epoch's order; with skip-batch, also the state from before it. */
  private trainOn(order: Int32Array, b: number, epoch: number, multiplier: number): { result: StepResult; before: StepSnapshot | null } {
    const { config, dataset } = this;
    const augment = config.augment ?? dataset.augmentByDefault;
    this.globalStep++;
    const poison = this.pendingNan.delete(this.globalStep);
    const { x, y } = batchTensors(dataset, 'train', order, b, config.batchSize, {
      augment,
      rng: this.augmentRng,
      edit: poison ? (batch) => batch.images.fill(Number.NaN) : undefined,
    });
    // skip-batch copies the weights and step state out before each step (a memcpy of the
    // model and optimizer state; on the CPU/wasm backends small next to the step itself).
    const before = config.onNan === 'skip-batch' ? this.snapshot() : null;
    const lr = config.lr * multiplier * this.lrScale;
    const result = this.step.step(x, y, { epoch, batchIndex: b, lr, lrMultiplier: multiplier, metaLrScale: this.lrScale });
    tf.dispose([x, y]);
    return { result, before };
  }

  /** The epoch's metrics line: training sums, the test evaluation, the step's diagnostics. */
  private epochMetrics(epoch: number, multiplier: number, seconds: number): EpochMetrics {
    const { config } = this;
    const { seen, lossSum, correct, skipped, rollbacks } = this.position;
    const test = evaluate(this.model, this.dataset, 'test', config.evalBatchSize);
    // Validation first in the line's meaning: selection (compare) reads valAccuracy, never testAccuracy.
    const val = this.dataset.val ? evaluate(this.model, { ...this.dataset, test: this.dataset.val }, 'test', config.evalBatchSize) : null;
    this.step.afterEvaluation?.();
    return {
      epoch: epoch + 1,
      trainLoss: lossSum / seen,
      trainAccuracy: correct / seen,
      testLoss: test.loss,
      testAccuracy: test.accuracy,
      ...(val ? { valLoss: val.loss, valAccuracy: val.accuracy } : {}),
      lr: config.lr * multiplier * this.lrScale,
      seconds,
      imagesPerSecond: seen / seconds,
      ...this.step.takeDiagnostics(),
      ...(config.onNan === 'skip-batch' ? { nonFiniteSkips: skipped } : {}),
      ...(config.onNan === 'rollback' ? { rollbacks } : {}),
    };
  }

  /** Between two steps of an epoch: a pending signal ends the run with a checkpoint; `--checkpoint-every`. */
  private betweenSteps(signal: AbortSignal | undefined): void {
    if (signal?.aborted) this.interrupt(signal);
    if (this.config.checkpointEvery && this.globalStep % this.config.checkpointEvery === 0) this.saveCheckpoint();
  }

  /**
   * `--on-nan`: stop (throw, keeping the last checkpoint), rollback (to the last checkpoint with
   * halved learning rates) or skip-batch (undo the step). Returns the message for onNonFinite.
   */
  private applyNanPolicy(bad: string[], result: StepResult, where: string, before: StepSnapshot | null): { message: string; rolledBack: boolean } {
    const what = bad.join(' and ');
    switch (this.config.onNan) {
      case 'stop':
        throw new NonFiniteError(
          `training stopped: the ${what} became NaN/Inf at ${where}` +
            `${bad.includes('loss') ? ` (loss ${result.loss})` : ''}; ` +
            (this.lastSavedAt ? `the last good checkpoint (${this.lastSavedAt}) is kept in ${this.out}` : `no checkpoint was written yet`) +
            `; lower --lr or --meta-lr, or use --on-nan skip-batch or rollback`,
        );
      case 'rollback':
        return { message: this.rollback(`${what} became NaN/Inf at ${where}`), rolledBack: true };
      case 'skip-batch':
        this.restore(before!);
        this.position.skipped++;
        return { message: `the ${what} became NaN/Inf at ${where}; step discarded (--on-nan skip-batch)`, rolledBack: false };
    }
  }

  /** Everything a checkpoint holds, as of now. */
  private payload(): CheckpointPayload {
    return {
      config: this.config,
      modelConfig: this.model.config,
      epochsDone: this.history.length,
      params: copyParams(this.model.params.snapshot()),
      stepState: this.step.getState(),
      rng: { order: this.orderState, augment: this.augmentRng.state() },
      history: this.history.slice(),
      position: { ...this.position },
      globalStep: this.globalStep,
      lrScale: this.lrScale,
      normalization: { mean: this.dataset.mean, std: this.dataset.std },
    };
  }

  saveCheckpoint(): void {
    const payload = this.payload();
    writeCheckpoint(this.out, payload);
    this.lastSavedAt = describePosition(this.position);
    this.consecutiveRollbacks = 0;
    if (this.config.onNan === 'rollback') this.lastGood = payload;
  }

  private snapshot(): StepSnapshot {
    return { params: copyParams(this.model.params.snapshot()), stepState: this.step.getState() };
  }

  private restore(s: StepSnapshot): void {
    this.model.params.load(s.params);
    this.step.setState(s.stepState);
  }

  /** `--on-nan rollback`: back to the last good checkpoint with both learning rates halved. */
  private rollback(what: string): string {
    const good = this.lastGood!;
    if (++this.consecutiveRollbacks > this.config.maxRollbacks) {
      throw new NonFiniteError(
        `training stopped: the ${what} after ${this.config.maxRollbacks} consecutive rollbacks ` +
          `(learning rates now ×${this.lrScale}); the last good checkpoint (${this.lastSavedAt ?? 'none written'}) is kept in ${this.out}`,
      );
    }
    const rollbacks = this.position.rollbacks + 1;
    this.restore(good);
    this.orderState = good.rng.order;
    this.augmentRng = new Rng(0, good.rng.augment);
    this.position = { ...good.position!, rollbacks };
    this.globalStep = good.globalStep!;
    this.history.length = 0;
    this.history.push(...good.history);
    this.lrScale /= 2;
    return `the ${what}; rolled back to ${describePosition(this.position)} with learning rates ×${this.lrScale} (--on-nan rollback)`;
  }

  /** A signal arrived: checkpoint here and end the run (the CLI exits 130/143). */
  private interrupt(signal: AbortSignal): never {
    this.saveCheckpoint();
    const name = signal.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
    throw new InterruptedError(
      name,
      `interrupted by ${name}; checkpoint written at ${describePosition(this.position)} in ${this.out}; ` +
        `continue with: metaquant train --resume ${this.out}`,
    );
  }

  dispose(): void {
    this.step.dispose();
    this.model.dispose();
  }
}

function describePosition(p: RunPosition): string {
  return p.batch === 0 ? (p.epoch === 0 ? 'the start of training' : `the end of epoch ${p.epoch}`) : `epoch ${p.epoch + 1}, after step ${p.batch}`;
}

function copyParams(params: SavedParams): SavedParams {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, { shape: v.shape.slice(), data: Float32Array.from(v.data) }]));
}
