// Rebuilds a trained network as a standard TensorFlow.js LayersModel (tf.layers only), so that
// stock `tf.loadLayersModel` runs it with no metaquant code. Browser-safe: imports
// '@tensorflow/tfjs' itself (not src/engine/tf.js, which also loads the wasm backend) and no Node
// module; in Node both resolve to the same tfjs instance.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../models/model.js';
import { MetaquantError } from '../util/errors.js';

/** Per-channel statistics of the training images in [0, 1] units (what the data pipeline normalises with). */
export interface Normalization {
  mean: number[];
  std: number[];
}

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

/** Architectures this builder can express with tf.layers; mirrors src/models/architectures.ts. */
export const EXPORTABLE_ARCHITECTURES = ['mlp', 'lenet5', 'resnet20', 'resnet32', 'resnet44', 'resnet56'] as const;

/** Must equal BN_EPSILON in src/models/layers.ts. */
const BN_EPSILON = 1e-5;

/** Input pixels are raw 0–255 values; the data pipeline divides by 255 before normalising. */
export const PIXEL_SCALE = 255;

/**
 * Builds the graph for `net`. The first layer turns raw pixels x into (x/255 − mean)/std per
 * channel (a 1×1 depthwise convolution with bias), the last returns logits.
 */
export function buildLayersModel(net: DeployedNetwork): tf.LayersModel {
  const { modelConfig: config, normalization } = net;
  const [height, width, channels] = config.inputShape;
  if (normalization.mean.length !== channels || normalization.std.length !== channels) {
    throw new MetaquantError(`normalisation has ${normalization.mean.length} means and ${normalization.std.length} stds for ${channels} input channels`);
  }
  const g = new GraphBuilder(net.weights);
  const input = tf.input({ shape: [height, width, channels], name: 'pixels' });
  const normalize = tf.layers.depthwiseConv2d({ name: 'normalize', kernelSize: 1, depthMultiplier: 1, useBias: true });
  g.constant(normalize, () => [
    tf.tensor4d(normalization.std.map((s) => 1 / (PIXEL_SCALE * s)), [1, 1, channels, 1]),
    tf.tensor1d(normalization.mean.map((m, c) => -m / normalization.std[c]!)),
  ]);
  let h = normalize.apply(input) as tf.SymbolicTensor;
  const arch = config.arch;
  if (arch === 'mlp') h = mlp(g, h, config);
  else if (arch === 'lenet5') h = lenet5(g, h, config.numClasses);
  else if (/^resnet(20|32|44|56)$/.test(arch)) h = resnet(g, h, Number(arch.slice(6)), config.numClasses);
  else throw new MetaquantError(`architecture '${arch}' cannot be exported; exportable: ${EXPORTABLE_ARCHITECTURES.join(', ')}`);
  const model = tf.model({ inputs: input, outputs: h, name: `metaquant_${arch}` });
  try {
    g.assignWeights();
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}

function mlp(g: GraphBuilder, x: tf.SymbolicTensor, config: ModelConfig): tf.SymbolicTensor {
  const hidden = config.archOptions?.hidden ?? [256, 256];
  const useBn = config.archOptions?.batchNorm ?? true;
  let h = g.flatten('flatten', x);
  hidden.forEach((units, i) => {
    h = g.dense(`fc${i + 1}`, h, units, false);
    if (useBn) h = g.batchNorm(`bn${i + 1}`, h);
    h = g.relu(`fc${i + 1}_relu`, h);
  });
  return g.dense(`fc${hidden.length + 1}`, h, config.numClasses, true);
}

function lenet5(g: GraphBuilder, x: tf.SymbolicTensor, numClasses: number): tf.SymbolicTensor {
  let h = g.conv2d('conv1', x, 32, 5, 1);
  h = g.maxPool('pool1', g.relu('relu1', g.batchNorm('bn1', h)));
  h = g.conv2d('conv2', h, 64, 5, 1);
  h = g.maxPool('pool2', g.relu('relu2', g.batchNorm('bn2', h)));
  h = g.flatten('flatten', h);
  h = g.relu('relu3', g.batchNorm('bn3', g.dense('fc1', h, 512, false)));
  return g.dense('fc2', h, numClasses, true);
}

function resnet(g: GraphBuilder, x: tf.SymbolicTensor, depth: number, numClasses: number): tf.SymbolicTensor {
  const blocksPerStage = (depth - 2) / 6;
  let h = g.relu('stem_relu', g.batchNorm('stem/bn', g.conv2d('stem/conv', x, 16, 3, 1)));
  let inChannels = 16;
  [16, 32, 64].forEach((channels, stage) => {
    for (let b = 0; b < blocksPerStage; b++) {
      const p = `s${stage + 1}b${b + 1}`;
      const stride = stage > 0 && b === 0 ? 2 : 1;
      let y = g.relu(`${p}/relu1`, g.batchNorm(`${p}/bn1`, g.conv2d(`${p}/conv1`, h, channels, 3, stride)));
      y = g.batchNorm(`${p}/bn2`, g.conv2d(`${p}/conv2`, y, channels, 3, 1));
      const shortcut =
        stride !== 1 || inChannels !== channels ? g.batchNorm(`${p}/down/bn`, g.conv2d(`${p}/down/conv`, h, channels, 1, stride)) : h;
      h = g.relu(`${p}/relu2`, tf.layers.add({ name: kerasName(`${p}/add`) }).apply([y, shortcut]) as tf.SymbolicTensor);
      inChannels = channels;
    }
  });
  h = tf.layers.globalAveragePooling2d({ name: 'avgpool' }).apply(h) as tf.SymbolicTensor;
  return g.dense('fc', h, numClasses, true);
}

/** tfjs layer names may not contain '/', which our layer names use as a scope separator. */
export function kerasName(layer: string): string {
  return layer.replace(/\//g, '_');
}

/** Creates layers named after ours and remembers which of our parameters each one holds. */
class GraphBuilder {
  private readonly pending: Array<{ layer: tf.layers.Layer; values: () => tf.Tensor[] }> = [];
  private readonly used = new Set<string>();

  constructor(private readonly weights: Record<string, NamedTensor>) {}

  /**
   * Checks a parameter before its layer is applied: applying builds the layer, and building
   * allocates its weights, so a corrupt shape (a huge input, units or class count) must fail here.
   */
  private expect(name: string, shape: number[]): NamedTensor {
    const w = this.weights[name];
    if (!w) throw new MetaquantError(`parameter '${name}' is missing`);
    if (w.shape.join('x') !== shape.join('x')) {
      throw new MetaquantError(`parameter '${name}' has shape [${w.shape}] but the architecture needs [${shape}]`);
    }
    if (w.data.length !== shape.reduce((a, b) => a * b, 1)) throw new MetaquantError(`parameter '${name}' has ${w.data.length} values for shape [${shape}]`);
    return w;
  }

  private param(name: string, shape: number[]): tf.Tensor {
    const w = this.expect(name, shape);
    this.used.add(name);
    return tf.tensor(w.data, shape, 'float32');
  }

  /** A layer whose weights are computed here rather than read from the network's parameters. */
  constant(layer: tf.layers.Layer, values: () => tf.Tensor[]): void {
    this.pending.push({ layer, values });
  }

  dense(name: string, x: tf.SymbolicTensor, units: number, useBias: boolean): tf.SymbolicTensor {
    const inFeatures = x.shape[x.shape.length - 1]!;
    this.expect(`${name}/kernel`, [inFeatures, units]);
    if (useBias) this.expect(`${name}/bias`, [units]);
    const layer = tf.layers.dense({ name: kerasName(name), units, useBias });
    const values = () => [this.param(`${name}/kernel`, [inFeatures, units]), ...(useBias ? [this.param(`${name}/bias`, [units])] : [])];
    this.pending.push({ layer, values });
    return layer.apply(x) as tf.SymbolicTensor;
  }

  conv2d(name: string, x: tf.SymbolicTensor, filters: number, kernelSize: number, strides: number): tf.SymbolicTensor {
    const inChannels = x.shape[3]!;
    this.expect(`${name}/kernel`, [kernelSize, kernelSize, inChannels, filters]);
    const layer = tf.layers.conv2d({ name: kerasName(name), filters, kernelSize, strides, padding: 'same', useBias: false });
    this.pending.push({ layer, values: () => [this.param(`${name}/kernel`, [kernelSize, kernelSize, inChannels, filters])] });
    return layer.apply(x) as tf.SymbolicTensor;
  }

  batchNorm(name: string, x: tf.SymbolicTensor): tf.SymbolicTensor {
    const c = x.shape[x.shape.length - 1]!;
    for (const p of ['gamma', 'beta', 'movingMean', 'movingVariance']) this.expect(`${name}/${p}`, [c]);
    const layer = tf.layers.batchNormalization({ name: kerasName(name), axis: -1, epsilon: BN_EPSILON });
    const values = () => ['gamma', 'beta', 'movingMean', 'movingVariance'].map((p) => this.param(`${name}/${p}`, [c]));
    this.pending.push({ layer, values });
    return layer.apply(x) as tf.SymbolicTensor;
  }

  relu(name: string, x: tf.SymbolicTensor): tf.SymbolicTensor {
    return tf.layers.activation({ name: kerasName(name), activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  }

  maxPool(name: string, x: tf.SymbolicTensor): tf.SymbolicTensor {
    return tf.layers.maxPooling2d({ name, poolSize: 2, strides: 2, padding: 'same' }).apply(x) as tf.SymbolicTensor;
  }

  flatten(name: string, x: tf.SymbolicTensor): tf.SymbolicTensor {
    return tf.layers.flatten({ name }).apply(x) as tf.SymbolicTensor;
  }

  /** Sets every layer's weights; a parameter the architecture does not use is an error too. */
  assignWeights(): void {
    for (const { layer, values } of this.pending) {
      const tensors = values();
      layer.setWeights(tensors);
      tf.dispose(tensors);
    }
    const unused = Object.keys(this.weights).filter((n) => !this.used.has(n));
    if (unused.length > 0) throw new MetaquantError(`parameters not used by the architecture: ${unused.join(', ')}`);
  }
}
