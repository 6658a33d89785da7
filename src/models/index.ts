export { QuantizedModel, type ModelConfig } from './model.js';
export { ParamStore, type ParamInfo, type ParamRole } from './params.js';
export { LayerOps, identityHooks, type WeightHooks } from './layers.js';
export { ARCHITECTURES, MODEL_NAMES, getArchitecture, type Architecture, type ArchitectureOptions } from './architectures.js';
export { traceModel, type ModelGraph, type GraphNode } from './trace.js';
