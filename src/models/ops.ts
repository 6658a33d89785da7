// The vocabulary architectures are written in, and the facts about each operation that every
// implementation shares: parameter names, bias defaults, batch-norm epsilon, output shapes.
// Implemented by LayerOps (computes with tfjs tensors) and by the tracer (models/trace.ts, records
// the graph that summary and the tfjs/ONNX exports are generated from). Browser-safe: no imports.

/** What flows between operations: a tensor when computing, a shape when tracing. Shapes include the batch axis. */
export interface Value {
  readonly shape: readonly number[];
}

export type Padding = 'same' | 'valid';

export interface DenseOptions {
  /** Default true (dense layers before batch norm pass false). */
  bias?: boolean;
}

export interface ConvOptions {
  stride?: number;
  padding?: Padding;
  /** Default false (convolutions are followed by batch norm). */
  bias?: boolean;
}

/** The operations an architecture's forward pass may use; each named layer owns its parameters. */
export interface ArchitectureOps<T extends Value> {
  /** x: [N, inFeatures] → [N, units]; kernel [inFeatures, units]. */
  dense(layer: string, x: T, units: number, opts?: DenseOptions): T;
  /** x: NHWC → NHWC; kernel [k, k, inChannels, filters]. */
  conv2d(layer: string, x: T, filters: number, kernelSize: number, opts?: ConvOptions): T;
  /** Over every axis but the last; inference uses the running statistics. */
  batchNorm(layer: string, x: T): T;
  relu(x: T): T;
  /** NHWC max pooling with a square window. */
  maxPool(x: T, size: number, stride: number, padding: Padding): T;
  /** [N, ...] → [N, product], in row-major (NHWC) order. */
  flatten(x: T): T;
  /** Elementwise sum of two equally shaped values (residual shortcuts). */
  add(a: T, b: T): T;
  /** NHWC → [N, C]: the mean over height and width. */
  globalAvgPool(x: T): T;
}

export const BN_EPSILON = 1e-5;

/** Parameter names of a layer (the checkpoint keys), e.g. 'conv1/kernel'. */
export const paramName = {
  kernel: (layer: string) => `${layer}/kernel`,
  bias: (layer: string) => `${layer}/bias`,
  gamma: (layer: string) => `${layer}/gamma`,
  beta: (layer: string) => `${layer}/beta`,
  movingMean: (layer: string) => `${layer}/movingMean`,
  movingVariance: (layer: string) => `${layer}/movingVariance`,
};

export const denseHasBias = (opts: DenseOptions = {}): boolean => opts.bias !== false;
export const convHasBias = (opts: ConvOptions = {}): boolean => opts.bias === true;
export const convStride = (opts: ConvOptions = {}): number => opts.stride ?? 1;
export const convPadding = (opts: ConvOptions = {}): Padding => opts.padding ?? 'same';

/** TensorFlow's output size along one axis of a convolution or pooling window. */
export function windowOutputSize(inSize: number, window: number, stride: number, padding: Padding): number {
  return padding === 'same' ? Math.ceil(inSize / stride) : Math.floor((inSize - window) / stride) + 1;
}

/**
 * TensorFlow's padding as [before, after] along one axis: 'same' gives ceil(in/stride) outputs
 * and puts the odd pixel at the end.
 */
export function windowPads(inSize: number, window: number, stride: number, padding: Padding): [number, number] {
  if (padding === 'valid') return [0, 0];
  const total = Math.max((windowOutputSize(inSize, window, stride, padding) - 1) * stride + window - inSize, 0);
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}
