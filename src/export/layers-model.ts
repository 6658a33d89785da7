// A trained network as a standard TensorFlow.js LayersModel (tf.layers only), so that stock
// `tf.loadLayersModel` runs it with no metaquant code. Generated from the architecture's traced
// graph (models/trace.ts): one tf.layers layer per node, so any registered architecture exports.
// Browser-safe (the demo page and `loadPackedModel` use it): imports '@tensorflow/tfjs' itself,
// not src/engine/tf.js (which also loads the wasm backend), and no Node module; in Node both
// resolve to the same tfjs instance.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../models/model.js';
import { graphParameterShapes, traceArchitecture, type GraphNode, type ModelGraph } from '../models/trace.js';
import { MetaquantError } from '../util/errors.js';
import { pixelAffine, type InputNormalisation } from './normalisation.js';
import { actDeployment } from './activation.js';
import { registerActQuantLayer } from './tfjs-act-layer.js';

/** Per-channel statistics of the training images in [0, 1] units (what the data pipeline normalises with). */
export type Normalization = InputNormalisation;

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/**
 * A network ready to deploy: its architecture, the normalisation its inputs need, and the values
 * it computes with (Ŵ = Q(A(W)) with scales folded in for quantized kernels, trained values for
 * every other parameter), keyed by our parameter names ('conv1/kernel', 'bn1/gamma', …).
 */
export interface DeployedNetwork {
  modelConfig: ModelConfig;
  normalization: Normalization;
  weights: Record<string, NamedTensor>;
}

/** tfjs layer names may not contain '/', which our layer names use as a scope separator. */
export function kerasName(layer: string): string {
  return layer.replace(/\//g, '_');
}

/**
 * Checks every parameter the graph reads against `weights` before any layer is built: building
 * allocates the layers' weights, so a corrupt shape (a huge input, units or class count) must
 * fail first. A parameter the graph does not read is an error too.
 */
function checkWeights(graph: ModelGraph, weights: Record<string, NamedTensor>): void {
  const needed = graphParameterShapes(graph);
  for (const [name, shape] of needed) {
    const w = Object.hasOwn(weights, name) ? weights[name] : undefined;
    if (!w) throw new MetaquantError(`parameter '${name}' is missing`);
    if (w.shape.join('x') !== shape.join('x')) throw new MetaquantError(`parameter '${name}' has shape [${w.shape}] but the architecture needs [${shape}]`);
    if (w.data.length !== shape.reduce((a, b) => a * b, 1)) throw new MetaquantError(`parameter '${name}' has ${w.data.length} values for shape [${shape}]`);
  }
  const unused = Object.keys(weights).filter((n) => !needed.has(n));
  if (unused.length > 0) throw new MetaquantError(`parameters not used by the architecture: ${unused.join(', ')}`);
}

/** The tf.layers layer of one graph node and the parameter names whose values it holds, in setWeights order. */
function layerFor(node: Exclude<GraphNode, { op: 'input' }>, name: string): { layer: tf.layers.Layer; params: string[] } {
  switch (node.op) {
    case 'conv2d': {
      const { filters, kernelSize, stride: strides, padding } = node;
      return { layer: tf.layers.conv2d({ name, filters, kernelSize, strides, padding, useBias: node.bias !== null }), params: node.bias ? [node.kernel, node.bias] : [node.kernel] };
    }
    case 'dense':
      return { layer: tf.layers.dense({ name, units: node.units, useBias: node.bias !== null }), params: node.bias ? [node.kernel, node.bias] : [node.kernel] };
    case 'batchNorm':
      return { layer: tf.layers.batchNormalization({ name, axis: -1, epsilon: node.epsilon }), params: [node.gamma, node.beta, node.movingMean, node.movingVariance] };
    case 'relu':
      return { layer: tf.layers.activation({ name, activation: 'relu' }), params: [] };
    case 'maxPool':
      return { layer: tf.layers.maxPooling2d({ name, poolSize: node.size, strides: node.stride, padding: node.padding }), params: [] };
    case 'flatten':
      return { layer: tf.layers.flatten({ name }), params: [] };
    case 'add':
      return { layer: tf.layers.add({ name }), params: [] };
    case 'globalAvgPool':
      return { layer: tf.layers.globalAveragePooling2d({ name }), params: [] };
    case 'actQuant':
      throw new Error('actQuant layers are built by actQuantLayer');
  }
}

/**
 * tf.layers names for the nodes: our layer name for layers with parameters ('s1b1/conv1' →
 * 's1b1_conv1'), and relu1, pool1, flatten1, add1, avgpool1, … for the others.
 */
function layerNames(graph: ModelGraph): string[] {
  // A layer's input quantization is named after it: 'fc2' → 'fc2_actquant'.
  const own = (n: GraphNode) => ('layer' in n ? (n.op === 'actQuant' ? `${kerasName(n.layer)}_actquant` : kerasName(n.layer)) : null);
  const taken = new Set(graph.nodes.flatMap((n) => own(n) ?? []));
  const counts = new Map<string, number>();
  const prefix: Record<string, string> = { maxPool: 'pool', globalAvgPool: 'avgpool' };
  return graph.nodes.map((n) => {
    const named = own(n);
    if (named !== null) return named;
    const p = prefix[n.op] ?? n.op;
    let name: string;
    do {
      counts.set(p, (counts.get(p) ?? 0) + 1);
      name = `${p}${counts.get(p)}`;
    } while (taken.has(name));
    taken.add(name);
    return name;
  });
}

/**
 * Builds the LayersModel for `net`. The first layer turns raw pixels x into (x/255 − mean)/std per
 * channel (a 1×1 depthwise convolution with bias), the last returns logits.
 */
export function buildLayersModel(net: DeployedNetwork): tf.LayersModel {
  const { modelConfig: config, normalization } = net;
  const [height, width, channels] = config.inputShape;
  if (normalization.mean.length !== channels || normalization.std.length !== channels) {
    throw new MetaquantError(`normalisation has ${normalization.mean.length} means and ${normalization.std.length} stds for ${channels} input channels`);
  }
  const graph = traceArchitecture(config);
  checkWeights(graph, net.weights);
  const names = layerNames(graph);
  const pending: Array<{ layer: tf.layers.Layer; values: () => tf.Tensor[] }> = [];
  const param = (name: string) => tf.tensor(net.weights[name]!.data, net.weights[name]!.shape, 'float32');

  const ActQuantLayer = registerActQuantLayer(tf);
  const input = tf.input({ shape: [height, width, channels], name: 'pixels' });
  const normalize = tf.layers.depthwiseConv2d({ name: 'normalize', kernelSize: 1, depthMultiplier: 1, useBias: true });
  const { scale, offset } = pixelAffine(normalization);
  pending.push({ layer: normalize, values: () => [tf.tensor4d(scale, [1, 1, channels, 1]), tf.tensor1d(offset)] });
  const outputs: tf.SymbolicTensor[] = [];
  for (const node of graph.nodes) {
    if (node.op === 'input') {
      outputs[node.id] = normalize.apply(input) as tf.SymbolicTensor;
      continue;
    }
    const { layer, params } =
      node.op === 'actQuant' ? { layer: new ActQuantLayer({ name: names[node.id]!, ...actDeployment(node, (p) => net.weights[p]!.data[0]!) }), params: [] } : layerFor(node, names[node.id]!);
    const args = node.inputs.map((i) => outputs[i]!);
    outputs[node.id] = layer.apply(args.length === 1 ? args[0]! : args) as tf.SymbolicTensor;
    if (params.length > 0) pending.push({ layer, values: () => params.map(param) });
  }
  const model = tf.model({ inputs: input, outputs: outputs[graph.output]!, name: `metaquant_${config.arch}` });
  try {
    for (const { layer, values } of pending) {
      const tensors = values();
      try {
        layer.setWeights(tensors);
      } finally {
        tf.dispose(tensors);
      }
    }
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}
