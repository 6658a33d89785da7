export * from './types.js';
export {
  ESTIMATOR_DESCRIPTIONS,
  assertEstimator,
  hardtanhGate,
  meanAbs,
  quantizeWithEstimator,
  reduceForScale,
  roundHalfToEven,
  signZeroIsPlusOne,
  signZeroIsZero,
  storeCaptured,
  type QuantizerForward,
} from './estimators.js';
export { QuantizerBase, checkFixedBits, rejectPerChannel } from './base.js';
export { DOREFA_BITS, DorefaQuantizer, dorefaQuantizeUnit } from './dorefa.js';
export { BwnQuantizer } from './bwn.js';
export { TERNARY_THRESHOLD_FACTOR, TernaryQuantizer } from './ternary.js';
export { SignQuantizer } from './sign.js';
export {
  QUANTIZER_NAMES,
  LEARNED_STEP_QUANTIZER_NAMES,
  createQuantizer,
  describeQuantizer,
  quantizerFromConfig,
  quantizerTakesBits,
  registerQuantizer,
  registeredQuantizerNames,
  type BuiltinQuantizerName,
  type QuantizerFactory,
} from './registry.js';
export { LSQ_BITS, LSQ_METAQUANT_REASON, LsqQuantizer, learnsStep, lsqWeightGrid, type LearnedStepQuantizer } from './lsq.js';
export { lsqGradScale, lsqQuantize, type LsqGrid } from './lsq-grid.js';
export type { ActDeployment, ActQuantizerConfig, ActivationQuantizer, LearnedActScalar } from './activation-types.js';
export { ACT_BITS, maxCodeOf } from './act-uniform.js';
export { SignActQuantizer } from './act-sign.js';
export { DorefaActQuantizer } from './act-dorefa.js';
export { PACT_INITIAL_ALPHA, PactActQuantizer } from './act-pact.js';
export { LsqActQuantizer, lsqInitialActStep } from './act-lsq.js';
export { ACT_QUANTIZER_NAMES, actQuantizerFromConfig, actQuantizerTakesBits, registerActQuantizer, registeredActQuantizerNames, type ActQuantizerFactory } from './act-registry.js';
