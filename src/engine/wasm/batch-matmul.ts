// wasm's matmul only takes its fast XNNPACK path for untransposed operands; with transposeA/B it
// falls back to a loop that is ~15× slower. An explicit Transpose first is far cheaper, and the
// matMul gradient always asks for one of the transposed forms.
import { tf } from '../tf.js';
import {
  type Backend,
  type KernelArgs,
  type TensorInfo,
  dispose,
  overrideWasmKernel,
  runWasmKernel,
  transpose,
} from './wasm-kernel-utils.js';

function swapLastTwo(rank: number): number[] {
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return perm;
}

function untransposed(original: tf.KernelConfig) {
  return (args: KernelArgs): TensorInfo => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean };
    if (!attrs.transposeA && !attrs.transposeB) return original.kernelFunc(args) as TensorInfo;
    const { backend } = args;
    const aReady = attrs.transposeA ? transpose(a, swapLastTwo(a.shape.length), backend) : a;
    const bReady = attrs.transposeB ? transpose(b, swapLastTwo(b.shape.length), backend) : b;
    const out = original.kernelFunc({
      ...args,
      inputs: { ...args.inputs, a: aReady, b: bReady },
      attrs: { ...args.attrs, transposeA: false, transposeB: false },
    }) as TensorInfo;
    if (aReady !== a) dispose(backend, aReady);
    if (bReady !== b) dispose(backend, bReady);
    return out;
  };
}

function batchSize(x: TensorInfo): number {
  return x.shape.slice(0, -2).reduce((a, b) => a * b, 1);
}

interface FusedAttrs {
  transposeA: boolean;
  transposeB: boolean;
  activation: string;
  leakyreluAlpha?: number;
}

function activate(
  x: TensorInfo,
  attrs: FusedAttrs,
  preluWeights: TensorInfo | undefined,
  backend: Backend,
): TensorInfo {
  switch (attrs.activation) {
    case 'linear':
      return x;
    case 'relu':
      return runWasmKernel('Relu', { x }, {}, backend);
    case 'relu6':
      return runWasmKernel('Relu6', { x }, {}, backend);
    case 'sigmoid':
      return runWasmKernel('Sigmoid', { x }, {}, backend);
    case 'elu':
      return runWasmKernel('Elu', { x }, {}, backend);
    case 'leakyrelu':
      return runWasmKernel('LeakyRelu', { x }, { alpha: attrs.leakyreluAlpha ?? 0.2 }, backend);
    case 'prelu':
      return runWasmKernel('Prelu', { x, alpha: preluWeights! }, {}, backend);
    default:
      throw new Error(`unsupported fused activation '${attrs.activation}'`);
  }
}

/**
 * tfjs-wasm 4.22's _FusedMatMul adds wrong bias values to every row but the first of each matrix
 * once there is a batch of several, so batched calls run as matmul, bias add and activation;
 * single matrices (tf.fused.matMul on 2-D tensors, as dense layers use it) stay fused.
 */
function fusedMatMul(original: tf.KernelConfig) {
  const fused = untransposed(original);
  return (args: KernelArgs): TensorInfo => {
    const inputs = args.inputs as Record<string, TensorInfo | undefined>;
    const { a, b, bias, preluActivationWeights } = inputs;
    if (Math.max(batchSize(a!), batchSize(b!)) === 1) return fused(args);
    const attrs = args.attrs as unknown as FusedAttrs;
    const { backend } = args;
    const product = runWasmKernel(
      'BatchMatMul',
      { a: a!, b: b! },
      { transposeA: attrs.transposeA, transposeB: attrs.transposeB },
      backend,
    );
    const biased =
      bias != null ? runWasmKernel('Add', { a: product, b: bias }, {}, backend) : product;
    if (biased !== product) dispose(backend, product);
    const out = activate(biased, attrs, preluActivationWeights, backend);
    if (out !== biased) dispose(backend, biased);
    return out;
  };
}

export function registerBatchMatMulKernels(): void {
  overrideWasmKernel('BatchMatMul', untransposed);
  // tf.fused.matMul (bias + activation) has the same slow transposed path.
  overrideWasmKernel('_FusedMatMul', fusedMatMul);
}
