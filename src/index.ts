// Public API of the metaquant library.
export { useBackend, activeBackend, BACKENDS, type BackendName } from './engine/backend.js';
export { tf } from './engine/tf.js';
export * from './quantizers/index.js';
export * from './meta/index.js';
export * from './models/index.js';
export { loadDataset, DATASETS, type LoadDatasetOptions } from './data/index.js';
export type { Dataset, DataSplit, Batch } from './data/types.js';
export { Trainer, loadModel, createStep, modelConfigFor, type TrainResult, type EpochMetrics, type TrainCallbacks } from './train/trainer.js';
export { parseTrainConfig, TrainConfigSchema, type TrainConfig, type TrainConfigInput } from './train/config.js';
export { BaseOptimizer, TorchAdam, OPTIMIZERS, type OptimizerConfig } from './train/optimizers.js';
export { SteStep } from './train/ste-step.js';
export { MetaQuantStep, MQ_MODES, PHI_PATHS, type MetaQuantOptions, type PhiProbe } from './train/metaquant-step.js';
export { evaluate } from './train/evaluate.js';
export { MetaquantError, UsageError, InputFileError, NonFiniteError, InterruptedError } from './util/errors.js';
export { estimateRunMemory, type MemoryEstimate } from './train/memory.js';
