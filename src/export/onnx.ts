// `--format onnx`: a model's traced graph (models/trace.ts) translated node by node into ONNX
// operators, encoded by engine/onnx/graph.ts.
import { tf } from '../engine/tf.js';
import { encodeOnnxModel, ONNX_OPSET, type OnnxConstant, type OnnxNode } from '../engine/onnx/graph.js';
import type { QuantizedModel } from '../models/model.js';
import { windowPads } from '../models/ops.js';
import { traceModel, type GraphNode } from '../models/trace.js';
import { loadModel } from '../run/checkpoint-payload.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UsageError, unknownChoice } from '../util/errors.js';
import { pixelAffine, type InputNormalisation } from './normalisation.js';
import { checkpointNormalization } from './deploy.js';
import { actDeployment } from './activation.js';

/** Operator set the exported graph declares (every operator used is unchanged since opset 13 or earlier). */
export { ONNX_OPSET };
export const ONNX_INPUT_NAME = 'pixels';
export const ONNX_OUTPUT_NAME = 'logits';

/** How quantized kernels are stored: float Ŵ, or int8 values + DequantizeLinear (4× smaller file). */
export const ONNX_WEIGHT_FORMATS = ['float', 'int8'] as const;
export type OnnxWeightFormat = (typeof ONNX_WEIGHT_FORMATS)[number];

export interface OnnxBuildOptions {
  /**
   * 'float' (default): quantized kernels are float initialisers holding Ŵ. 'int8': they are int8
   * initialisers q with per-layer or per-channel scales s, Ŵ = q·s, through DequantizeLinear;
   * kernels whose code book is not a set of int8 multiples of one step (dorefa 8-bit) stay float.
   */
  weights?: OnnxWeightFormat;
}

export interface OnnxExportOptions extends OnnxBuildOptions {
  /** The input normalisation; by default the checkpoint's (recomputed from its data for older ones). */
  normalisation?: InputNormalisation;
}

type Layout = 'NHWC' | 'NCHW' | 'flat';

/** A value in the ONNX graph: its name and how its axes are ordered. */
interface Value {
  name: string;
  layout: Layout;
}

/** Incrementally builds an ONNX graph: nodes with fresh output names, constants, and layout conversions. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: Record<string, OnnxConstant> = {};
  private readonly transposed = new Map<string, string>();
  private counter = 0;

  fresh(hint: string): string {
    return `${hint.replace(/\//g, '_')}_${this.counter++}`;
  }

  constant(name: string, dims: number[], data: Float32Array | Int8Array): string {
    if (this.initializers[name]) throw new Error(`ONNX constant '${name}' defined twice`);
    this.initializers[name] = { dims, data };
    return name;
  }

  node(op: string, inputs: string[], hint: string, attrs: Pick<OnnxNode, 'attrs' | 'floatAttrs'> = {}): string {
    const output = this.fresh(hint);
    this.nodes.push({ op, inputs, outputs: [output], ...attrs });
    return output;
  }

  /** The value with NCHW axes (images) — inserts one Transpose per NHWC value, reused afterwards. */
  nchw(v: Value): Value {
    if (v.layout !== 'NHWC') return v;
    return { name: this.transposeOnce(v.name, [0, 3, 1, 2], 'to_nchw'), layout: 'NCHW' };
  }

  /** The value with NHWC axes, so that flattening matches TensorFlow.js's row-major order. */
  nhwc(v: Value): Value {
    if (v.layout !== 'NCHW') return v;
    return { name: this.transposeOnce(v.name, [0, 2, 3, 1], 'to_nhwc'), layout: 'NHWC' };
  }

  private transposeOnce(name: string, perm: number[], hint: string): string {
    const key = `${name}:${perm.join(',')}`;
    let out = this.transposed.get(key);
    if (!out) {
      out = this.node('Transpose', [name], hint, { attrs: { perm } });
      this.transposed.set(key, out);
    }
    return out;
  }
}

/** Ŵ as the model computes with it at inference (quantized kernels Q(A(W)) with their scales, others W). */
function inferenceKernel(model: QuantizedModel, name: string): Float32Array {
  return tf.tidy(() => model.steHooks().kernel(name, model.params.get(name)).dataSync() as Float32Array).slice();
}

function paramValues(model: QuantizedModel, name: string): Float32Array {
  return (model.params.get(name).dataSync() as Float32Array).slice();
}

/**
 * Ŵ as int8 values and float scales (Ŵ = q·scale[channel], channel = last axis), from the
 * quantizer's encoding: possible when every code-book level is an integer multiple of 1/m for one
 * m with |level·m| ≤ 127 (dorefa k ≤ 7: m = 2^k − 1; bwn, ternary, sign: m = 1). Null otherwise,
 * or when the result does not reproduce the model's Ŵ.
 */
function int8Kernel(model: QuantizedModel, name: string, wHat: Float32Array): { q: Int8Array; scales: Float32Array } | null {
  const encoding = model.encodeKernel(name);
  const isIntegerMultiple = (m: number) => Array.from(encoding.levels).every((l) => Math.abs(l * m - Math.round(l * m)) < 1e-4 && Math.abs(Math.round(l * m)) <= 127);
  const m = Array.from({ length: 127 }, (_, i) => i + 1).find(isIntegerMultiple);
  if (m === undefined || !encoding.scales.every((a) => a > 0 && Number.isFinite(a))) return null;
  const q = Int8Array.from(encoding.codes, (c) => Math.round(encoding.levels[c]! * m));
  const scales = Float32Array.from(encoding.scales, (a) => a / m);
  const channels = scales.length;
  let largest = 0;
  for (const v of wHat) largest = Math.max(largest, Math.abs(v));
  const tolerance = 1e-6 * largest;
  for (let i = 0; i < q.length; i++) if (Math.abs(q[i]! * scales[i % channels]! - wHat[i]!) > tolerance) return null;
  return { q, scales };
}

/** HWIO (TensorFlow.js) → OIHW (ONNX Conv). */
function hwioToOihw<T extends Float32Array | Int8Array>(w: T, [kh, kw, cin, cout]: number[]): T {
  const out = new (w.constructor as new (n: number) => T)(w.length);
  for (let y = 0; y < kh!; y++)
    for (let x = 0; x < kw!; x++)
      for (let i = 0; i < cin!; i++)
        for (let o = 0; o < cout!; o++) out[((o * cin! + i) * kh! + y) * kw! + x] = w[((y * kw! + x) * cin! + i) * cout! + o]!;
  return out;
}

/**
 * The kernel operand of a Conv (OIHW, channel axis 0) or Gemm (as stored, [in, out], channel
 * axis 1): a float initialiser, or int8 values through DequantizeLinear.
 */
function kernelOperand(b: GraphBuilder, model: QuantizedModel, name: string, kind: 'conv' | 'dense', options: OnnxBuildOptions): string {
  const shape = model.params.info(name).shape;
  const wHat = inferenceKernel(model, name);
  const dims = kind === 'conv' ? [shape[3]!, shape[2]!, shape[0]!, shape[1]!] : shape;
  const layout = <T extends Float32Array | Int8Array>(v: T): T => (kind === 'conv' ? hwioToOihw(v, shape) : v);
  const int8 = options.weights === 'int8' && model.isQuantized(name) ? int8Kernel(model, name, wHat) : null;
  if (!int8) return b.constant(name, dims, layout(wHat));
  const perChannel = int8.scales.length > 1;
  const scaleDims = perChannel ? [int8.scales.length] : [];
  const dequantized = b.node(
    'DequantizeLinear',
    [b.constant(`${name}/int8`, dims, layout(int8.q)), b.constant(`${name}/scale`, scaleDims, int8.scales), b.constant(`${name}/zero`, scaleDims, new Int8Array(int8.scales.length))],
    `${name}/dequantized`,
    perChannel ? { attrs: { axis: kind === 'conv' ? 0 : 1 } } : {},
  );
  return dequantized;
}

function translate(b: GraphBuilder, model: QuantizedModel, node: GraphNode, inputs: Value[], inputShapes: number[][], options: OnnxBuildOptions): Value {
  const [x] = inputs as [Value];
  const [inShape] = inputShapes as [number[]];
  switch (node.op) {
    case 'input':
      throw new Error('the input node is not translated');
    case 'conv2d': {
      const args = [b.nchw(x).name, kernelOperand(b, model, node.kernel, 'conv', options)];
      if (node.bias) args.push(b.constant(node.bias, [node.filters], paramValues(model, node.bias)));
      const [top, bottom] = windowPads(inShape[0]!, node.kernelSize, node.stride, node.padding);
      const [left, right] = windowPads(inShape[1]!, node.kernelSize, node.stride, node.padding);
      const out = b.node('Conv', args, node.layer, {
        attrs: { kernel_shape: [node.kernelSize, node.kernelSize], strides: [node.stride, node.stride], pads: [top, left, bottom, right] },
      });
      return { name: out, layout: 'NCHW' };
    }
    case 'dense': {
      const args = [x.name, kernelOperand(b, model, node.kernel, 'dense', options)];
      if (node.bias) args.push(b.constant(node.bias, [node.units], paramValues(model, node.bias)));
      return { name: b.node('Gemm', args, node.layer), layout: 'flat' };
    }
    case 'batchNorm': {
      const c = node.outputShape[node.outputShape.length - 1]!;
      const v = node.outputShape.length === 3 ? b.nchw(x) : x;
      const args = [node.gamma, node.beta, node.movingMean, node.movingVariance].map((p) => b.constant(p, [c], paramValues(model, p)));
      return { name: b.node('BatchNormalization', [v.name, ...args], node.layer, { floatAttrs: { epsilon: node.epsilon } }), layout: v.layout };
    }
    case 'relu':
      return { name: b.node('Relu', [x.name], 'relu'), layout: x.layout };
    case 'maxPool': {
      const [top, bottom] = windowPads(inShape[0]!, node.size, node.stride, node.padding);
      const [left, right] = windowPads(inShape[1]!, node.size, node.stride, node.padding);
      const out = b.node('MaxPool', [b.nchw(x).name], 'maxpool', {
        attrs: { kernel_shape: [node.size, node.size], strides: [node.stride, node.stride], pads: [top, left, bottom, right] },
      });
      return { name: out, layout: 'NCHW' };
    }
    case 'flatten':
      return { name: b.node('Flatten', [b.nhwc(x).name], 'flatten', { attrs: { axis: 1 } }), layout: 'flat' };
    case 'add': {
      const [p, q] = inputs as [Value, Value];
      const [pv, qv] = p.layout === q.layout ? [p, q] : [b.nchw(p), b.nchw(q)];
      return { name: b.node('Add', [pv.name, qv.name], 'add'), layout: pv.layout };
    }
    case 'actQuant': {
      // Standard operators computing what the library computes, bit for bit: Round is half to even like tf.round.
      const d = actDeployment(node, (p) => paramValues(model, p)[0]!);
      const one = (name: string, v: number) => b.constant(`${node.layer}/act/${name}`, [], Float32Array.of(v));
      if (d.kind === 'sign') {
        const nonNegative = b.node('GreaterOrEqual', [x.name, one('zero', 0)], 'act_nonneg');
        return { name: b.node('Where', [nonNegative, one('plus', 1), one('minus', -1)], 'act_sign'), layout: x.layout };
      }
      const step = one('step', d.step);
      const codes = b.node('Clip', [b.node('Round', [b.node('Div', [x.name, step], 'act_scaled')], 'act_round'), one('min', 0), one('max', d.maxCode)], 'act_codes');
      return { name: b.node('Mul', [codes, step], 'act_quantized'), layout: x.layout };
    }
    case 'globalAvgPool': {
      const pooled = b.node('GlobalAveragePool', [b.nchw(x).name], 'avgpool');
      return { name: b.node('Flatten', [pooled], 'avgpool_flatten', { attrs: { axis: 1 } }), layout: 'flat' };
    }
  }
}

/**
 * An ONNX model (opset ONNX_OPSET, standard operators only) computing the same logits as
 * `model.predict`: its input is raw pixels 0–255, NHWC [batch, H, W, C], normalised inside the
 * graph; quantized kernels are float initialisers holding Ŵ = Q(A(W)) with the scales folded in.
 * Images run in NCHW inside the graph (Transposes at the ends), as ONNX's Conv expects.
 * With `weights: 'int8'` quantized kernels are int8 + DequantizeLinear instead.
 */
export function buildOnnxModel(model: QuantizedModel, normalisation: InputNormalisation, options: OnnxBuildOptions = {}): Uint8Array {
  const [h, w, c] = model.config.inputShape;
  if (normalisation.mean.length !== c || normalisation.std.length !== c) {
    throw new UsageError(`input normalisation has ${normalisation.mean.length} means and ${normalisation.std.length} stds; the model has ${c} channels`);
  }
  if (options.weights !== undefined && !ONNX_WEIGHT_FORMATS.includes(options.weights)) {
    throw unknownChoice('ONNX weight format', String(options.weights), ONNX_WEIGHT_FORMATS);
  }
  const graph = traceModel(model);
  const b = new GraphBuilder();
  const { scale, offset } = pixelAffine(normalisation);
  const scaled = b.node('Mul', [ONNX_INPUT_NAME, b.constant('input/scale', [c], scale)], 'input_scale');
  const normalised = b.node('Add', [scaled, b.constant('input/offset', [c], offset)], 'input_normalised');
  const values: Value[] = [];
  for (const node of graph.nodes) {
    if (node.op === 'input') {
      values[node.id] = { name: normalised, layout: 'NHWC' };
      continue;
    }
    const inputs = node.inputs.map((i) => values[i]!);
    values[node.id] = translate(b, model, node, inputs, node.inputs.map((i) => graph.nodes[i]!.outputShape), options);
  }
  const logits = values[graph.output]!;
  b.nodes.push({ op: 'Identity', inputs: [logits.name], outputs: [ONNX_OUTPUT_NAME] });

  const q = model.quantizer;
  return encodeOnnxModel(
    {
      name: model.config.arch,
      nodes: b.nodes,
      initializers: b.initializers,
      inputs: { [ONNX_INPUT_NAME]: ['batch', h, w, c] },
      outputs: { [ONNX_OUTPUT_NAME]: ['batch', model.config.numClasses] },
    },
    {
      producerName: 'metaquant',
      docString:
        `${model.config.arch}, weights ${q ? q.label : 'float'}; ` +
        `input '${ONNX_INPUT_NAME}': raw pixel values 0-255, NHWC; output '${ONNX_OUTPUT_NAME}': unnormalised class scores`,
    },
  );
}

/**
 * Writes a run's model as an ONNX file (atomically). The input normalisation is recomputed from
 * the run's training data unless given.
 */
export async function exportOnnx(checkpointDir: string, outFile: string, options: OnnxExportOptions = {}): Promise<{ file: string; bytes: number }> {
  const { model, payload } = loadModel(checkpointDir);
  try {
    const normalisation = options.normalisation ?? (await checkpointNormalization(payload, checkpointDir));
    const bytes = buildOnnxModel(model, normalisation, options);
    writeFileAtomic(outFile, bytes);
    return { file: outFile, bytes: bytes.length };
  } finally {
    model.dispose();
  }
}
