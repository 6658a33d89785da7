// wasm's Tile computes a multi-dimensional source index for every output element. Tiling is
// really block copying: lay out one repetition of each axis, then replicate it by doubling with
// copyWithin (a memmove), so most of the output is written by a handful of large copies.
import { tf } from '../tf.js';
import {
  type Backend,
  type KernelArgs,
  type TensorInfo,
  type TypedArray,
  asWasm,
  overrideWasmKernel,
} from './wasm-kernel-utils.js';

interface TileAxis {
  size: number;
  reps: number;
}

/** Drops no-op axes and merges neighbours that tile as one, so the copy loops stay shallow. */
export function simplifyTileAxes(shape: number[], reps: number[]): TileAxis[] {
  const axes: TileAxis[] = [];
  for (let i = 0; i < shape.length; i++) {
    const axis = { size: shape[i], reps: reps[i] };
    if (axis.size === 1 && axis.reps === 1) continue;
    const last = axes[axes.length - 1];
    if (last && last.reps === 1 && axis.reps === 1) last.size *= axis.size;
    else if (last && last.size === 1 && axis.size === 1) last.reps *= axis.reps;
    else axes.push(axis);
  }
  if (axes.length === 0) axes.push({ size: 1, reps: 1 });
  return axes;
}

/** Copies dst[start, start+filled) forward until `total` elements are written. */
function replicate(dst: TypedArray, start: number, filled: number, total: number): void {
  while (filled < total) {
    const chunk = Math.min(filled, total - filled);
    dst.copyWithin(start + filled, start, start + chunk);
    filled += chunk;
  }
}

export function tileInto(src: TypedArray, dst: TypedArray, shape: number[], reps: number[]): void {
  const axes = simplifyTileAxes(shape, reps);
  const rank = axes.length;
  const srcStrides = new Array<number>(rank);
  const dstStrides = new Array<number>(rank);
  let srcStride = 1;
  let dstStride = 1;
  for (let i = rank - 1; i >= 0; i--) {
    srcStrides[i] = srcStride;
    dstStrides[i] = dstStride;
    srcStride *= axes[i].size;
    dstStride *= axes[i].size * axes[i].reps;
  }
  const fill = (axis: number, srcOffset: number, dstOffset: number): void => {
    const { size, reps: times } = axes[axis];
    const block = size * dstStrides[axis];
    if (axis === rank - 1) {
      dst.set(src.subarray(srcOffset, srcOffset + size), dstOffset);
    } else {
      for (let i = 0; i < size; i++) {
        fill(axis + 1, srcOffset + i * srcStrides[axis], dstOffset + i * dstStrides[axis]);
      }
    }
    replicate(dst, dstOffset, block, block * times);
  };
  fill(0, 0, 0);
}

/** Tiles `x` by `reps` (one per axis of x) into a new wasm tensor. */
export function tileTensor(x: TensorInfo, reps: number[], backend: Backend): TensorInfo {
  const wasm = asWasm(backend);
  const outShape = x.shape.map((size, i) => size * reps[i]);
  const out = wasm.makeOutput(outShape, x.dtype);
  if (outShape.some((size) => size === 0)) return out;
  // Views after makeOutput: allocating may grow (and detach) the heap.
  tileInto(wasm.typedArrayFromHeap(x), wasm.typedArrayFromHeap(out), x.shape, reps);
  return out;
}

function fastTile(original: tf.KernelConfig) {
  return (args: KernelArgs): TensorInfo => {
    const { x } = args.inputs as { x: TensorInfo };
    const { reps } = args.attrs as { reps: number[] };
    if (x.dtype === 'string' || x.dtype === 'complex64') {
      return original.kernelFunc(args) as TensorInfo;
    }
    return tileTensor(x, reps, args.backend);
  };
}

export function registerTileKernel(): void {
  overrideWasmKernel('Tile', fastTile);
}
