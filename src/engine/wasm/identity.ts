// Identity (tf.clone, and the engine's copy of every tensor a gradient saves) and same-dtype Cast
// copy the whole buffer on wasm: ~450 copies per ResNet-20 step. Tensors are immutable, so like
// tfjs-cpu we hand out the same buffer with its reference count raised.
import { tf } from '../tf.js';
import { type KernelArgs, type TensorInfo, overrideWasmKernel } from './wasm-kernel-utils.js';

interface RefCounted {
  incRef(dataId: tf.DataId): void;
}

function share(x: TensorInfo, backend: KernelArgs['backend']): TensorInfo {
  (backend as RefCounted).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function sharedIdentity(original: tf.KernelConfig) {
  return (args: KernelArgs): TensorInfo => {
    const { x } = args.inputs as { x: TensorInfo };
    // String tensors keep wasm's own path, which stores them off the heap.
    if (x.dtype === 'string') return original.kernelFunc(args) as TensorInfo;
    return share(x, args.backend);
  };
}

function sharedCast(original: tf.KernelConfig) {
  return (args: KernelArgs): TensorInfo => {
    const { x } = args.inputs as { x: TensorInfo };
    const { dtype } = args.attrs as { dtype: tf.DataType };
    if (dtype !== x.dtype || x.dtype === 'string') return original.kernelFunc(args) as TensorInfo;
    return share(x, args.backend);
  };
}

export function registerIdentityKernels(): void {
  overrideWasmKernel('Identity', sharedIdentity);
  overrideWasmKernel('Cast', sharedCast);
}
