// The hand-derived backward pass of a forward graph (forward-graph.ts) as one ONNX graph: from
// dL/dlogits and the values the forward saved, the gradients of every kernel, bias, γ and β
// (tfjs shapes). Each rule is the derivative tfjs's autodiff takes through LayerOps' ops:
//   dense   y = xW (+b):  dW = xᵀdy, db = Σ_n dy, dx = dy Wᵀ
//   conv    dW = x ⋆ dy (x as [Ci, N, H, W] convolved with dy as [Co, N, OH, OW], dilated by the
//           stride), db = Σ dy, dx = ConvTranspose(dy, W) with the forward's pads
//   BN      (batch statistics) dβ = Σ dy, dγ = Σ dy·x̂, dx = γ/σ · (dy − (dβ + x̂·dγ)/M)
//   ReLU    dx = dy · [y > 0]        max pool: dy routed to each window's first maximum
//   flatten, add, global average pool: reshape, fan-out, spread.
// The images get no gradient (the native model op is not differentiable in its input).
import type { ModelGraph } from '../trace.js';
import { GraphBuilder, HWIO_TO_OIHW, IOHW_TO_HWIO, size } from '../../engine/native/graph/builder.js';
import { type ForwardGraph, convGeometry, poolGeometry } from './forward-graph.js';
import { type Layout, type ValueRecord, channelView, convert } from '../../engine/native/graph/layouts.js';
import * as nchwc from '../../engine/native/graph/nchwc.js';
import { blockedBnGrad } from '../../engine/native/graph/blocked-batch-norm.js';

export interface BackwardGraph {
  spec: ReturnType<GraphBuilder['spec']>;
  /** Graph output name → index into the forward graph's `params` (gradients of trainable inputs). */
  grads: Array<{ output: string; slot: number }>;
}

export function buildBackward(graph: ModelGraph, fwd: ForwardGraph, batch: number, block: number): BackwardGraph {
  const g = new GraphBuilder('b');
  const N = batch;
  const nodes = graph.nodes;
  const slotOf = new Map(fwd.params.map((p, i) => [p.param, i]));
  const paramInput = (name: string) => {
    const slot = fwd.params[slotOf.get(name)!]!;
    return g.input(slot.input, slot.dims);
  };
  const savedInput = (name: string) => {
    const dims = fwd.saved[name];
    if (!dims) throw new Error(`backward graph: '${name}' was not saved by the forward graph`);
    return g.input(name, dims);
  };
  /** A saved forward value as a record of this graph, converted to `layout`. */
  const savedAs = (v: ValueRecord, layout: Layout): ValueRecord => convert(g, { ...v, name: savedInput(v.name) }, layout);
  const grads: BackwardGraph['grads'] = [];
  const emit = (param: string, value: string) => {
    const slot = slotOf.get(param)!;
    const output = `g${slot}`;
    g.output(output, value, fwd.params[slot]!.dims);
    grads.push({ output, slot });
  };

  // Which node outputs need a gradient: everything downstream of a parameter.
  const needsGrad = nodes.map(() => false);
  for (const node of nodes) {
    needsGrad[node.id] = node.op !== 'input' && (['conv2d', 'dense', 'batchNorm'].includes(node.op) || node.inputs.some((i) => needsGrad[i]));
  }
  const contributions: string[][] = nodes.map(() => []);
  /** Adds `grad` (in layout `from`, as the consumer read the input) to node `id`'s gradient, in that node's own layout. */
  const push = (id: number, grad: string, from: ValueRecord) => {
    if (!needsGrad[id]) return;
    const own = fwd.values[id]!;
    contributions[id]!.push(from.layout === own.layout ? grad : convert(g, { ...from, name: grad }, own.layout).name);
  };
  const sum = (parts: string[]) => parts.reduce((a, b) => g.node('Add', [a, b]));

  contributions[graph.output]!.push(g.input('dlogits', fwd.values[graph.output]!.dims));
  for (let id = nodes.length - 1; id >= 0; id--) {
    const node = nodes[id]!;
    if (contributions[id]!.length === 0) continue;
    const out = fwd.values[id]!;
    const dy = sum(contributions[id]!);
    const inId = node.inputs[0]!;
    const x = fwd.inputsOf[id]![0]!;
    switch (node.op) {
      case 'input':
        break;
      case 'dense': {
        const xs = savedInput(x.name);
        emit(node.kernel, g.node('Gemm', [xs, dy], undefined, { transA: 1 }));
        if (node.bias) emit(node.bias, g.node('ReduceSum', [dy, g.ints([0])], undefined, { keepdims: 0 }));
        if (needsGrad[inId]) push(inId, g.node('Gemm', [dy, paramInput(node.kernel)], undefined, { transB: 1 }), x);
        break;
      }
      case 'conv2d': {
        const info = convGeometry(nodes[inId]!.outputShape, node, N);
        const dyPlain = convert(g, { ...out, name: dy }, 'nchw').name;
        const blockedGrad = x.layout === 'blocked' && out.layout === 'blocked' && N % block === 0 && node.stride === 1;
        emit(node.kernel, blockedGrad ? blockedFilterGrad(g, savedInput(x.name), dy, info, N, block) : convFilterGrad(g, savedAs(x, 'nchw').name, dyPlain, info));
        if (node.bias) emit(node.bias, g.node('ReduceSum', [dyPlain, g.ints([0, 2, 3])], undefined, { keepdims: 0 }));
        if (needsGrad[inId]) {
          const w = g.transpose(paramInput(node.kernel), HWIO_TO_OIHW);
          if (fwd.blockedConv.has(id) && x.layout === 'blocked' && node.stride === 1) {
            push(inId, blockedInputGrad(g, dy, w, info, block), x);
          } else {
            const { top, left, bottom, right } = info.padInfo;
            const outputPadding = [
              info.inHeight - (info.strideHeight * (info.outHeight - 1) + info.filterHeight - top - bottom),
              info.inWidth - (info.strideWidth * (info.outWidth - 1) + info.filterWidth - left - right),
            ];
            const dx = g.node('ConvTranspose', [dyPlain, w], undefined, { strides: [node.stride, node.stride], pads: [top, left, bottom, right], output_padding: outputPadding });
            push(inId, dx, { ...x, layout: 'nchw' });
          }
        }
        break;
      }
      case 'batchNorm': {
        const saved = fwd.bn.get(node.id);
        if (!saved) throw new Error('backward graph: batch norm without saved statistics (inference-mode graphs have no backward)');
        const c = x.dims[1]!;
        const cv = channelView(x, block);
        if ('centred' in saved) {
          const r = blockedBnGrad(g, dy, savedInput(saved.centred), savedInput(saved.rstd), paramInput(node.gamma), x.dims, cv.dims);
          emit(node.gamma, r.dgamma);
          emit(node.beta, r.dbeta);
          if (needsGrad[inId]) push(inId, r.dx, x);
          break;
        }
        const reshaped = cv.dims.length !== x.dims.length;
        const dyv = reshaped ? g.reshape(dy, cv.dims) : dy;
        const axes = g.ints(cv.axes);
        const xhat = savedInput(saved.xhat);
        const rstd = savedInput(saved.rstd);
        const dbeta = g.node('ReduceSum', [dyv, axes], undefined, { keepdims: 1 });
        const dgamma = g.node('ReduceSum', [g.node('Mul', [dyv, xhat]), axes], undefined, { keepdims: 1 });
        emit(node.gamma, g.reshape(dgamma, [c]));
        emit(node.beta, g.reshape(dbeta, [c]));
        if (needsGrad[inId]) {
          const m = size(x.dims) / c;
          const scale = g.node('Mul', [g.reshape(paramInput(node.gamma), cv.vector), rstd]);
          const correction = g.node('Mul', [g.node('Add', [dbeta, g.node('Mul', [xhat, dgamma])]), g.scalar(1 / m)]);
          const dx = g.node('Mul', [g.node('Sub', [dyv, correction]), scale]);
          push(inId, reshaped ? g.reshape(dx, x.dims) : dx, x);
        }
        break;
      }
      case 'relu': {
        // y ≥ 0, so sign(y) is the mask [y > 0]: two plain passes (Where against a scalar takes
        // onnxruntime's slow broadcasting path).
        const y = savedInput(out.name);
        push(inId, g.node('Mul', [dy, g.node('Sign', [y])]), x);
        break;
      }
      case 'maxPool': {
        // The window maxima's positions, from plain MaxPool's indices on the saved input.
        const info = poolGeometry(nodes[inId]!.outputShape, node, N);
        const xs = savedAs(x, 'nchw');
        const attrs = { kernel_shape: [node.size, node.size], strides: [node.stride, node.stride], pads: [info.padInfo.top, info.padInfo.left, info.padInfo.bottom, info.padInfo.right] };
        const pooled = g.fresh('pooled');
        const indices = g.fresh('argmax');
        g.multi('MaxPool', [xs.name], [pooled, indices], attrs);
        const dyPlain = convert(g, { ...out, name: dy }, 'nchw').name;
        push(inId, g.node('MaxUnpool', [dyPlain, indices, g.ints(xs.dims)], undefined, attrs), xs);
        break;
      }
      case 'flatten': {
        if (!needsGrad[inId]) break;
        push(inId, g.reshape(dy, x.dims), x);
        break;
      }
      case 'add':
        push(node.inputs[0]!, dy, fwd.inputsOf[id]![0]!);
        push(node.inputs[1]!, dy, fwd.inputsOf[id]![1]!);
        break;
      case 'globalAvgPool': {
        const cv = channelView(x, block);
        const [h, w] = [x.dims[2]!, x.dims[3]!];
        const spread = g.node('Mul', [g.reshape(dy, cv.vector.map((d, i) => (i === 0 ? N : d))), g.scalar(1 / (h * w))]);
        push(inId, g.reshape(g.node('Expand', [spread, g.ints(cv.dims)]), x.dims), x);
        break;
      }
    }
  }
  return { spec: g.spec(), grads };
}

/**
 * dx of a stride-1 convolution as a blocked convolution of dy with the flipped, transposed
 * filter: dx[ci] = Σ_co dy[co] ⋆ rot180(W[co, ci]), padded by K − 1 − the forward's pads.
 */
function blockedInputGrad(g: GraphBuilder, dy: string, oihw: string, info: ReturnType<typeof convGeometry>, block: number): string {
  const [kh, kw] = [info.filterHeight, info.filterWidth];
  const flipped = g.node('Slice', [oihw, g.ints([kh - 1, kw - 1]), g.ints([-kh - 1, -kw - 1]), g.ints([2, 3]), g.ints([-1, -1])]);
  const transposed = g.transpose(flipped, [1, 0, 2, 3]); // [Ci, Co, KH, KW]
  const w = nchwc.filterBlocked(g, transposed, [info.inChannels, info.outChannels, kh, kw], block, true);
  const { top, left, bottom, right } = info.padInfo;
  return nchwc.conv(g, dy, w, null, { pads: [kh - 1 - top, kw - 1 - left, kh - 1 - bottom, kw - 1 - right], kernel_shape: [kh, kw] });
}

/**
 * The same filter gradient on blocked data, as one blocked convolution: x re-blocked over the batch
 * as [Ci, N, H, W] (N/B blocks of B images), dy as a filter [Co, N, OH, OW] in the blocked
 * filter order, both by one Transpose of their 6-D block views (stride 1, no cropping).
 */
function blockedFilterGrad(g: GraphBuilder, x: string, dy: string, info: ReturnType<typeof convGeometry>, n: number, block: number): string {
  const { inChannels: ci, outChannels: co, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  const bottom = info.filterHeight + oh - 1 - h - top;
  const right = info.filterWidth + ow - 1 - w - left;
  const xt = g.reshape(g.transpose(g.reshape(x, [n / block, block, ci / block, h, w, block]), [2, 5, 0, 3, 4, 1]), [ci, n, h, w]);
  const f = g.reshape(g.transpose(g.reshape(dy, [n / block, block, co / block, oh, ow, block]), [2, 0, 3, 4, 1, 5]), [co, n, oh, ow]);
  const dw = nchwc.conv(g, xt, f, null, { pads: [top, left, bottom, right], kernel_shape: [oh, ow] });
  return g.transpose(nchwc.reorderOutput(g, dw, co, false), IOHW_TO_HWIO);
}

/**
 * dW[kh,kw,ci,co] = Σ_{n,oh,ow} xPadded[n, ci, oh·s+kh, ow·s+kw] · dy[n, co, oh, ow]: a
 * convolution of x as [Ci, N, H, W] (input channels as the batch) with dy as [Co, N, OH, OW]
 * (the filter), dilated by the stride, giving [Ci, Co, KH, KW]. Input rows/columns the forward
 * never read are cropped first (ONNX pads cannot be negative).
 */
function convFilterGrad(g: GraphBuilder, x: string, dy: string, info: ReturnType<typeof convGeometry>): string {
  const { top, left } = info.padInfo;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  let bottom = info.filterHeight + (info.outHeight - 1) * sh - info.inHeight - top;
  let right = info.filterWidth + (info.outWidth - 1) * sw - info.inWidth - left;
  const rows = info.inHeight + Math.min(0, bottom);
  const cols = info.inWidth + Math.min(0, right);
  bottom = Math.max(0, bottom);
  right = Math.max(0, right);
  let xt = g.transpose(x, [1, 0, 2, 3]);
  if (rows < info.inHeight || cols < info.inWidth) xt = g.node('Slice', [xt, g.ints([0, 0]), g.ints([rows, cols]), g.ints([2, 3])]);
  const dyt = g.transpose(dy, [1, 0, 2, 3]);
  const dw = g.node('Conv', [xt, dyt], undefined, { dilations: [sh, sw], pads: [top, left, bottom, right] });
  return g.transpose(dw, IOHW_TO_HWIO);
}
