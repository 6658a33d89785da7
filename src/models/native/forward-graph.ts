// A traced model's forward pass (src/models/trace.ts) as one ONNX graph. Images arrive NHWC as
// tfjs holds them; inside, activations stay in onnxruntime's blocked NCHWc layout where channel
// counts allow (else NCHW; layouts.ts), so a network changes layout once at its input (and once
// at a flatten), not around every convolution. Batch norm, ReLU, pooling and residual adds run
// as native, multi-threaded nodes between the convolutions.
// Training graphs also output what the backward graph (backward-graph.ts) reads: each
// layer's input, each batch norm's normalised x̂ and 1/σ, and the new running statistics.
import { tf } from '../../engine/tf.js';
import type { GraphNode as TracedNode, ModelGraph } from '../trace.js';
import { BN_MOMENTUM } from '../layers.js';
import { BN_EPSILON } from '../ops.js';
import { GraphBuilder, HWIO_TO_OIHW, size } from '../../engine/native/graph/builder.js';
import { type Layout, type ValueRecord, channelView, convert } from '../../engine/native/graph/layouts.js';
import * as nchwc from '../../engine/native/graph/nchwc.js';
import { blockedBnInfer, blockedBnTrain } from '../../engine/native/graph/blocked-batch-norm.js';

export type { Layout, ValueRecord };

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

export interface ForwardOptions {
  batch: number;
  /** Training mode: batch statistics in batch norm. */
  training: boolean;
  /** Output what the backward graph needs. */
  saveForBackward: boolean;
  /** Output new batch-norm running statistics (training only). */
  updateStatistics: boolean;
  /** NCHWc block size (nchwc.ts), 0 for plain NCHW graphs. */
  block: number;
}

export interface ForwardGraph {
  spec: ReturnType<GraphBuilder['spec']>;
  params: ParamSlot[];
  /** Per traced node: its output value (NHWC images: the graph's input 'x'). */
  values: ValueRecord[];
  /** Per traced node: the views of its inputs it read (after layout conversions). */
  inputsOf: ValueRecord[][];
  /** Per conv node id: whether it ran as a blocked (NCHWc) convolution. */
  blockedConv: Set<number>;
  /** Saved values the backward graph reads, with their dims (graph outputs of this graph). */
  saved: Record<string, number[]>;
  /** Per batch-norm node id: what it saved, x̂ (plain layouts) or c = x − μ (blocked), and 1/σ (channel view, layouts.ts). */
  bn: Map<number, { xhat: string; rstd: string } | { centred: string; rstd: string }>;
  /** Running statistics to assign after the run: graph output → parameter name. */
  statistics: Array<{ output: string; param: string }>;
}

/** Why a traced graph cannot run natively (null when it can). */
export function unsupportedReason(graph: ModelGraph): string | null {
  for (const node of graph.nodes) {
    if (node.op === 'maxPool' && node.size > node.stride) return `overlapping max pooling (size ${node.size}, stride ${node.stride})`;
    // Quantized activations and learned weight steps have custom gradients the native op does not know.
    if (node.op === 'actQuant') return 'activation quantization';
    if ((node.op === 'dense' || node.op === 'conv2d') && node.weightStep) return 'learned weight steps (lsq)';
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
  const B = opts.block;
  const params: ParamSlot[] = [];
  const values: ValueRecord[] = [];
  const inputsOf: ValueRecord[][] = [];
  const blockedConv = new Set<number>();
  const saved: Record<string, number[]> = {};
  const bn: ForwardGraph['bn'] = new Map();
  const statistics: Array<{ output: string; param: string }> = [];
  const views = new Map<string, ValueRecord>();
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
  /** Node `id`'s output in `layout`, converted once however many nodes read it. */
  const view = (id: number, layout: Layout): ValueRecord => {
    const v = values[id]!;
    const key = `${id}|${layout}`;
    let out = views.get(key);
    if (!out) views.set(key, (out = convert(g, v, layout)));
    return out;
  };
  // A blocked batch norm read only by a ReLU applies it itself (fused into its last pass).
  const readers = graph.nodes.map((n) => graph.nodes.filter((m) => m.inputs.includes(n.id)));
  const fusedRelu = new Set<number>();
  /** 4-D inputs of pooling, batch norm etc. stay as they are, except the NHWC images. */
  const imageLayout = (id: number): Layout => (values[id]!.layout === 'nhwc' ? 'nchw' : values[id]!.layout);

  for (const node of graph.nodes) {
    let used: ValueRecord[] = [];
    let out: ValueRecord;
    switch (node.op) {
      case 'input':
        out = { name: g.input('x', [N, ...node.outputShape]), layout: node.outputShape.length === 3 ? 'nhwc' : 'flat', dims: [N, ...node.outputShape] };
        break;
      case 'conv2d': {
        const inDims = graph.nodes[node.inputs[0]!]!.outputShape;
        const ci = inDims[2]!;
        const info = convGeometry(inDims, node, N);
        // Blocked when the output channels fill whole blocks and the input is blocked-able or narrower than a block.
        const blocked = B > 0 && node.filters % B === 0 && (ci % B === 0 || ci < B);
        const x = view(node.inputs[0]!, blocked && ci % B === 0 ? 'blocked' : 'nchw');
        used = [x];
        save(x);
        const oihw = g.transpose(param(node.kernel, [node.kernelSize, node.kernelSize, ci, node.filters], 'kernel'), HWIO_TO_OIHW);
        const b = node.bias ? param(node.bias, [node.filters], 'bias') : null;
        const attrs = { strides: [node.stride, node.stride], pads: pads(info) };
        let y: string;
        if (blocked) {
          blockedConv.add(node.id);
          const w = nchwc.filterBlocked(g, oihw, [node.filters, ci, node.kernelSize, node.kernelSize], B, x.layout === 'blocked');
          y = nchwc.conv(g, x.name, w, b, { ...attrs, kernel_shape: [node.kernelSize, node.kernelSize] });
        } else {
          y = g.node('Conv', [x.name, oihw, ...(b ? [b] : [])], undefined, attrs);
        }
        out = { name: y, layout: blocked ? 'blocked' : 'nchw', dims: [N, info.outChannels, info.outHeight, info.outWidth] };
        break;
      }
      case 'dense': {
        const x = values[node.inputs[0]!]!;
        used = [x];
        save(x);
        const w = param(node.kernel, [x.dims[1]!, node.units], 'kernel');
        const y = node.bias ? g.node('Gemm', [x.name, w, param(node.bias, [node.units], 'bias')]) : g.node('MatMul', [x.name, w]);
        out = { name: y, layout: 'flat', dims: [N, node.units] };
        break;
      }
      case 'batchNorm': {
        const x = view(node.inputs[0]!, imageLayout(node.inputs[0]!));
        used = [x];
        const only = readers[node.id]!;
        const relu = x.layout === 'blocked' && only.length === 1 && only[0]!.op === 'relu';
        if (relu) fusedRelu.add(only[0]!.id);
        out = batchNorm(g, node, x, { ...opts, relu }, param, save, bn, statistics);
        break;
      }
      case 'relu': {
        const x = view(node.inputs[0]!, imageLayout(node.inputs[0]!));
        used = [x];
        out = fusedRelu.has(node.id) ? x : { ...x, name: g.node('Relu', [x.name]) };
        break;
      }
      case 'maxPool': {
        const x = view(node.inputs[0]!, imageLayout(node.inputs[0]!));
        used = [x];
        save(x);
        const info = poolGeometry(graph.nodes[node.inputs[0]!]!.outputShape, node, N);
        const attrs = { kernel_shape: [node.size, node.size], strides: [node.stride, node.stride], pads: pads(info) };
        const y = x.layout === 'blocked' ? nchwc.maxPool(g, x.name, attrs) : g.node('MaxPool', [x.name], undefined, attrs);
        out = { name: y, layout: x.layout, dims: [N, info.outChannels, info.outHeight, info.outWidth] };
        break;
      }
      case 'flatten': {
        // tfjs flattens NHWC rows.
        const source = values[node.inputs[0]!]!;
        const x = source.layout === 'flat' ? source : view(node.inputs[0]!, 'nhwc');
        used = [x];
        out = { name: g.reshape(x.name, [N, size(x.dims.slice(1))]), layout: 'flat', dims: [N, size(x.dims.slice(1))] };
        break;
      }
      case 'add': {
        const layout = imageLayout(node.inputs[0]!);
        used = [view(node.inputs[0]!, layout), view(node.inputs[1]!, layout)];
        out = { ...used[0]!, name: g.node('Add', [used[0]!.name, used[1]!.name]) };
        break;
      }
      case 'actQuant':
        throw new Error('activation quantization has no native form (unsupportedReason rules it out)');
      case 'globalAvgPool': {
        const x = view(node.inputs[0]!, imageLayout(node.inputs[0]!));
        used = [x];
        const c = x.dims[1]!;
        const spatial = channelView(x, B);
        const source = x.layout === 'blocked' ? g.reshape(x.name, spatial.dims) : x.name;
        out = { name: g.reshape(g.node('ReduceMean', [source], undefined, { axes: [2, 3], keepdims: 0 }), [N, c]), layout: 'flat', dims: [N, c] };
        break;
      }
    }
    values.push(out);
    inputsOf.push(used);
    // ReLU outputs are what its backward reads (the mask) and usually the next layer's input.
    if (node.op === 'relu') save(out);
  }
  const logits = values[graph.output]!;
  g.output('logits', logits.name, logits.dims);
  return { spec: g.spec(), params, values, inputsOf, blockedConv, saved, bn, statistics };
}

function batchNorm(
  g: GraphBuilder,
  node: Extract<TracedNode, { op: 'batchNorm' }>,
  x: ValueRecord,
  opts: ForwardOptions & { relu: boolean },
  param: (name: string, dims: number[], role: ParamSlot['role']) => string,
  save: (v: ValueRecord) => void,
  bn: ForwardGraph['bn'],
  statistics: ForwardGraph['statistics'],
): ValueRecord {
  const c = x.layout === 'flat' ? x.dims[1]! : x.dims[1]!;
  // Per-channel vectors meet x in its channel view (5-D for blocked data).
  const cv = channelView(x, opts.block);
  const reshaped = cv.dims.length !== x.dims.length;
  const xv = reshaped ? g.reshape(x.name, cv.dims) : x.name;
  const back = (v: string) => (reshaped ? g.reshape(v, x.dims) : v);
  const bcast = (v: string) => g.reshape(v, cv.vector);
  const gamma = param(node.gamma, [c], 'gamma');
  const beta = param(node.beta, [c], 'beta');
  const runMean = param(node.movingMean, [c], 'movingMean');
  const runVar = param(node.movingVariance, [c], 'movingVariance');
  if (x.layout === 'blocked') {
    const inputs = { x: x.name, dims: x.dims, view: cv.dims, gamma, beta };
    if (!opts.training) return { ...x, name: blockedBnInfer(g, inputs, runMean, runVar, opts.relu, BN_EPSILON) };
    const r = blockedBnTrain(g, inputs, opts.relu, BN_EPSILON);
    if (opts.saveForBackward) {
      save({ name: r.centred, layout: x.layout, dims: x.dims });
      save({ name: r.rstd, layout: 'flat', dims: cv.vector });
      bn.set(node.id, { centred: r.centred, rstd: r.rstd });
    }
    if (opts.updateStatistics) runningStatistics(g, node, r.mean, r.variance, size(x.dims) / c, runMean, runVar, statistics);
    return { ...x, name: r.y };
  }
  if (!opts.training) {
    // y = (x − μ_run) · γ/√(σ²_run + ε) + β, as LayerOps computes it.
    const scale = g.node('Mul', [gamma, g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [runVar, g.scalar(BN_EPSILON)])])])]);
    const y = g.node('Add', [g.node('Mul', [g.node('Sub', [xv, bcast(runMean)]), bcast(scale)]), bcast(beta)]);
    return { ...x, name: back(y) };
  }
  const mean = g.node('ReduceMean', [xv], undefined, { axes: cv.axes, keepdims: 1 });
  const centred = g.node('Sub', [xv, mean]);
  const variance = g.node('ReduceMean', [g.node('Mul', [centred, centred])], undefined, { axes: cv.axes, keepdims: 1 });
  const rstd = g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [variance, g.scalar(BN_EPSILON)])])]);
  const xhat = g.node('Mul', [centred, rstd]);
  const y = g.node('Add', [g.node('Mul', [xhat, bcast(gamma)]), bcast(beta)]);
  if (opts.saveForBackward) {
    save({ name: xhat, layout: x.layout, dims: cv.dims });
    save({ name: rstd, layout: 'flat', dims: cv.vector });
    bn.set(node.id, { xhat, rstd });
  }
  if (opts.updateStatistics) runningStatistics(g, node, mean, variance, size(x.dims) / c, runMean, runVar, statistics);
  return { ...x, name: back(y) };
}

/** New running statistics as graph outputs; PyTorch's convention (LayerOps): (1 − m)·running + m·batch, unbiased variance. */
function runningStatistics(
  g: GraphBuilder,
  node: Extract<TracedNode, { op: 'batchNorm' }>,
  mean: string,
  variance: string,
  n: number,
  runMean: string,
  runVar: string,
  statistics: ForwardGraph['statistics'],
): void {
  const c = g.inputs[runMean]![0]!;
  const blend = (run: string, batch: string, factor: number) =>
    g.node('Add', [g.node('Mul', [run, g.scalar(1 - BN_MOMENTUM)]), g.node('Mul', [g.reshape(batch, [c]), g.scalar(BN_MOMENTUM * factor)])]);
  const newMean = blend(runMean, mean, 1);
  const newVar = blend(runVar, variance, n / Math.max(n - 1, 1));
  for (const [value, p] of [[newMean, node.movingMean], [newVar, node.movingVariance]] as const) {
    const output = `stat${statistics.length}`;
    g.output(output, value, [c]);
    statistics.push({ output, param: p });
  }
}
