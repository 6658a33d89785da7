import { tf, type Tensor, type Variable } from '../engine/tf.js';
import type { Rng } from '../util/rng.js';
import type { ActivationQuantizer } from '../quantizers/activation-types.js';
import { actScalarName } from '../quantizers/learned-scalars.js';
import { ParamStore, filled, heUniform } from './params.js';
import {
  BN_EPSILON,
  paramName,
  convHasBias,
  convPadding,
  convStride,
  denseHasBias,
  type ArchitectureOps,
  type ConvOptions,
  type DenseOptions,
  type Padding,
} from './ops.js';

/**
 * How a layer obtains the tensors it computes with. The STE trainer passes Q(A(W)) with a
 * custom gradient, the MetaQuant trainer its look-ahead weight, evaluation the plain quantized
 * weight; the model code is the same in every case.
 */
export interface WeightHooks {
  kernel(name: string, w: Variable): Tensor;
  bias(name: string, b: Variable): Tensor;
}

export const identityHooks: WeightHooks = {
  kernel: (_n, w) => w,
  bias: (_n, b) => b,
};

/** Which layers quantize their input, and with what (QuantizedModel decides; see activationLayers in trace.ts). */
export interface ActivationPlan {
  quantizer: ActivationQuantizer;
  layers: ReadonlySet<string>;
}

/** PyTorch's convention: running = (1 − m)·running + m·batch, with the unbiased batch variance. */
export const BN_MOMENTUM = 0.1;

/**
 * The operations architectures are written with, computing on tfjs tensors. The first call of a
 * layer creates its parameters (Keras-style build on first use), so each architecture is written
 * once, as its forward pass.
 */
export class LayerOps implements ArchitectureOps<Tensor> {
  constructor(
    private readonly params: ParamStore,
    private readonly hooks: WeightHooks,
    readonly training: boolean,
    private readonly initRng: Rng | null,
    /** Training-mode batch norm updates its running statistics unless this is false (probes, gradient checks). */
    private readonly updateStatistics = true,
    /** Activation quantization of the quantized layers' inputs (null: inputs stay float). */
    private readonly activation: ActivationPlan | null = null,
  ) {}

  /** The layer's input, quantized when the plan names the layer; PACT/LSQ read their learned scalar. */
  private quantizeInput(layer: string, x: Tensor): Tensor {
    const plan = this.activation;
    if (!plan || !plan.layers.has(layer)) return x;
    const learned = plan.quantizer.learned;
    if (!learned) return plan.quantizer.quantize(x);
    const scale = this.ensure(actScalarName(layer, learned.suffix), [1], 'act-scale', layer, () => filled(1, learned.initial));
    return plan.quantizer.quantize(x, scale);
  }

  private ensure(name: string, shape: number[], role: Parameters<ParamStore['add']>[0]['role'], layer: string, init: () => Float32Array, trainable = true): Variable {
    if (this.params.has(name)) return this.params.get(name);
    if (!this.initRng) throw new Error(`parameter '${name}' does not exist and the model is already built`);
    this.params.reserve(name, shape.reduce((a, b) => a * b, 1));
    return this.params.add({ name, shape, role, trainable, layer }, init());
  }

  private kernel(layer: string, shape: number[], fanIn: number): Tensor {
    const name = paramName.kernel(layer);
    const count = shape.reduce((a, b) => a * b, 1);
    const w = this.ensure(name, shape, 'kernel', layer, () => heUniform(this.initRng!, count, fanIn));
    return this.hooks.kernel(name, w);
  }

  private bias(layer: string, units: number): Tensor {
    const name = paramName.bias(layer);
    const b = this.ensure(name, [units], 'bias', layer, () => filled(units, 0));
    return this.hooks.bias(name, b);
  }

  /** x: [N, inFeatures] → [N, units]. */
  dense(layer: string, input: Tensor, units: number, opts: DenseOptions = {}): Tensor {
    const x = this.quantizeInput(layer, input);
    const inFeatures = x.shape[1]!;
    const w = this.kernel(layer, [inFeatures, units], inFeatures);
    const y = tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D);
    return denseHasBias(opts) ? tf.add(y, this.bias(layer, units)) : y;
  }

  /** x: NHWC → NHWC, kernel [k, k, in, filters]. */
  conv2d(layer: string, input: Tensor, filters: number, kernelSize: number, opts: ConvOptions = {}): Tensor {
    const x = this.quantizeInput(layer, input);
    const inChannels = x.shape[3]!;
    const w = this.kernel(layer, [kernelSize, kernelSize, inChannels, filters], kernelSize * kernelSize * inChannels);
    const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, convStride(opts), convPadding(opts));
    return convHasBias(opts) ? tf.add(y, this.bias(layer, filters)) : y;
  }

  /**
   * Batch norm over every axis but the last, written with plain ops (their gradients are
   * reductions, which the wasm backend runs fast). Training updates the running statistics.
   */
  batchNorm(layer: string, x: Tensor): Tensor {
    const c = x.shape[x.rank - 1]!;
    const gamma = this.ensure(paramName.gamma(layer), [c], 'bn-gamma', layer, () => filled(c, 1));
    const beta = this.ensure(paramName.beta(layer), [c], 'bn-beta', layer, () => filled(c, 0));
    const runMean = this.ensure(paramName.movingMean(layer), [c], 'bn-mean', layer, () => filled(c, 0), false);
    const runVar = this.ensure(paramName.movingVariance(layer), [c], 'bn-var', layer, () => filled(c, 1), false);
    const axes = [...Array(x.rank - 1).keys()];
    if (!this.training) {
      const scale = tf.mul(gamma, tf.rsqrt(tf.add(runVar, BN_EPSILON)));
      return tf.add(tf.mul(tf.sub(x, runMean), scale), beta);
    }
    const { mean, variance } = tf.moments(x, axes);
    const n = x.size / c;
    if (this.updateStatistics) tf.tidy(() => {
      const unbiased = tf.mul(variance, n / Math.max(n - 1, 1));
      runMean.assign(tf.add(tf.mul(runMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
      runVar.assign(tf.add(tf.mul(runVar, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM)));
    });
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, BN_EPSILON)));
    return tf.add(tf.mul(tf.sub(x, mean), scale), beta);
  }

  // Parameter-free operations go through the ops too, so that the tracer (models/trace.ts)
  // sees the whole graph that export and summary describe.

  relu(x: Tensor): Tensor {
    return tf.relu(x);
  }

  /** NHWC max pooling with a square window. */
  maxPool(x: Tensor, size: number, stride: number, padding: Padding): Tensor {
    return tf.maxPool(x as tf.Tensor4D, size, stride, padding);
  }

  /** [N, ...] → [N, product], in row-major (NHWC) order. */
  flatten(x: Tensor): Tensor {
    return tf.reshape(x, [x.shape[0]!, -1]);
  }

  /** Elementwise sum of two equally shaped tensors (residual shortcuts). */
  add(a: Tensor, b: Tensor): Tensor {
    return tf.add(a, b);
  }

  /** NHWC → [N, C]: the mean over height and width. */
  globalAvgPool(x: Tensor): Tensor {
    return tf.mean(x, [1, 2]);
  }
}
