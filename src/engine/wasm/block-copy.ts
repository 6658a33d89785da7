// Split, Concat, Slice and Tanh for the wasm backend. The LSTM meta network splits its [N, 4H] gate
// tensor every step and its gradient concatenates four [N, H] ones: wasm's SplitV and Concat took
// 300 and 120 ms there for 34 MB, and its Tanh ~70 ns per element. Splitting and concatenating are
// block copies (one `set` per row and part); Tanh is Math.tanh, what the cpu backend computes.
import { tf } from '../tf.js';
import { type KernelArgs, type TensorInfo, asWasm, overrideWasmKernel } from './wasm-kernel-utils.js';

const COPYABLE = new Set(['float32', 'int32', 'bool']);

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

type Heap = ReturnType<ReturnType<typeof asWasm>['typedArrayFromHeap']>;
/** Below this many elements a plain loop beats creating a subarray view per block (measured: at 100, set wins). */
const SHORT_BLOCK = 16;

/** dst[to … to+n) = src[from … from+n). */
function copyBlock(src: Heap, from: number, dst: Heap, to: number, n: number): void {
  if (n >= SHORT_BLOCK) {
    dst.set(src.subarray(from, from + n), to);
    return;
  }
  for (let i = 0; i < n; i++) dst[to + i] = src[from + i]!;
}

function splitV(original: tf.KernelConfig) {
  return (args: KernelArgs): TensorInfo[] => {
    const { x } = args.inputs as { x: TensorInfo };
    const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number | number[]; axis: number };
    if (!COPYABLE.has(x.dtype)) return original.kernelFunc(args) as TensorInfo[];
    const dim = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, dim);
    const wasm = asWasm(args.backend);
    const outs = sizes.map((size) => wasm.makeOutput(x.shape.map((d, i) => (i === dim ? size : d)), x.dtype));
    const src = wasm.typedArrayFromHeap(x);
    const outer = product(x.shape.slice(0, dim));
    const inner = product(x.shape.slice(dim + 1));
    const rowLength = x.shape[dim]! * inner;
    let offset = 0;
    sizes.forEach((size, j) => {
      const dst = wasm.typedArrayFromHeap(outs[j]!);
      const block = size * inner;
      for (let o = 0; o < outer; o++) {
        copyBlock(src, o * rowLength + offset, dst, o * block, block);
      }
      offset += block;
    });
    return outs;
  };
}

function concat(original: tf.KernelConfig) {
  return (args: KernelArgs): TensorInfo => {
    const inputs = args.inputs as unknown as TensorInfo[];
    const { axis } = args.attrs as { axis: number };
    const dtype = inputs[0]!.dtype;
    if (!COPYABLE.has(dtype) || inputs.some((t) => t.dtype !== dtype)) return original.kernelFunc(args) as TensorInfo;
    const dim = tf.util.parseAxisParam(axis, inputs[0]!.shape)[0]!;
    const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), dim);
    const wasm = asWasm(args.backend);
    const out = wasm.makeOutput(outShape, dtype);
    const dst = wasm.typedArrayFromHeap(out);
    const outer = product(outShape.slice(0, dim));
    const inner = product(outShape.slice(dim + 1));
    const rowLength = outShape[dim]! * inner;
    let offset = 0;
    for (const t of inputs) {
      const block = t.shape[dim]! * inner;
      if (block > 0) {
        const src = wasm.typedArrayFromHeap(t);
        for (let o = 0; o < outer; o++) copyBlock(src, o * block, dst, o * rowLength + offset, block);
      }
      offset += block;
    }
    return out;
  };
}

/**
 * Slice as copies of its longest contiguous runs: the axes after the last partially taken one
 * are whole, so each run is size[k]·(their product) elements. The LSTM meta pass slices its
 * [weights, hidden] state into row chunks, which is one run per chunk.
 */
function slice(original: tf.KernelConfig) {
  return (args: KernelArgs): TensorInfo => {
    const { x } = args.inputs as { x: TensorInfo };
    const attrs = args.attrs as { begin: number | number[]; size: number | number[] };
    if (!COPYABLE.has(x.dtype)) return original.kernelFunc(args) as TensorInfo;
    const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, attrs.begin, attrs.size);
    const wasm = asWasm(args.backend);
    const out = wasm.makeOutput(size, x.dtype);
    if (size.some((d) => d === 0)) return out;
    const rank = x.shape.length;
    if (rank === 0) {
      wasm.typedArrayFromHeap(out).set(wasm.typedArrayFromHeap(x));
      return out;
    }
    const strides = new Array<number>(rank);
    for (let i = rank - 1, stride = 1; i >= 0; i--) {
      strides[i] = stride;
      stride *= x.shape[i]!;
    }
    // k: the last axis not taken whole; the run covers axis k and everything after it.
    let k = rank - 1;
    while (k > 0 && begin[k] === 0 && size[k] === x.shape[k]) k--;
    const run = size[k]! * strides[k]!;
    const src = wasm.typedArrayFromHeap(x);
    const dst = wasm.typedArrayFromHeap(out);
    const index = new Array<number>(k).fill(0);
    for (let at = 0; at < dst.length; at += run) {
      let from = begin[k]! * strides[k]!;
      for (let i = 0; i < k; i++) from += (begin[i]! + index[i]!) * strides[i]!;
      copyBlock(src, from, dst, at, run);
      for (let i = k - 1; i >= 0; i--) {
        if (++index[i]! < size[i]!) break;
        index[i] = 0;
      }
    }
    return out;
  };
}

function tanh(original: tf.KernelConfig) {
  return (args: KernelArgs): TensorInfo => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype !== 'float32') return original.kernelFunc(args) as TensorInfo;
    const wasm = asWasm(args.backend);
    const out = wasm.makeOutput(x.shape, 'float32');
    const dst = wasm.typedArrayFromHeap(out);
    const src = wasm.typedArrayFromHeap(x);
    for (let i = 0; i < src.length; i++) dst[i] = Math.tanh(src[i]!);
    return out;
  };
}

export function registerBlockCopyKernels(): void {
  overrideWasmKernel('SplitV', splitV);
  overrideWasmKernel('Concat', concat);
  overrideWasmKernel('Tanh', tanh);
  overrideWasmKernel('Slice', slice);
}
