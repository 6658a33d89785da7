export { QuantizedModel, type ModelConfig } from './model.js';
export { ParamStore, type ParamInfo, type ParamRole } from './params.js';
export { LayerOps, identityHooks, type WeightHooks } from './layers.js';
export { ARCHITECTURES, MODEL_NAMES, getArchitecture, hasArchitecture, registerArchitecture, type Architecture, type ArchitectureOptions } from './architectures.js';
export { BN_EPSILON, type ArchitectureOps, type Value, type DenseOptions, type ConvOptions, type Padding } from './ops.js';
export { traceModel, traceArchitecture, type ModelGraph, type GraphNode, type GraphConfig } from './trace.js';
