// tf.batchNorm's FusedBatchNorm kernel on wasm walks a generic broadcasting loop (~4 ms for a
// 32×32×32×16 activation). (x − mean) · (γ / √(var + ε)) + β built from our tiled-broadcast
// Sub/Multiply/Add is faster and keeps the centring step, so it loses no precision.
import { tf } from '../tf.js';
import {
  type KernelArgs,
  type TensorInfo,
  asWasm,
  dispose,
  overrideWasmKernel,
  runWasmKernel,
} from './wasm-kernel-utils.js';

function batchNorm(original: tf.KernelConfig) {
  return (args: KernelArgs): TensorInfo => {
    const inputs = args.inputs as Record<string, TensorInfo | undefined>;
    const { x, mean, variance, offset, scale } = inputs;
    const { varianceEpsilon } = args.attrs as { varianceEpsilon: number };
    if (x == null || mean == null || variance == null || x.dtype !== 'float32') {
      return original.kernelFunc(args) as TensorInfo;
    }
    const { backend } = args;
    const binary = (name: string, a: TensorInfo, b: TensorInfo) =>
      runWasmKernel(name, { a, b }, {}, backend);

    const epsilon = asWasm(backend).makeOutput([], 'float32');
    asWasm(backend).typedArrayFromHeap(epsilon)[0] = varianceEpsilon;
    const shifted = binary('Add', variance, epsilon);
    const inverseStd = runWasmKernel('Rsqrt', { x: shifted }, {}, backend);
    dispose(backend, epsilon, shifted);
    const factor = scale != null ? binary('Multiply', inverseStd, scale) : inverseStd;
    if (factor !== inverseStd) dispose(backend, inverseStd);

    const centred = binary('Sub', x, mean);
    const normalised = binary('Multiply', centred, factor);
    dispose(backend, centred, factor);
    if (offset == null) return normalised;
    const out = binary('Add', normalised, offset);
    dispose(backend, normalised);
    return out;
  };
}

export function registerBatchNormKernel(): void {
  overrideWasmKernel('FusedBatchNorm', batchNorm);
}
