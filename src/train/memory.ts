// Estimated memory of a training run, checked before the big allocations happen (optimizer
// state, LSTM meta state, activations) so that an oversized run fails with a message instead
// of an out-of-memory crash hours later.
import { freemem } from 'node:os';
import { tf } from '../engine/tf.js';
import { QuantizedModel, type ModelConfig } from '../models/model.js';
import { lstmStateBytes } from '../meta/lstm.js';
import { UsageError } from '../util/errors.js';
import { withoutNativeModel } from '../models/native/native-model.js';
import type { TrainConfig } from '../config/schema.js';

const FLOAT = 4;
const GiB = 2 ** 30;
/** wasm32 addresses at most 4 GiB: every tensor of the wasm backend lives in that memory. */
const WASM_MEMORY_LIMIT = 4 * GiB;

export interface MemoryEstimate {
  /** Weights, batch-norm statistics and one gradient per trainable parameter. */
  parameters: number;
  /** Base optimizer slots (Adam m, v; SGD momentum). */
  optimizerState: number;
  /** MetaQuant: per-weight buffers (g_Ŵ, W̃, look-ahead direction, calibration, …) and the LSTM state. */
  metaState: number;
  /** Forward activations kept for the backward pass, and their gradients, for one training batch. */
  activations: number;
  total: number;
}

/**
 * Activation bytes per example and per batch, measured: the tensors one inference-free training
 * forward leaves alive for batch 1 and batch 2 (statistics are not updated). Measured op by op:
 * the native model op keeps about as much, but outside the tfjs heap where tf.memory() sees it.
 */
function forwardBytes(model: QuantizedModel, batch: number): number {
  return withoutNativeModel(() => tf.tidy(() => {
    const before = tf.memory().numBytes;
    model.forward(tf.zeros([batch, ...model.config.inputShape]), model.steHooks(), true, { updateStatistics: false });
    return tf.memory().numBytes - before;
  }));
}

export function estimateRunMemory(config: TrainConfig, model: QuantizedModel): MemoryEstimate {
  const all = model.params.totalCount();
  const trainable = model.params.totalCount((p) => p.trainable);
  const quantized = model.quantizedKernels.reduce((n, k) => n + model.params.get(k).size, 0);
  const parameters = (all + trainable) * FLOAT;
  const slots = config.optimizer === 'adam' ? 2 : config.momentum > 0 ? 1 : 0;
  const optimizerState = slots * trainable * FLOAT;
  let metaState = 0;
  if (config.method === 'metaquant') {
    // g_Ŵ, W̃, G kept across steps; calibration, W_meta, Ŵ, meta inputs ×2, m, calibrated m, cotangent per step.
    metaState = 11 * quantized * FLOAT;
    // The LSTM's (h, c), old and new during a step.
    if (config.meta === 'lstm') metaState += 2 * lstmStateBytes(quantized, config.metaHidden);
  }
  const one = forwardBytes(model, 1);
  const perExample = Math.max(0, forwardBytes(model, 2) - one);
  // The tape keeps the forward tensors; the backward pass creates gradients of the same sizes.
  const activations = 2 * (one + (config.batchSize - 1) * perExample);
  return { parameters, optimizerState, metaState, activations, total: parameters + optimizerState + metaState + activations };
}

/** The bound a run must fit: --max-memory, else the machine's free memory (and 4 GiB on wasm). */
export function memoryLimit(config: TrainConfig): { bytes: number; source: string } {
  if (config.maxMemory !== undefined) return { bytes: config.maxMemory * GiB, source: `--max-memory ${config.maxMemory} GiB` };
  const free = freemem();
  if (config.backend === 'wasm' && WASM_MEMORY_LIMIT < free) return { bytes: WASM_MEMORY_LIMIT, source: 'the wasm backend\'s 4 GiB memory' };
  return { bytes: free, source: 'free memory on this machine' };
}

const gib = (b: number) => `${(b / GiB).toFixed(2)} GiB`;

/** Throws a UsageError naming the parts of the estimate when the run would not fit. */
export function checkRunMemory(config: TrainConfig, model: QuantizedModel): MemoryEstimate {
  const e = estimateRunMemory(config, model);
  const limit = memoryLimit(config);
  if (e.total > limit.bytes) {
    throw new UsageError(
      `this run needs about ${gib(e.total)} (parameters and gradients ${gib(e.parameters)}, optimizer state ${gib(e.optimizerState)}, ` +
        `MetaQuant buffers and meta state ${gib(e.metaState)}, activations for batch size ${config.batchSize} ${gib(e.activations)}), ` +
        `above ${limit.source} (${gib(limit.bytes)}); use a smaller --batch-size, model or --meta-hidden, or raise --max-memory`,
    );
  }
  return e;
}

/**
 * Builds the model, refusing before allocation a parameter count that cannot fit the memory
 * limit (each parameter needs at least its value, its gradient and an optimizer slot).
 */
export function buildModelWithinMemory(config: TrainConfig, modelConfig: ModelConfig): QuantizedModel {
  const limit = memoryLimit(config);
  const maxParameters = Math.floor(limit.bytes / (3 * FLOAT));
  try {
    return new QuantizedModel(modelConfig, { maxParameters });
  } catch (err) {
    if (!(err instanceof Error) || !/above \d+ parameters/.test(err.message)) throw err;
    throw new UsageError(
      `the ${modelConfig.arch} model needs more than ${maxParameters} parameters, which cannot fit ${limit.source} (${gib(limit.bytes)}) ` +
        `at ${3 * FLOAT} bytes each (value, gradient, optimizer state); use a smaller model or raise --max-memory`,
    );
  }
}
