// Convolutions (forward and both gradients) and large matrix products of the wasm backend, run by
// onnxruntime's native CPU kernels (MLAS: AVX2/AVX-512, all cores) when onnxruntime-node loads.
// Each replacement keeps the kernel registered before it (our wasm kernels) as its fallback:
// for shapes or dtypes it does not handle, when ORT is missing, or with METAQUANT_NATIVE=0.
import { tf } from '../tf.js';
import {
  type KernelArgs,
  type TensorInfo,
  asWasm,
  overrideWasmKernel,
  convInfo,
  type ConvAttrs,
  type Shape4,
} from '../wasm/wasm-kernel-utils.js';
import { type GraphSpec, ortAvailable, ortKernel } from './ort.js';

/** Products smaller than this many multiply–adds stay on wasm: the native call costs ~20 µs. */
let MIN_NATIVE_MACS = 1 << 17;

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];
/** [KH,KW,Ci,Co] → ONNX's [Co,Ci,KH,KW]. */
const HWIO_TO_OIHW = [3, 2, 0, 1];

let enabled = true;

/** Turns the native kernels off (they fall back to wasm) or on again; for benchmarks and tests. */
export function setNativeKernels(on: boolean): void {
  enabled = on;
}

/** Tests lower the size threshold so that small, checkable cases take the native path. */
export function setNativeMinMacs(macs: number): void {
  MIN_NATIVE_MACS = macs;
}

export function nativeKernelsActive(): boolean {
  return enabled && process.env.METAQUANT_NATIVE !== '0' && ortAvailable();
}

/** Runs `graph` (cached under `key`) from the wasm heap into a new output tensor. */
function runNative(args: KernelArgs, key: string, graph: () => GraphSpec, inputs: Record<string, TensorInfo>, outShape: number[]): TensorInfo {
  const wasm = asWasm(args.backend);
  const kernel = ortKernel(key, graph);
  const out = wasm.makeOutput(outShape, 'float32');
  // Heap views only after makeOutput: allocating may grow (and detach) the heap.
  try {
    const views: Record<string, Float32Array> = {};
    for (const [name, info] of Object.entries(inputs)) views[name] = wasm.typedArrayFromHeap(info) as Float32Array;
    kernel.run(views, { y: wasm.typedArrayFromHeap(out) as Float32Array });
  } catch (err) {
    wasm.disposeData(out.dataId);
    throw err;
  }
  return out;
}

/** Keys that failed to compile: they stay on the fallback. */
const failed = new Set<string>();
let nativeRuns = 0;

/** How many kernel calls ran natively, and which op signatures fell back after failing (tests, diagnostics). */
export function nativeKernelStats(): { runs: number; failed: string[] } {
  return { runs: nativeRuns, failed: [...failed] };
}

function withFallback(original: tf.KernelConfig, attempt: (args: KernelArgs) => TensorInfo | null) {
  return (args: KernelArgs): TensorInfo => {
    if (nativeKernelsActive()) {
      const out = attempt(args);
      if (out) return out;
    }
    return original.kernelFunc(args) as TensorInfo;
  };
}

function tryNative(key: string, run: () => TensorInfo): TensorInfo | null {
  if (failed.has(key)) return null;
  try {
    const out = run();
    nativeRuns++;
    return out;
  } catch {
    failed.add(key);
    return null;
  }
}

const isFloat = (...infos: TensorInfo[]) => infos.every((i) => i.dtype === 'float32');

/** ONNX pads [top, left, bottom, right] from tfjs's pad info. */
function onnxPads(info: tf.backend_util.Conv2DInfo): number[] {
  const { top, left, bottom, right } = info.padInfo;
  return [top, left, bottom, right];
}

/**
 * The geometry of a convolution (or one of its gradients) that the native path takes: float32
 * operands, NHWC, and enough multiply–adds to pay for the call; null sends it to the wasm kernel.
 */
function nativeConvInfo(inShape: number[], filterShape: number[], attrs: ConvAttrs, ...operands: TensorInfo[]): tf.backend_util.Conv2DInfo | null {
  if (!isFloat(...operands)) return null;
  const info = convInfo(inShape, filterShape, attrs);
  if (info.dataFormat !== 'channelsLast') return null;
  const macs = info.batchSize * info.outHeight * info.outWidth * info.outChannels * info.filterHeight * info.filterWidth * info.inChannels;
  return macs < MIN_NATIVE_MACS ? null : info;
}

function conv2D(args: KernelArgs): TensorInfo | null {
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs;
  const info = nativeConvInfo(x.shape, filter.shape, attrs, x, filter);
  if (!info) return null;
  const key = `conv|${x.shape}|${filter.shape}|${info.strideHeight},${info.strideWidth}|${info.dilationHeight},${info.dilationWidth}|${onnxPads(info)}`;
  return tryNative(key, () =>
    runNative(
      args,
      key,
      () => ({
        inputs: { x: x.shape, w: filter.shape },
        outputs: { y: info.outShape },
        nodes: [
          { op: 'Transpose', inputs: ['x'], outputs: ['xn'], attrs: { perm: NHWC_TO_NCHW } },
          { op: 'Transpose', inputs: ['w'], outputs: ['wn'], attrs: { perm: HWIO_TO_OIHW } },
          {
            op: 'Conv',
            inputs: ['xn', 'wn'],
            outputs: ['yn'],
            attrs: { strides: [info.strideHeight, info.strideWidth], dilations: [info.dilationHeight, info.dilationWidth], pads: onnxPads(info) },
          },
          { op: 'Transpose', inputs: ['yn'], outputs: ['y'], attrs: { perm: NCHW_TO_NHWC } },
        ],
      }),
      { x, w: filter },
      info.outShape,
    ),
  );
}

/**
 * dx = ConvTranspose(dy, W) with the forward pads; output_padding restores the input rows a
 * strided forward convolution never reached (they get zero gradient).
 */
function conv2DBackpropInput(args: KernelArgs): TensorInfo | null {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs & { inputShape: Shape4 };
  const info = nativeConvInfo(attrs.inputShape, filter.shape, attrs, dy, filter);
  if (!info) return null;
  const { top, bottom, left, right } = info.padInfo;
  const outputPadding = [
    info.inHeight - (info.strideHeight * (info.outHeight - 1) + info.filterHeight - top - bottom),
    info.inWidth - (info.strideWidth * (info.outWidth - 1) + info.filterWidth - left - right),
  ];
  if (outputPadding.some((p) => p < 0)) return null;
  const key = `convT|${dy.shape}|${filter.shape}|${info.inShape}|${info.strideHeight},${info.strideWidth}|${onnxPads(info)}`;
  return tryNative(key, () =>
    runNative(
      args,
      key,
      () => ({
        inputs: { dy: dy.shape, w: filter.shape },
        outputs: { y: info.inShape },
        nodes: [
          { op: 'Transpose', inputs: ['dy'], outputs: ['dyn'], attrs: { perm: NHWC_TO_NCHW } },
          { op: 'Transpose', inputs: ['w'], outputs: ['wn'], attrs: { perm: HWIO_TO_OIHW } },
          {
            op: 'ConvTranspose',
            inputs: ['dyn', 'wn'],
            outputs: ['dxn'],
            attrs: { strides: [info.strideHeight, info.strideWidth], pads: onnxPads(info), output_padding: outputPadding },
          },
          { op: 'Transpose', inputs: ['dxn'], outputs: ['y'], attrs: { perm: NCHW_TO_NHWC } },
        ],
      }),
      { dy, w: filter },
      info.inShape,
    ),
  );
}

/**
 * dW[kh,kw,ci,co] = Σ_{n,oh,ow} xPadded[n, oh·s+kh, ow·s+kw, ci] · dy[n,oh,ow,co]: a convolution of
 * x as [Ci, N, H, W] (input channels as the batch) with dy as [Co, N, OH, OW] (the filter),
 * dilated by the stride, giving [Ci, Co, KH, KW]. Input rows/columns the forward never read are
 * cropped first (ONNX pads cannot be negative).
 */
function conv2DBackpropFilter(args: KernelArgs): TensorInfo | null {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs & { filterShape: Shape4 };
  const info = nativeConvInfo(x.shape, attrs.filterShape, attrs, x, dy);
  if (!info) return null;
  const { top, left } = info.padInfo;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  // Padding after x that makes the dilated dy filter produce exactly KH × KW outputs.
  let bottom = info.filterHeight + (info.outHeight - 1) * sh - info.inHeight - top;
  let right = info.filterWidth + (info.outWidth - 1) * sw - info.inWidth - left;
  const rows = info.inHeight + Math.min(0, bottom);
  const cols = info.inWidth + Math.min(0, right);
  bottom = Math.max(0, bottom);
  right = Math.max(0, right);
  if (rows <= 0 || cols <= 0) return null;
  const crop = rows < info.inHeight || cols < info.inWidth;
  const key = `convW|${x.shape}|${dy.shape}|${attrs.filterShape}|${sh},${sw}|${top},${left},${bottom},${right}|${rows},${cols}`;
  return tryNative(key, () =>
    runNative(
      args,
      key,
      () => ({
        inputs: { x: x.shape, dy: dy.shape },
        outputs: { y: attrs.filterShape },
        int64s: crop ? { starts: [0, 0], ends: [rows, cols], axes: [2, 3] } : {},
        nodes: [
          { op: 'Transpose', inputs: ['x'], outputs: [crop ? 'xt' : 'xc'], attrs: { perm: [3, 0, 1, 2] } },
          ...(crop ? [{ op: 'Slice', inputs: ['xt', 'starts', 'ends', 'axes'], outputs: ['xc'] }] : []),
          { op: 'Transpose', inputs: ['dy'], outputs: ['dyt'], attrs: { perm: [3, 0, 1, 2] } },
          { op: 'Conv', inputs: ['xc', 'dyt'], outputs: ['dw'], attrs: { dilations: [sh, sw], pads: [top, left, bottom, right] } },
          { op: 'Transpose', inputs: ['dw'], outputs: ['y'], attrs: { perm: [2, 3, 0, 1] } },
        ],
      }),
      { x, dy },
      attrs.filterShape,
    ),
  );
}

/** a [B?, M, K] · b [B?, K, N] (tfjs passes rank-3 tensors), transposes folded into ORT's GEMM. */
function batchMatMul(args: KernelArgs): TensorInfo | null {
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA?: boolean; transposeB?: boolean };
  if (!isFloat(a, b) || a.shape.length !== b.shape.length || a.shape.length < 2) return null;
  const rank = a.shape.length;
  const m = a.shape[transposeA ? rank - 1 : rank - 2]!;
  const k = a.shape[transposeA ? rank - 2 : rank - 1]!;
  const n = b.shape[transposeB ? rank - 2 : rank - 1]!;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batch = batchA.map((d, i) => Math.max(d, batchB[i]!));
  if (batchA.some((d, i) => d !== batchB[i] && d !== 1 && batchB[i] !== 1)) return null;
  if (batch.reduce((p, d) => p * d, 1) * m * n * k < MIN_NATIVE_MACS) return null;
  const swap = [...Array(rank).keys()];
  [swap[rank - 2], swap[rank - 1]] = [swap[rank - 1]!, swap[rank - 2]!];
  const outShape = [...batch, m, n];
  const key = `matmul|${a.shape}|${b.shape}|${transposeA ? 1 : 0}${transposeB ? 1 : 0}`;
  return tryNative(key, () =>
    runNative(
      args,
      key,
      () => ({
        inputs: { a: a.shape, b: b.shape },
        outputs: { y: outShape },
        nodes: [
          ...(transposeA ? [{ op: 'Transpose', inputs: ['a'], outputs: ['at'], attrs: { perm: swap } }] : []),
          ...(transposeB ? [{ op: 'Transpose', inputs: ['b'], outputs: ['bt'], attrs: { perm: swap } }] : []),
          { op: 'MatMul', inputs: [transposeA ? 'at' : 'a', transposeB ? 'bt' : 'b'], outputs: ['y'] },
        ],
      }),
      { a, b },
      outShape,
    ),
  );
}

let registered = false;

/**
 * Puts the native kernels in front of the wasm ones; a no-op (the wasm kernels stay) when
 * onnxruntime-node cannot be loaded. Call after registerWasmTrainingKernels' other kernels.
 */
export function registerNativeKernels(): boolean {
  if (registered) return true;
  if (!ortAvailable()) return false;
  registered = true;
  overrideWasmKernel('Conv2D', (original) => withFallback(original, conv2D));
  overrideWasmKernel('Conv2DBackpropInput', (original) => withFallback(original, conv2DBackpropInput));
  overrideWasmKernel('Conv2DBackpropFilter', (original) => withFallback(original, conv2DBackpropFilter));
  overrideWasmKernel('BatchMatMul', (original) => withFallback(original, batchMatMul));
  return true;
}
