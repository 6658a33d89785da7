// Plumbing shared by the wasm training kernels: calling the backend's own kernels from inside a
// kernel, freeing intermediates, and reading/writing tensor memory on the wasm heap.
import { tf } from '../tf.js';

export type TensorInfo = tf.TensorInfo;
export type TypedArray = Float32Array | Int32Array | Uint8Array;

/** The part of tfjs-backend-wasm's BackendWasm that our kernels use. */
export interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): TypedArray;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

/** What tfjs passes a kernelFunc. */
export type KernelArgs = Parameters<tf.KernelFunc>[0];
/** tfjs types a kernel's backend as `{}`; on wasm it is a BackendWasm (see asWasm). */
export type Backend = KernelArgs['backend'];

export const WASM = 'wasm';

export function asWasm(backend: Backend): WasmBackend {
  return backend as unknown as WasmBackend;
}

/** Runs the kernel currently registered on wasm under `name` (ours if we replaced it). */
export function runWasmKernel(
  name: string,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown>,
  backend: Backend,
): TensorInfo {
  const kernel = tf.getKernel(name, WASM);
  if (kernel == null) throw new Error(`wasm backend has no '${name}' kernel`);
  return kernel.kernelFunc({
    inputs,
    backend,
    attrs: attrs as tf.NamedAttrMap,
  }) as TensorInfo;
}

export function transpose(x: TensorInfo, perm: number[], backend: Backend): TensorInfo {
  return runWasmKernel('Transpose', { x }, { perm }, backend);
}

export function dispose(backend: Backend, ...infos: TensorInfo[]): void {
  for (const info of infos) asWasm(backend).disposeData(info.dataId);
}

/**
 * Replaces a registered wasm kernel, handing the original to `makeKernel` so the replacement
 * can fall back on it. The original's setupFunc is kept: it binds the C++ entry point that the
 * original kernelFunc calls, and tfjs only runs setupFuncs of kernels that are registered.
 */
export function overrideWasmKernel(
  name: string,
  makeKernel: (original: tf.KernelConfig) => tf.KernelFunc,
): void {
  const original = tf.getKernel(name, WASM);
  if (original == null) throw new Error(`wasm backend has no '${name}' kernel to replace`);
  tf.unregisterKernel(name, WASM);
  tf.registerKernel({
    kernelName: name,
    backendName: WASM,
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc: makeKernel(original),
  });
}

/** Registers a kernel wasm lacks (replacing any earlier registration of ours). */
export function addWasmKernel(name: string, kernelFunc: tf.KernelFunc): void {
  if (tf.getKernel(name, WASM) != null) tf.unregisterKernel(name, WASM);
  tf.registerKernel({ kernelName: name, backendName: WASM, kernelFunc });
}

/**
 * NHWC `x` with `pad` = [top, bottom, left, right] zero rows/columns added (negative: cropped),
 * as a new tensor. Rows are copied whole: wasm's Slice takes ~7 ms to crop 0.5 M floats.
 */
export function padSpatial(
  x: TensorInfo,
  pad: [number, number, number, number],
  backend: Backend,
): TensorInfo {
  const [batch, height, width, channels] = x.shape;
  const [top, bottom, left, right] = pad;
  const outHeight = height + top + bottom;
  const outWidth = width + left + right;
  const wasm = asWasm(backend);
  const out = wasm.makeOutput([batch, outHeight, outWidth, channels], x.dtype);
  // Views are taken after makeOutput: a heap grow during allocation detaches older views.
  const dst = wasm.typedArrayFromHeap(out);
  const src = wasm.typedArrayFromHeap(x);
  if (Math.max(top, bottom, left, right) > 0) dst.fill(0);
  // The columns of x that land inside the output.
  const firstCol = Math.max(0, -left);
  const endCol = Math.min(width, outWidth - left);
  if (endCol <= firstCol) return out;
  for (let n = 0; n < batch; n++) {
    for (let h = Math.max(0, -top); h < Math.min(height, outHeight - top); h++) {
      const from = ((n * height + h) * width + firstCol) * channels;
      const to = ((n * outHeight + h + top) * outWidth + firstCol + left) * channels;
      dst.set(src.subarray(from, from + (endCol - firstCol) * channels), to);
    }
  }
  return out;
}

export type Shape4 = [number, number, number, number];
export type Padding = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

/** The attributes of Conv2D and its two gradient kernels (the gradients have no dilations). */
export interface ConvAttrs {
  strides: number | [number, number];
  pad: Padding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** tfjs's convolution geometry for a kernel's input and filter shapes. */
export function convInfo(inShape: number[], filterShape: number[], attrs: ConvAttrs, depthwise = false): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inShape as Shape4,
    filterShape as Shape4,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
}
