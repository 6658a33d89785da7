// Everything a config builds: the data set, the model description, the step strategy (with its
// optimizer and meta network), and the same from a checkpoint. The epoch loop (trainer.ts) and
// gradcheck take what these return.
import { loadDataset, withValidationSplit } from '../data/index.js';
import type { Dataset } from '../data/types.js';
import { QuantizedModel, type ModelConfig } from '../models/model.js';
import { createMetaNetwork } from '../meta/registry.js';
import type { QuantizerConfig } from '../quantizers/types.js';
import { quantizerTakesBits } from '../quantizers/registry.js';
import { actQuantizerTakesBits } from '../quantizers/act-registry.js';
import { InputFileError, MetaquantError } from '../util/errors.js';
import type { TrainConfig } from '../config/schema.js';
import { configFromFile } from '../run/run-config.js';
import { modelFromPayload, type CheckpointPayload } from '../run/checkpoint-payload.js';
import { BaseOptimizer } from './optimizers.js';
import { SteStep } from './ste-step.js';
import { DEFAULT_HYPERGRAD_BETA, SteHypergradStep } from './ste-hypergrad-step.js';
import { MetaQuantStep } from './metaquant/step.js';
import type { TrainStep } from './step.js';
import { checkRunMemory } from './memory.js';

/** The weight decay a run uses: the config's, else 5e-4 for MetaQuant with Adam (the reference) and 0 otherwise. */
export function effectiveWeightDecay(c: TrainConfig): number {
  if (c.weightDecay !== null) return c.weightDecay;
  return c.method === 'metaquant' && c.optimizer === 'adam' ? 5e-4 : 0;
}

/**
 * The config with every default that depends on other fields resolved (weight decay, augmentation,
 * ste-hypergrad's β), as the run folder's config.json shows it: what the run really used.
 */
export function effectiveConfig(c: TrainConfig, dataset: Pick<Dataset, 'augmentByDefault'>): TrainConfig {
  return {
    ...c,
    weightDecay: effectiveWeightDecay(c),
    augment: c.augment ?? dataset.augmentByDefault,
    ...(c.method === 'ste-hypergrad' ? { hypergradBeta: c.hypergradBeta ?? DEFAULT_HYPERGRAD_BETA[c.optimizer] } : {}),
  };
}

/** The run's data: loaded, cut to its limits, then (with `valSplit`) a validation part held out of the training images. */
export async function datasetFor(config: TrainConfig): Promise<Dataset> {
  const ds = await loadDataset({ dataset: config.dataset, dataDir: config.dataDir, trainLimit: config.trainLimit, testLimit: config.testLimit });
  return config.valSplit === undefined ? ds : withValidationSplit(ds, config.valSplit, config.valSeed);
}

export function modelConfigFor(config: TrainConfig, dataset: Pick<Dataset, 'height' | 'width' | 'channels' | 'numClasses'>): ModelConfig {
  const quantizer: QuantizerConfig | null =
    config.quantizer === 'none'
      ? null
      : { name: config.quantizer, bits: quantizerTakesBits(config.quantizer) ? config.bits : undefined, perChannel: config.perChannel, estimator: config.method === 'clipped-ste' ? 'clipped-ste' : 'ste' };
  return {
    arch: config.model,
    inputShape: [dataset.height, dataset.width, dataset.channels],
    numClasses: dataset.numClasses,
    archOptions: { ...(config.hidden && { hidden: config.hidden }), ...(config.hiddenActivation && { activation: config.hiddenActivation }) },
    quantizer,
    keepFirstLastFp: config.keepFirstLastFp,
    ...(config.actQuantizer && config.actQuantizer !== 'none' && { actQuantizer: { name: config.actQuantizer, bits: actQuantizerTakesBits(config.actQuantizer) ? (config.actBits ?? 1) : 1 } }),
    seed: config.seed,
  };
}

export function createStep(config: TrainConfig, model: QuantizedModel): TrainStep {
  const optimizer = new BaseOptimizer({ name: config.optimizer, momentum: config.momentum, nesterov: config.nesterov, weightDecay: effectiveWeightDecay(config) });
  if (config.method === 'ste-hypergrad') return new SteHypergradStep(model, optimizer, { initialLr: config.lr * config.lrScale, beta: config.hypergradBeta ?? undefined });
  if (config.method !== 'metaquant') return new SteStep(model, optimizer, { lrScale: config.lrScale });
  const meta = createMetaNetwork({ kind: config.meta, hidden: config.metaHidden, layers: config.metaLayers, activation: config.metaActivation, seed: config.seed });
  return new MetaQuantStep(model, meta, optimizer, {
    mode: config.mqMode,
    phiPath: config.phiPath,
    metaLr: config.metaLr,
    lstmReset: config.lstmReset,
    freezePhi: config.freezePhi,
    detachPhi: config.detachPhi,
    phiObjective: config.phiObjective,
    metaWarmup: config.metaWarmup,
    fixC: config.fixC,
    maxMetaMemoryBytes: config.maxMetaMemory * 2 ** 30,
    zerothOrder: { method: config.zoMethod, samples: config.zoSamples, scale: config.zoScale, seed: config.seed },
  });
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
