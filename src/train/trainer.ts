import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../engine/tf.js';
import { useBackend } from '../engine/backend.js';
import { loadDataset } from '../data/index.js';
import { epochOrder, makeBatch } from '../data/pipeline.js';
import type { Dataset } from '../data/types.js';
import { QuantizedModel, type ModelConfig } from '../models/model.js';
import { createMetaNetwork } from '../meta/registry.js';
import { Rng, type RngState } from '../util/rng.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { InputFileError, InterruptedError, MetaquantError, NonFiniteError, UsageError } from '../util/errors.js';
import { effectiveWeightDecay, parseTrainConfig, type TrainConfig } from './config.js';
import { BaseOptimizer } from './optimizers.js';
import { lrMultiplier } from './schedules.js';
import { SteStep } from './ste-step.js';
import { SteHypergradStep } from './ste-hypergrad-step.js';
import { MetaQuantStep } from './metaquant/step.js';
import type { TrainStep } from './step.js';
import { evaluate } from './evaluate.js';
import { writeCheckpoint } from './checkpoint.js';
import { modelFromPayload, readCheckpointPayload } from './checkpoint-payload.js';
import { buildModelWithinMemory, checkRunMemory } from './memory.js';
import type { QuantizerConfig } from '../quantizers/types.js';
import { quantizerTakesBits } from '../quantizers/registry.js';

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
}

/** What a checkpoint holds: enough to evaluate, export, initialise from, or resume. */
export interface CheckpointPayload {
  config: TrainConfig;
  modelConfig: ModelConfig;
  epochsDone: number;
  params: Record<string, { shape: number[]; data: Float32Array }>;
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

export function modelConfigFor(config: TrainConfig, dataset: Pick<Dataset, 'height' | 'width' | 'channels' | 'numClasses'>): ModelConfig {
  const quantizer: QuantizerConfig | null =
    config.quantizer === 'none'
      ? null
      : { name: config.quantizer, bits: quantizerTakesBits(config.quantizer) ? config.bits : undefined, perChannel: config.perChannel, estimator: config.estimator === 'clipped-ste' ? 'clipped-ste' : 'ste' };
  return {
    arch: config.model,
    inputShape: [dataset.height, dataset.width, dataset.channels],
    numClasses: dataset.numClasses,
    archOptions: config.hidden ? { hidden: config.hidden } : {},
    quantizer,
    keepFirstLastFp: config.keepFirstLastFp,
    seed: config.seed,
  };
}

export function createStep(config: TrainConfig, model: QuantizedModel): TrainStep {
  const optimizer = new BaseOptimizer({ name: config.optimizer, momentum: config.momentum, nesterov: config.nesterov, weightDecay: effectiveWeightDecay(config) });
  if (config.estimator === 'ste-hypergrad') return new SteHypergradStep(model, optimizer, { initialLr: config.lr * config.lrScale, beta: config.hypergradBeta ?? undefined });
  if (config.estimator !== 'metaquant') return new SteStep(model, optimizer, { lrScale: config.lrScale });
  const meta = createMetaNetwork({ kind: config.meta, hidden: config.metaHidden, layers: config.metaLayers, activation: config.metaActivation, seed: config.seed });
  return new MetaQuantStep(model, meta, optimizer, {
    mode: config.mqMode,
    phiPath: config.phiPath,
    metaLr: config.metaLr,
    lstmReset: config.lstmReset,
    freezePhi: config.freezePhi,
    detachPhi: config.detachPhi,
    maxMetaMemoryBytes: config.maxMetaMemoryGiB * 2 ** 30,
    zerothOrder: { method: config.zoMethod, samples: config.zoSamples, scale: config.zoScale, seed: config.seed },
  });
}

function datasetFor(config: TrainConfig): Promise<Dataset> {
  return loadDataset({ dataset: config.dataset, dataDir: config.dataDir, trainLimit: config.trainLimit, testLimit: config.testLimit });
}

function defaultRunDir(): string {
  return join('runs', new Date().toISOString().replace(/[:.]/g, '-'));
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

function epochStartPosition(epoch: number, rollbacks = 0): RunPosition {
  return { epoch, batch: 0, lossSum: 0, correct: 0, seen: 0, skipped: 0, rollbacks };
}

export interface RunOptions {
  /** Aborting it (reason 'SIGINT' or 'SIGTERM') ends the run after the current step with a checkpoint. */
  signal?: AbortSignal;
}

/** The model's and the step's state at a step boundary (for `--on-nan skip-batch`). */
interface StepSnapshot {
  params: CheckpointPayload['params'];
  stepState: unknown;
}

/** Lets signal handlers run between steps (the step itself is synchronous). */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

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
    this.pendingNan = new Set(config.injectNanAtSteps ?? []);
    if (saved) this.lastSavedAt = describePosition(this.position);
  }

  /** Builds a fresh run from a config (validated here). */
  static async create(input: unknown): Promise<Trainer> {
    const config = parseTrainConfig(input);
    await useBackend(config.backend);
    const dataset = await datasetFor(config);
    const model = buildModelWithinMemory(config, modelConfigFor(config, dataset));
    try {
      checkRunMemory(config, model);
      if (config.init) initialiseFrom(model, config.init);
    } catch (err) {
      model.dispose();
      throw err;
    }
    const step = createStep(config, model);
    const out = config.out ?? defaultRunDir();
    writeFileAtomic(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    return new Trainer(config, dataset, model, step, out, null);
  }

  /** Reopens a run folder and continues exactly where its last checkpoint left off. */
  static async resume(runDir: string, overrides: { epochs?: number; lr?: number; metaLr?: number } = {}): Promise<Trainer> {
    removeStaleTempFiles(runDir);
    const { payload: saved, file } = readCheckpointPayload(runDir);
    const config = configFromFile({ ...saved.config, ...overrides, out: runDir }, file);
    await useBackend(config.backend);
    const dataset = await datasetFor(config);
    const { model, step } = restoreTraining(saved, file, config);
    const trainer = new Trainer(config, dataset, model, step, runDir, saved);
    // A kill between the checkpoint and the metrics write leaves metrics.jsonl behind; heal it.
    trainer.writeMetrics();
    return trainer;
  }

  async run(callbacks: TrainCallbacks = {}, options: RunOptions = {}): Promise<TrainResult> {
    const { config, dataset } = this;
    const augment = config.augment ?? dataset.augmentByDefault;
    const [h, w, c] = [dataset.height, dataset.width, dataset.channels];
    const started = performance.now();
    let imagesSeen = 0;
    let trainSeconds = 0;
    if (config.onNan === 'rollback' && !this.lastGood) this.lastGood = this.payload();
    while (this.position.epoch < config.epochs) {
      const epoch = this.position.epoch;
      const multiplier = lrMultiplier({ name: config.schedule, stepEpochs: config.lrStepEpochs }, epoch, config.epochs);
      const orderRng = new Rng(0, this.orderState);
      const order = epochOrder(dataset.train.count, orderRng);
      const batches = Math.ceil(order.length / config.batchSize);
      callbacks.onEpochStart?.(epoch, batches);
      const epochStart = performance.now();
      let rolledBack = false;
      for (let b = this.position.batch; b < batches; b++) {
        const lr = config.lr * multiplier * this.lrScale;
        const indices = order.subarray(b * config.batchSize, Math.min((b + 1) * config.batchSize, order.length));
        const batch = makeBatch(dataset, 'train', indices, { augment, rng: this.augmentRng });
        this.globalStep++;
        if (this.pendingNan.delete(this.globalStep)) batch.images.fill(Number.NaN);
        const x = tf.tensor4d(batch.images, [batch.size, h, w, c]);
        const y = tf.tensor1d(batch.labels, 'int32');
        // skip-batch copies the weights and step state out before each step (a memcpy of the
        // model and optimizer state; on the CPU/wasm backends small next to the step itself).
        const before = config.onNan === 'skip-batch' ? this.snapshot() : null;
        const result = this.step.step(x, y, { epoch, batchIndex: b, lr, lrMultiplier: multiplier, metaLrScale: this.lrScale });
        tf.dispose([x, y]);
        const bad = [...(Number.isFinite(result.loss) ? [] : ['loss']), ...(result.nonFinite ?? [])];
        const where = `epoch ${epoch + 1}, step ${b + 1} of ${batches}`;
        if (bad.length > 0 && config.onNan === 'stop') {
          throw new NonFiniteError(
            `training stopped: the ${bad.join(' and ')} became NaN/Inf at ${where}` +
              `${bad.includes('loss') ? ` (loss ${result.loss})` : ''}; ` +
              (this.lastSavedAt ? `the last good checkpoint (${this.lastSavedAt}) is kept in ${this.out}` : `no checkpoint was written yet`) +
              `; lower --lr or --meta-lr, or use --on-nan skip-batch or rollback`,
          );
        }
        if (bad.length > 0 && config.onNan === 'rollback') {
          callbacks.onNonFinite?.(this.rollback(`${bad.join(' and ')} became NaN/Inf at ${where}`));
          rolledBack = true;
          break;
        }
        if (bad.length > 0) {
          this.restore(before!);
          this.position.skipped++;
          callbacks.onNonFinite?.(`the ${bad.join(' and ')} became NaN/Inf at ${where}; step discarded (--on-nan skip-batch)`);
        } else {
          this.position.lossSum += result.loss * result.size;
          this.position.correct += result.correct;
          this.position.seen += result.size;
        }
        this.position.batch = b + 1;
        const p = this.position;
        callbacks.onBatch?.({ epoch, batch: b, batches, loss: p.lossSum / p.seen, accuracy: p.correct / p.seen, imagesPerSecond: p.seen / ((performance.now() - epochStart) / 1000) });
        if (b + 1 < batches) {
          if (options.signal?.aborted) this.interrupt(options.signal);
          if (config.checkpointEvery && this.globalStep % config.checkpointEvery === 0) this.saveCheckpoint();
        }
        await yieldToEventLoop();
      }
      if (rolledBack) continue;
      const seconds = (performance.now() - epochStart) / 1000;
      trainSeconds += seconds;
      const { seen, lossSum, correct, skipped, rollbacks } = this.position;
      imagesSeen += seen;
      const test = evaluate(this.model, dataset, 'test', config.evalBatchSize);
      this.step.afterEvaluation?.();
      const metrics: EpochMetrics = {
        epoch: epoch + 1,
        trainLoss: lossSum / seen,
        trainAccuracy: correct / seen,
        testLoss: test.loss,
        testAccuracy: test.accuracy,
        lr: config.lr * multiplier * this.lrScale,
        seconds,
        imagesPerSecond: seen / seconds,
        ...this.step.takeDiagnostics(),
        ...(config.onNan === 'skip-batch' ? { nonFiniteSkips: skipped } : {}),
        ...(config.onNan === 'rollback' ? { rollbacks } : {}),
      };
      this.history.push(metrics);
      this.orderState = orderRng.state();
      this.position = epochStartPosition(epoch + 1);
      this.saveCheckpoint();
      this.writeMetrics();
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

  private writeMetrics(): void {
    writeFileAtomic(join(this.out, 'metrics.jsonl'), this.history.map((m) => JSON.stringify(m) + '\n').join(''));
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

function copyParams(params: CheckpointPayload['params']): CheckpointPayload['params'] {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, { shape: v.shape.slice(), data: Float32Array.from(v.data) }]));
}

/** Temporary files of atomic writes a killed run left behind (the real files are intact). */
function removeStaleTempFiles(runDir: string): void {
  let names: string[];
  try {
    names = readdirSync(runDir);
  } catch {
    return;
  }
  for (const n of names) if (/^\.(checkpoint\.mqc|metrics\.jsonl|config\.json)\..*\.tmp$/.test(n)) rmSync(join(runDir, n), { force: true });
}

/**
 * The model and step strategy a checkpoint describes, with its weights and training state loaded;
 * anything that does not fit is an InputFileError naming the file. The memory check runs before
 * the step allocates its state.
 */
export function restoreTraining(saved: CheckpointPayload, file: string, config: TrainConfig = configFromFile({ ...saved.config }, file)): { model: QuantizedModel; step: TrainStep } {
  const model = modelFromPayload(saved, file);
  let step: TrainStep;
  try {
    checkRunMemory(config, model);
    step = createStep(config, model);
  } catch (err) {
    model.dispose();
    throw err;
  }
  try {
    step.setState(saved.stepState);
  } catch (err) {
    step.dispose();
    model.dispose();
    if (err instanceof MetaquantError) throw err;
    throw new InputFileError(file, `its training state does not fit this run (${(err as Error).message})`);
  }
  return { model, step };
}

/** `--init`: copies every parameter whose name and shape match (e.g. a float model into a quantized one). */
function initialiseFrom(model: QuantizedModel, path: string): void {
  const { payload: saved } = readCheckpointPayload(path);
  let copied = 0;
  const values: CheckpointPayload['params'] = {};
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

/** Loads a run's model for evaluation or export. */
export function loadModel(path: string): { model: QuantizedModel; payload: CheckpointPayload } {
  const { payload, file } = readCheckpointPayload(path);
  const model = modelFromPayload(payload, file);
  return { model, payload };
}

/** A training config stored in a file: its problems are the file's (InputFileError naming it). */
function configFromFile(input: unknown, file: string): TrainConfig {
  try {
    return parseTrainConfig(input);
  } catch (err) {
    if (err instanceof UsageError) throw new InputFileError(file, err.message);
    throw err;
  }
}

/** Parses a run folder's config.json text. */
export function parseRunConfig(text: string, file: string): TrainConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InputFileError(file, `is not valid JSON (${(err as Error).message})`);
  }
  return configFromFile(raw, file);
}

export function readRunConfig(runDir: string): TrainConfig {
  const file = join(runDir, 'config.json');
  if (!existsSync(file)) throw new UsageError(`${runDir} is not a run folder (no config.json)`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputFileError(file, `cannot be read (${(err as Error).message})`);
  }
  return parseRunConfig(text, file);
}
