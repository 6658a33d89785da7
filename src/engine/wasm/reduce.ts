// wasm's Sum and Mean reduce only innermost axes, so reducing [N,H,W,C] over N,H,W (every batch
// norm statistic and every bias/γ/β gradient) first transposes the whole tensor. Viewed as
// [outer, reduced, 1, inner], the same reduction is one XNNPACK average pool with a reduced×1
// window: no transpose, no weights to pack, 3–10× faster. (A ones-row matmul is quick only while
// XNNPACK can reuse the packed tensor; for a fresh activation it must pack it all every call.)
import { tf } from '../tf.js';
import {
  type KernelArgs,
  type TensorInfo,
  asWasm,
  overrideWasmKernel,
  runWasmKernel,
} from './wasm-kernel-utils.js';

interface ReduceAttrs {
  axis: number | number[];
  keepDims: boolean;
}

function product(values: number[]): number {
  return values.reduce((a, b) => a * b, 1);
}

/** Mean (or, scaled back by the count, Sum) over a contiguous run of non-innermost axes. */
function reduceByAvgPool(original: tf.KernelConfig, kind: 'sum' | 'mean') {
  return (args: KernelArgs): TensorInfo => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as ReduceAttrs;
    const rank = x.shape.length;
    const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((a, b) => a - b);
    const lastAxis = axes[axes.length - 1];
    const contiguous = axes.length > 0 && lastAxis - axes[0] === axes.length - 1;
    // Innermost reductions need no transpose: wasm's own kernel is already fast there.
    if (x.dtype !== 'float32' || !contiguous || lastAxis === rank - 1) {
      return original.kernelFunc(args) as TensorInfo;
    }
    const outer = product(x.shape.slice(0, axes[0]));
    const reduced = product(axes.map((a) => x.shape[a]));
    const inner = product(x.shape.slice(lastAxis + 1));
    if (reduced === 0 || outer * inner === 0) return original.kernelFunc(args) as TensorInfo;

    // Kernels take shapes from the TensorInfo, so a view with another shape is a free reshape.
    const asImage: TensorInfo = {
      dataId: x.dataId,
      shape: [outer, reduced, 1, inner],
      dtype: x.dtype,
    };
    const out = runWasmKernel(
      'AvgPool',
      { x: asImage },
      { filterSize: [reduced, 1], strides: 1, pad: 'valid', dimRoundingMode: undefined },
      args.backend,
    );
    if (kind === 'sum') {
      const values = asWasm(args.backend).typedArrayFromHeap(out);
      for (let i = 0; i < values.length; i++) values[i] *= reduced;
    }
    const keptShape = x.shape.filter((_, i) => !axes.includes(i));
    out.shape = keepDims ? tf.backend_util.expandShapeToKeepDim(keptShape, axes) : keptShape;
    return out;
  };
}

export function registerReduceKernels(): void {
  overrideWasmKernel('Sum', (original) => reduceByAvgPool(original, 'sum'));
  overrideWasmKernel('Mean', (original) => reduceByAvgPool(original, 'mean'));
}
