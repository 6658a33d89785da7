// Kernels that let the wasm backend train CNNs: the missing conv filter gradient, and faster
// replacements for the kernels a training step spends its time in. See src/engine/wasm/.
import { registerBatchMatMulKernels } from './wasm/batch-matmul.js';
import { registerBatchNormKernel } from './wasm/batch-norm.js';
import { registerBroadcastBinaryKernels } from './wasm/broadcast-binary.js';
import { registerConv2DBackpropKernels } from './wasm/conv2d-backprop.js';
import { registerIdentityKernels } from './wasm/identity.js';
import { registerPoolGradKernels } from './wasm/pool-grad.js';
import { registerReduceKernels } from './wasm/reduce.js';
import { registerTileKernel } from './wasm/tile.js';
import { registerBlockCopyKernels } from './wasm/block-copy.js';
import { registerNativeKernels } from './native/ort-kernels.js';

let registered = false;

/** Registers our wasm kernels; call before `tf.setBackend('wasm')`. Safe to call repeatedly. */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  registerConv2DBackpropKernels();
  registerBatchMatMulKernels();
  registerTileKernel();
  registerBroadcastBinaryKernels();
  registerReduceKernels();
  registerPoolGradKernels();
  registerBatchNormKernel();
  registerIdentityKernels();
  registerBlockCopyKernels();
  // Native (onnxruntime) convolutions and matmuls in front of the wasm ones, where ORT loads.
  registerNativeKernels();
}
