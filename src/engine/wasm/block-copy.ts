// Split, Concat and Tanh for the wasm backend. The LSTM meta network splits its [N, 4H] gate
// tensor every step and its gradient concatenates four [N, H] ones: wasm's SplitV and Concat took
// 300 and 120 ms there for 34 MB, and its Tanh ~70 ns per element. Splitting and concatenating are
// block copies (one `set` per row and part); Tanh is Math.tanh, what the cpu backend computes.
import { tf } from '../tf.js';
import { type KernelArgs, type TensorInfo, asWasm, overrideWasmKernel } from './wasm-kernel-utils.js';

const COPYABLE = new Set(['float32', 'int32', 'bool']);

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

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
        const from = o * rowLength + offset;
        dst.set(src.subarray(from, from + block), o * block);
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
        for (let o = 0; o < outer; o++) dst.set(src.subarray(o * block, (o + 1) * block), o * rowLength + offset);
      }
      offset += block;
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
}
