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
  createQuantizer,
  describeQuantizer,
  quantizerFromConfig,
  quantizerTakesBits,
  registerQuantizer,
  registeredQuantizerNames,
  type BuiltinQuantizerName,
  type QuantizerFactory,
} from './registry.js';
