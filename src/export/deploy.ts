// From a trained checkpoint to the values a deployed network computes with (Node side).
import type { QuantizedModel } from '../models/model.js';
import type { QuantizedEncoding } from '../quantizers/types.js';
import { loadModel, type CheckpointPayload } from '../run/checkpoint-payload.js';
import { loadDataset } from '../data/index.js';
import { InputFileError } from '../util/errors.js';
import { decodeQuantized } from './encoding.js';
import type { DeployedNetwork, NamedTensor, Normalization } from './layers-model.js';

/** A deployed network plus, for each quantized kernel, its codes/levels/scales (what the packed format stores). */
export interface Deployment extends DeployedNetwork {
  encodings: Record<string, QuantizedEncoding>;
}

/**
 * Every parameter of `model`, quantized kernels replaced by Ŵ decoded from `quantizer.encode`
 * (equal to the Q(A(W)) the model's forward uses; a test checks this bit for bit).
 */
export function deployModel(model: QuantizedModel, normalization: Normalization): Deployment {
  const weights: Record<string, NamedTensor> = {};
  const encodings: Record<string, QuantizedEncoding> = {};
  for (const info of model.params.infos) {
    const variable = model.params.get(info.name);
    if (model.quantizer && model.isQuantized(info.name)) {
      const enc = model.encodeKernel(info.name);
      encodings[info.name] = enc;
      weights[info.name] = { shape: [...info.shape], data: decodeQuantized(enc) };
    } else {
      weights[info.name] = { shape: [...info.shape], data: Float32Array.from(variable.dataSync() as Float32Array) };
    }
  }
  return { modelConfig: model.config, normalization, weights, encodings };
}

/**
 * The normalisation a checkpoint's inputs were trained with: stored in checkpoints since the
 * export work; for older ones it is recomputed from the run's data set (same data, same limits).
 */
export async function checkpointNormalization(payload: CheckpointPayload, checkpointPath: string): Promise<Normalization> {
  const channels = payload.modelConfig.inputShape[2];
  let stats = payload.normalization;
  if (!stats) {
    try {
      const ds = await loadDataset({ dataset: payload.config.dataset, dataDir: payload.config.dataDir, trainLimit: payload.config.trainLimit, testLimit: 1 });
      stats = { mean: ds.mean, std: ds.std };
    } catch (err) {
      throw new InputFileError(
        checkpointPath,
        `holds no input normalisation (an older checkpoint) and its data set '${payload.config.dataset}' could not be loaded to recompute it: ${(err as Error).message}`,
      );
    }
  }
  const ok = (xs: unknown, positive: boolean): xs is number[] =>
    Array.isArray(xs) && xs.length === channels && xs.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0));
  if (!ok(stats.mean, false) || !ok(stats.std, true)) {
    throw new InputFileError(checkpointPath, `input normalisation must hold ${channels} finite means and ${channels} positive stds`);
  }
  return { mean: [...stats.mean], std: [...stats.std] };
}

/** Loads a run folder (or checkpoint file) and deploys it; the tfjs model built for it is disposed. */
export async function loadDeployment(checkpointPath: string): Promise<Deployment> {
  const { model, payload } = loadModel(checkpointPath);
  try {
    const normalization = await checkpointNormalization(payload, checkpointPath);
    return deployModel(model, normalization);
  } finally {
    model.dispose();
  }
}
