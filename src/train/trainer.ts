import { existsSync, readFileSync } from 'node:fs';
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
import { NonFiniteError, UsageError } from '../util/errors.js';
import { effectiveWeightDecay, parseTrainConfig, type TrainConfig } from './config.js';
import { BaseOptimizer } from './optimizers.js';
import { lrMultiplier } from './schedules.js';
import { SteStep } from './ste-step.js';
import { SteHypergradStep } from './ste-hypergrad-step.js';
import { MetaQuantStep } from './metaquant-step.js';
import type { TrainStep } from './step.js';
import { evaluate } from './evaluate.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';
import type { QuantizerConfig } from '../quantizers/types.js';

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
}

/** What a checkpoint holds: enough to evaluate, export, initialise from, or resume. */
export interface CheckpointPayload {
  config: TrainConfig;
  modelConfig: ModelConfig;
  epochsDone: number;
  params: Record<string, { shape: number[]; data: Float32Array }>;
  stepState: unknown;
  rng: { order: RngState; augment: RngState };
  history: EpochMetrics[];
  /** Per-channel mean/std (in [0,1] units) the inputs were normalised with; exports build it into the model. Absent in older checkpoints. */
  normalization?: { mean: number[]; std: number[] };
}

export function modelConfigFor(config: TrainConfig, dataset: Pick<Dataset, 'height' | 'width' | 'channels' | 'numClasses'>): ModelConfig {
  const quantizer: QuantizerConfig | null =
    config.quantizer === 'none'
      ? null
      : { name: config.quantizer, bits: config.quantizer === 'dorefa' ? config.bits : undefined, perChannel: config.perChannel, estimator: config.estimator === 'clipped-ste' ? 'clipped-ste' : 'ste' };
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

/**
 * A training run, readable top to bottom: data → model → step strategy → epochs of
 * (batches → evaluation → metrics → checkpoint).
 */
export class Trainer {
  private constructor(
    readonly config: TrainConfig,
    readonly dataset: Dataset,
    readonly model: QuantizedModel,
    readonly step: TrainStep,
    readonly out: string,
    private orderRng: Rng,
    private augmentRng: Rng,
    private epochsDone: number,
    readonly history: EpochMetrics[],
  ) {}

  /** Builds a fresh run from a config (validated here). */
  static async create(input: unknown): Promise<Trainer> {
    const config = parseTrainConfig(input);
    await useBackend(config.backend);
    const dataset = await datasetFor(config);
    const model = new QuantizedModel(modelConfigFor(config, dataset));
    if (config.init) initialiseFrom(model, config.init);
    const step = createStep(config, model);
    const out = config.out ?? defaultRunDir();
    writeFileAtomic(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    return new Trainer(config, dataset, model, step, out, new Rng(`order:${config.seed}`), new Rng(`augment:${config.seed}`), 0, []);
  }

  /** Reopens a run folder and continues after its last completed epoch. */
  static async resume(runDir: string, overrides: { epochs?: number } = {}): Promise<Trainer> {
    const saved = readCheckpoint(runDir) as CheckpointPayload;
    const config = parseTrainConfig({ ...saved.config, ...overrides, out: runDir });
    await useBackend(config.backend);
    const dataset = await datasetFor(config);
    const model = new QuantizedModel(saved.modelConfig);
    model.params.load(saved.params);
    const step = createStep(config, model);
    step.setState(saved.stepState);
    return new Trainer(config, dataset, model, step, runDir, new Rng(0, saved.rng.order), new Rng(0, saved.rng.augment), saved.epochsDone, saved.history);
  }

  async run(callbacks: TrainCallbacks = {}): Promise<TrainResult> {
    const { config, dataset } = this;
    const augment = config.augment ?? dataset.augmentByDefault;
    const [h, w, c] = [dataset.height, dataset.width, dataset.channels];
    const started = performance.now();
    let imagesSeen = 0;
    let trainSeconds = 0;
    for (let epoch = this.epochsDone; epoch < config.epochs; epoch++) {
      const multiplier = lrMultiplier({ name: config.schedule, stepEpochs: config.lrStepEpochs }, epoch, config.epochs);
      const lr = config.lr * multiplier;
      const order = epochOrder(dataset.train.count, this.orderRng);
      const batches = Math.ceil(order.length / config.batchSize);
      callbacks.onEpochStart?.(epoch, batches);
      const epochStart = performance.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let b = 0; b < batches; b++) {
        const indices = order.subarray(b * config.batchSize, Math.min((b + 1) * config.batchSize, order.length));
        const batch = makeBatch(dataset, 'train', indices, { augment, rng: this.augmentRng });
        const x = tf.tensor4d(batch.images, [batch.size, h, w, c]);
        const y = tf.tensor1d(batch.labels, 'int32');
        const result = this.step.step(x, y, { epoch, batchIndex: b, lr, lrMultiplier: multiplier });
        tf.dispose([x, y]);
        if (!Number.isFinite(result.loss)) {
          throw new NonFiniteError(
            `training loss became ${result.loss} at epoch ${epoch + 1}, step ${b + 1}; ` +
              `the last good checkpoint (after epoch ${this.epochsDone}) is kept in ${this.out}`,
          );
        }
        lossSum += result.loss * result.size;
        correct += result.correct;
        seen += result.size;
        callbacks.onBatch?.({ epoch, batch: b, batches, loss: lossSum / seen, accuracy: correct / seen, imagesPerSecond: seen / ((performance.now() - epochStart) / 1000) });
      }
      const seconds = (performance.now() - epochStart) / 1000;
      trainSeconds += seconds;
      imagesSeen += seen;
      const test = evaluate(this.model, dataset, 'test', config.evalBatchSize);
      this.step.afterEvaluation?.();
      const metrics: EpochMetrics = {
        epoch: epoch + 1,
        trainLoss: lossSum / seen,
        trainAccuracy: correct / seen,
        testLoss: test.loss,
        testAccuracy: test.accuracy,
        lr,
        seconds,
        imagesPerSecond: seen / seconds,
        ...this.step.takeDiagnostics(),
      };
      this.history.push(metrics);
      this.epochsDone = epoch + 1;
      writeFileAtomic(join(this.out, 'metrics.jsonl'), this.history.map((m) => JSON.stringify(m)).join('\n') + '\n');
      this.saveCheckpoint();
      callbacks.onEpochEnd?.(metrics);
    }
    const last = this.history[this.history.length - 1];
    if (!last) throw new UsageError(`nothing to train: the run already completed ${this.epochsDone} of ${config.epochs} epochs`);
    return {
      testAccuracy: last.testAccuracy,
      testLoss: last.testLoss,
      epochs: this.epochsDone,
      seconds: (performance.now() - started) / 1000,
      imagesPerSecond: imagesSeen / Math.max(trainSeconds, 1e-9),
      out: this.out,
      history: this.history,
    };
  }

  saveCheckpoint(): void {
    const payload: CheckpointPayload = {
      config: this.config,
      modelConfig: this.model.config,
      epochsDone: this.epochsDone,
      params: this.model.params.snapshot(),
      stepState: this.step.getState(),
      rng: { order: this.orderRng.state(), augment: this.augmentRng.state() },
      history: this.history,
      normalization: { mean: this.dataset.mean, std: this.dataset.std },
    };
    writeCheckpoint(this.out, payload);
  }

  dispose(): void {
    this.step.dispose();
    this.model.dispose();
  }
}

/** `--init`: copies every parameter whose name and shape match (e.g. a float model into a quantized one). */
function initialiseFrom(model: QuantizedModel, path: string): void {
  const saved = readCheckpoint(path) as CheckpointPayload;
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
  const payload = readCheckpoint(path) as CheckpointPayload;
  const model = new QuantizedModel(payload.modelConfig);
  model.params.load(payload.params);
  return { model, payload };
}

export function readRunConfig(runDir: string): TrainConfig {
  const file = join(runDir, 'config.json');
  if (!existsSync(file)) throw new UsageError(`${runDir} is not a run folder (no config.json)`);
  return parseTrainConfig(JSON.parse(readFileSync(file, 'utf8')));
}
