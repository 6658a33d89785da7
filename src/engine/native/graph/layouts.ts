// The layouts a model graph's image activations take and the conversions between them.
//   nhwc     tfjs's layout: only the images entering the graph
//   nchw     ONNX's plain layout
//   blocked  onnxruntime's NCHWc (nchwc.ts): logical dims [N, C, H, W], data [N, C/B, H, W, B]
//   flat     [N, features] after flatten, global pooling or dense layers
import { GraphBuilder, NCHW_TO_NHWC, NHWC_TO_NCHW } from './builder.js';
import { reorderInput, reorderOutput } from './nchwc.js';

export type Layout = 'nhwc' | 'nchw' | 'blocked' | 'flat';

/** A value in the graph: its name, layout and dims (NHWC dims for nhwc, [N, C, H, W] for nchw and blocked). */
export interface ValueRecord {
  name: string;
  layout: Layout;
  dims: number[];
}

/** `v` converted to `to` (4-D layouts only); the same record when it is already there. */
export function convert(g: GraphBuilder, v: ValueRecord, to: Layout): ValueRecord {
  if (v.layout === to) return v;
  const nchwDims = v.layout === 'nhwc' ? [v.dims[0]!, v.dims[3]!, v.dims[1]!, v.dims[2]!] : v.dims;
  const [n, c, h, w] = nchwDims as [number, number, number, number];
  const key = `${v.layout}>${to}`;
  switch (key) {
    case 'nhwc>nchw':
      return { name: g.transpose(v.name, NHWC_TO_NCHW), layout: to, dims: nchwDims };
    case 'nchw>nhwc':
      return { name: g.transpose(v.name, NCHW_TO_NHWC), layout: to, dims: [n, h, w, c] };
    case 'nhwc>blocked':
    case 'nchw>blocked':
      return { name: reorderInput(g, v.name, v.layout === 'nhwc'), layout: to, dims: nchwDims };
    case 'blocked>nchw':
    case 'blocked>nhwc':
      return { name: reorderOutput(g, v.name, c, to === 'nhwc'), layout: to, dims: to === 'nhwc' ? [n, h, w, c] : nchwDims };
    default:
      throw new Error(`model graph: no conversion ${key}`);
  }
}

/**
 * How per-channel vectors meet `v`: the view of its data with channels on their own axes (5-D for
 * blocked data), the axes a per-channel reduction sums over, and the shape a [C] vector takes.
 */
export function channelView(v: ValueRecord, block: number): { dims: number[]; axes: number[]; vector: number[] } {
  const [n, c, h, w] = v.dims as [number, number, number, number];
  switch (v.layout) {
    case 'flat':
      return { dims: v.dims, axes: [0], vector: [1, v.dims[1]!] };
    case 'nchw':
      return { dims: v.dims, axes: [0, 2, 3], vector: [1, c, 1, 1] };
    case 'blocked':
      return { dims: [n, c / block, h, w, block], axes: [0, 2, 3], vector: [1, c / block, 1, 1, block] };
    default:
      throw new Error(`model graph: per-channel op on a ${v.layout} value`);
  }
}
