// A traced model's forward pass (src/models/trace.ts) as one ONNX graph. Images arrive NHWC as
// tfjs holds them; image activations are NCHW inside (ONNX's layout), so a network changes
// layout once at its input (and once at a flatten), not around every convolution. Batch norm,
// ReLU, pooling and residual adds run as native, multi-threaded nodes between the convolutions.
// Training graphs also output what the backward graph (backward-graph.ts) reads: each
// layer's input, each batch norm's normalised x̂ and 1/σ, and the new running statistics.
import { tf } from '../../tf.js';
import type { GraphNode as TracedNode, ModelGraph } from '../../../models/trace.js';
import { BN_EPSILON, BN_MOMENTUM } from '../../../models/layers.js';
import { GraphBuilder, HWIO_TO_OIHW, NCHW_TO_NHWC, NHWC_TO_NCHW, size } from './builder.js';

/** One parameter tensor the graph reads, in the order the model's hooks are asked for them. */
export interface ParamSlot {
  /** The model's parameter name, e.g. 's1b1/conv1/kernel'. */
  param: string;
  /** The graph input's name. */
  input: string;
  /** tfjs shape (HWIO kernels, [in, out] dense kernels, [C] vectors). */
  dims: number[];
  role: 'kernel' | 'bias' | 'gamma' | 'beta' | 'movingMean' | 'movingVariance';
}

export type Layout = 'nchw' | 'nhwc' | 'flat';

/** Where a traced node's output lives in the graph. */
export interface ValueRecord {
  name: string;
  layout: Layout;
  /** Graph dims of the value (NCHW, NHWC or [N, features]). */
  dims: number[];
}

export interface ForwardOptions {
  batch: number;
  /** Training mode: batch statistics in batch norm. */
  training: boolean;
  /** Output what the backward graph needs. */
  saveForBackward: boolean;
  /** Output new batch-norm running statistics (training only). */
  updateStatistics: boolean;
}

export interface ForwardGraph {
  spec: ReturnType<GraphBuilder['spec']>;
  params: ParamSlot[];
  /** Per traced node: its output value (NHWC images: the graph's input 'x'). */
  values: ValueRecord[];
  /** Saved values the backward graph reads, with their dims (graph outputs of this graph). */
  saved: Record<string, number[]>;
  /** Per batch-norm node id: the names of its saved x̂ and 1/σ. */
  bn: Map<number, { xhat: string; rstd: string; gamma: string }>;
  /** Running statistics to assign after the run: graph output → parameter name. */
  statistics: Array<{ output: string; param: string }>;
}

/** Why a traced graph cannot run natively (null when it can). */
export function unsupportedReason(graph: ModelGraph): string | null {
  for (const node of graph.nodes) {
    if (node.op === 'maxPool' && node.size > node.stride) return `overlapping max pooling (size ${node.size}, stride ${node.stride})`;
  }
  return null;
}

export function convGeometry(inDims: number[], node: Extract<TracedNode, { op: 'conv2d' }>, batch: number) {
  const [h, w, c] = inDims as [number, number, number];
  return tf.backend_util.computeConv2DInfo([batch, h, w, c], [node.kernelSize, node.kernelSize, c, node.filters], node.stride, 1, node.padding);
}

export function poolGeometry(inDims: number[], node: Extract<TracedNode, { op: 'maxPool' }>, batch: number) {
  const [h, w, c] = inDims as [number, number, number];
  return tf.backend_util.computePool2DInfo([batch, h, w, c], node.size, node.stride, 1, node.padding);
}

const pads = (info: tf.backend_util.Conv2DInfo) => [info.padInfo.top, info.padInfo.left, info.padInfo.bottom, info.padInfo.right];

export function buildForward(graph: ModelGraph, opts: ForwardOptions): ForwardGraph {
  const g = new GraphBuilder();
  const N = opts.batch;
  const params: ParamSlot[] = [];
  const values: ValueRecord[] = [];
  const saved: Record<string, number[]> = {};
  const bn = new Map<number, { xhat: string; rstd: string; gamma: string }>();
  const statistics: Array<{ output: string; param: string }> = [];
  const param = (name: string, dims: number[], role: ParamSlot['role']) => {
    const input = g.input(`p${params.length}`, dims);
    params.push({ param: name, input, dims, role });
    return input;
  };
  const save = (v: ValueRecord) => {
    if (opts.saveForBackward && !(v.name in saved) && v.name !== 'x') {
      saved[v.name] = v.dims;
      g.outputs[v.name] = v.dims;
    }
  };
  /** The value of node `id` as NCHW (4-D) or as it is (2-D). */
  const asNchw = (id: number): ValueRecord => {
    const v = values[id]!;
    if (v.layout !== 'nhwc') return v;
    const [n, h, w, c] = v.dims as [number, number, number, number];
    const converted = { name: g.transpose(v.name, NHWC_TO_NCHW), layout: 'nchw' as const, dims: [n, c, h, w] };
    values[id] = converted;
    return converted;
  };

  for (const node of graph.nodes) {
    const inputs = node.inputs.map((i) => values[i]!);
    let out: ValueRecord;
    switch (node.op) {
      case 'input':
        out = { name: g.input('x', [N, ...node.outputShape]), layout: node.outputShape.length === 3 ? 'nhwc' : 'flat', dims: [N, ...node.outputShape] };
        break;
      case 'conv2d': {
        const x = asNchw(node.inputs[0]!);
        save(x);
        const inDims = graph.nodes[node.inputs[0]!]!.outputShape;
        const info = convGeometry(inDims, node, N);
        const w = g.transpose(param(node.kernel, [node.kernelSize, node.kernelSize, inDims[2]!, node.filters], 'kernel'), HWIO_TO_OIHW);
        const b = node.bias ? [param(node.bias, [node.filters], 'bias')] : [];
        const y = g.node('Conv', [x.name, w, ...b], undefined, { strides: [node.stride, node.stride], pads: pads(info) });
        out = { name: y, layout: 'nchw', dims: [N, info.outChannels, info.outHeight, info.outWidth] };
        break;
      }
      case 'dense': {
        const x = inputs[0]!;
        save(x);
        const w = param(node.kernel, [x.dims[1]!, node.units], 'kernel');
        const y = node.bias ? g.node('Gemm', [x.name, w, param(node.bias, [node.units], 'bias')]) : g.node('MatMul', [x.name, w]);
        out = { name: y, layout: 'flat', dims: [N, node.units] };
        break;
      }
      case 'batchNorm': {
        const x = asNchw(node.inputs[0]!);
        out = batchNorm(g, node, x, opts, param, save, bn, statistics);
        break;
      }
      case 'relu': {
        const x = asNchw(node.inputs[0]!);
        out = { ...x, name: g.node('Relu', [x.name]) };
        break;
      }
      case 'maxPool': {
        const x = asNchw(node.inputs[0]!);
        save(x);
        const info = poolGeometry(graph.nodes[node.inputs[0]!]!.outputShape, node, N);
        const y = g.node('MaxPool', [x.name], undefined, { kernel_shape: [node.size, node.size], strides: [node.stride, node.stride], pads: pads(info) });
        out = { name: y, layout: 'nchw', dims: [N, info.outChannels, info.outHeight, info.outWidth] };
        break;
      }
      case 'flatten': {
        // tfjs flattens NHWC rows: go back to NHWC first.
        const x = inputs[0]!;
        const nhwc = x.layout === 'nchw' ? g.transpose(x.name, NCHW_TO_NHWC) : x.name;
        out = { name: g.reshape(nhwc, [N, size(x.dims.slice(1))]), layout: 'flat', dims: [N, size(x.dims.slice(1))] };
        break;
      }
      case 'add': {
        const [a, b] = [asNchw(node.inputs[0]!), asNchw(node.inputs[1]!)];
        out = { ...a, name: g.node('Add', [a.name, b.name]) };
        break;
      }
      case 'globalAvgPool': {
        const x = asNchw(node.inputs[0]!);
        out = { name: g.node('ReduceMean', [x.name], undefined, { axes: [2, 3], keepdims: 0 }), layout: 'flat', dims: [N, x.dims[1]!] };
        break;
      }
    }
    values.push(out);
    // ReLU outputs are what its backward reads (the mask) and usually the next layer's input.
    if (node.op === 'relu') save(out);
  }
  const logits = values[graph.output]!;
  g.output('logits', logits.name, logits.dims);
  return { spec: g.spec(), params, values, saved, bn, statistics };
}

function batchNorm(
  g: GraphBuilder,
  node: Extract<TracedNode, { op: 'batchNorm' }>,
  x: ValueRecord,
  opts: ForwardOptions,
  param: (name: string, dims: number[], role: ParamSlot['role']) => string,
  save: (v: ValueRecord) => void,
  bn: ForwardGraph['bn'],
  statistics: ForwardGraph['statistics'],
): ValueRecord {
  const c = x.dims[1]!;
  const image = x.dims.length === 4;
  // Per-channel vectors broadcast against [N, C, H, W] as [1, C, 1, 1].
  const bcast = (v: string) => (image ? g.reshape(v, [1, c, 1, 1]) : v);
  const vector = (v: string) => g.reshape(v, [c]);
  const gamma = param(node.gamma, [c], 'gamma');
  const beta = param(node.beta, [c], 'beta');
  const runMean = param(node.movingMean, [c], 'movingMean');
  const runVar = param(node.movingVariance, [c], 'movingVariance');
  const axes = image ? [0, 2, 3] : [0];
  if (!opts.training) {
    // y = (x − μ_run) · γ/√(σ²_run + ε) + β, as LayerOps computes it.
    const scale = g.node('Mul', [gamma, g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [runVar, g.scalar(BN_EPSILON)])])])]);
    const y = g.node('Add', [g.node('Mul', [g.node('Sub', [x.name, bcast(runMean)]), bcast(scale)]), bcast(beta)]);
    return { ...x, name: y };
  }
  const mean = g.node('ReduceMean', [x.name], undefined, { axes, keepdims: 1 });
  const centred = g.node('Sub', [x.name, mean]);
  const variance = g.node('ReduceMean', [g.node('Mul', [centred, centred])], undefined, { axes, keepdims: 1 });
  const rstd = g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [variance, g.scalar(BN_EPSILON)])])]);
  const xhat = g.node('Mul', [centred, rstd]);
  const y = g.node('Add', [g.node('Mul', [xhat, bcast(gamma)]), bcast(beta)]);
  if (opts.saveForBackward) {
    const rstdDims = image ? [1, c, 1, 1] : [1, c];
    save({ name: xhat, layout: x.layout, dims: x.dims });
    save({ name: rstd, layout: 'flat', dims: rstdDims });
    bn.set(node.id, { xhat, rstd, gamma });
  }
  if (opts.updateStatistics) {
    // PyTorch's convention (LayerOps): running = (1 − m)·running + m·batch, unbiased variance.
    const n = size(x.dims) / c;
    const blend = (run: string, batch: string, factor: number) =>
      g.node('Add', [g.node('Mul', [run, g.scalar(1 - BN_MOMENTUM)]), g.node('Mul', [vector(batch), g.scalar(BN_MOMENTUM * factor)])]);
    const newMean = blend(runMean, mean, 1);
    const newVar = blend(runVar, variance, n / Math.max(n - 1, 1));
    for (const [value, p] of [[newMean, node.movingMean], [newVar, node.movingVariance]] as const) {
      const output = `stat${statistics.length}`;
      g.output(output, value, [c]);
      statistics.push({ output, param: p });
    }
  }
  return { ...x, name: y };
}
