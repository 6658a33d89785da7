// wasm's elementwise binary kernels are quick when both operands have the output's shape (or one
// is a scalar), and on broadcasts whose operands share a long innermost run, but 3–6× slower
// when that run is short: x[N,H,W,C] · γ[C] with C = 16 is 1 ms where x · x is 0.2 ms. Batch
// norm and bias gradients do such broadcasts constantly. Tiling the small operand up first (a
// few memmoves, see tile.ts) and taking the same-shape path is faster for those.
import { tf } from '../tf.js';
import {
  type Backend,
  type KernelArgs,
  type TensorInfo,
  dispose,
  overrideWasmKernel,
} from './wasm-kernel-utils.js';
import { tileTensor } from './tile.js';

/** Below this many output elements the extra allocation costs more than it saves. */
const MIN_TILED_OUTPUT = 4096;
/** From this innermost run on, wasm's own broadcast loop is as fast as tiling (measured). */
const FAST_BROADCAST_RUN = 64;

export const BROADCAST_BINARY_KERNELS = [
  'Add',
  'Sub',
  'Multiply',
  'RealDiv',
  'SquaredDifference',
  'Maximum',
  'Minimum',
] as const;

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((size, i) => size === b[i]);
}

function alignedShape(shape: number[], rank: number): number[] {
  return [...new Array<number>(rank - shape.length).fill(1), ...shape];
}

/** Elements the operand and the output step through together before the broadcast repeats. */
function innermostRun(shape: number[], outShape: number[]): number {
  const aligned = alignedShape(shape, outShape.length);
  let run = 1;
  for (let i = outShape.length - 1; i >= 0 && aligned[i] === outShape[i]; i--) run *= outShape[i];
  return run;
}

function needsTiling(operand: TensorInfo, outShape: number[]): boolean {
  return sizeOf(operand.shape) > 1 && !sameShape(operand.shape, outShape);
}

function tileToShape(x: TensorInfo, outShape: number[], backend: Backend): TensorInfo {
  const aligned = alignedShape(x.shape, outShape.length);
  const view: TensorInfo = { dataId: x.dataId, shape: aligned, dtype: x.dtype };
  return tileTensor(view, outShape.map((size, i) => size / aligned[i]), backend);
}

function tiledBroadcast(original: tf.KernelConfig) {
  return (args: KernelArgs): TensorInfo => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const tileA = needsTiling(a, outShape);
    const tileB = needsTiling(b, outShape);
    const numeric = a.dtype !== 'string' && a.dtype !== 'complex64' && b.dtype === a.dtype;
    const run = Math.min(innermostRun(a.shape, outShape), innermostRun(b.shape, outShape));
    if (
      (!tileA && !tileB) ||
      !numeric ||
      sizeOf(outShape) < MIN_TILED_OUTPUT ||
      run >= FAST_BROADCAST_RUN
    ) {
      return original.kernelFunc(args) as TensorInfo;
    }
    const fullA = tileA ? tileToShape(a, outShape, args.backend) : a;
    const fullB = tileB ? tileToShape(b, outShape, args.backend) : b;
    const out = original.kernelFunc({ ...args, inputs: { a: fullA, b: fullB } }) as TensorInfo;
    if (tileA) dispose(args.backend, fullA);
    if (tileB) dispose(args.backend, fullB);
    return out;
  };
}

export function registerBroadcastBinaryKernels(): void {
  for (const name of BROADCAST_BINARY_KERNELS) overrideWasmKernel(name, tiledBroadcast);
}
