// Both convolution gradients, rewritten as forward Conv2D calls so they run on the wasm backend's
// XNNPACK convolution (the fastest kernel it has) instead of a missing or naive-loop kernel.
import { tf } from '../tf.js';
import {
  type Backend,
  type KernelArgs,
  type TensorInfo,
  addWasmKernel,
  asWasm,
  dispose,
  overrideWasmKernel,
  padSpatial,
  runWasmKernel,
  transpose,
  convInfo,
  type ConvAttrs,
  type Shape4,
} from './wasm-kernel-utils.js';

function conv2d(
  x: TensorInfo,
  filter: TensorInfo,
  dilations: [number, number],
  pad: [number, number, number, number],
  backend: Backend,
): TensorInfo {
  const [top, bottom, left, right] = pad;
  return runWasmKernel(
    'Conv2D',
    { x, filter },
    {
      strides: [1, 1],
      pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
      dataFormat: 'NHWC',
      dilations,
      dimRoundingMode: undefined,
    },
    backend,
  );
}

function zeros(shape: number[], backend: Backend): TensorInfo {
  const out = asWasm(backend).makeOutput(shape, 'float32');
  asWasm(backend).typedArrayFromHeap(out).fill(0);
  return out;
}

/** The filter taps kh = phase + j·stride (j < taps) along one axis. */
interface TapPhase {
  phase: number;
  taps: number;
}

/**
 * Taps `rows` × `cols` of the [KH,KW,Ci,Co] filter, turned by 180° in space and with in/out
 * channels swapped ([taps_h, taps_w, Co, Ci]): the filter of a transposed convolution. A JS
 * loop, as filters are small and wasm's Reverse takes ~3 ms on a 3×3×64×64 one.
 */
function rotatedTaps(
  filter: TensorInfo,
  rows: TapPhase,
  cols: TapPhase,
  strides: [number, number],
  backend: Backend,
): TensorInfo {
  const [, kw, ci, co] = filter.shape;
  const wasm = asWasm(backend);
  const out = wasm.makeOutput([rows.taps, cols.taps, co, ci], filter.dtype);
  const dst = wasm.typedArrayFromHeap(out);
  const src = wasm.typedArrayFromHeap(filter);
  for (let j = 0; j < rows.taps; j++) {
    const h = rows.phase + (rows.taps - 1 - j) * strides[0];
    for (let k = 0; k < cols.taps; k++) {
      const w = cols.phase + (cols.taps - 1 - k) * strides[1];
      const srcTap = (h * kw + w) * ci * co;
      const dstTap = (j * cols.taps + k) * co * ci;
      for (let i = 0; i < ci; i++) {
        for (let o = 0; o < co; o++) dst[dstTap + o * ci + i] = src[srcTap + i * co + o];
      }
    }
  }
  return out;
}

/**
 * [N,H,W,C] → [C,H,W,N]. wasm's Transpose handles this 4-D permutation badly (72 ms for a
 * 128×32×32×16 activation); a 2-D transpose to [H,W,C,N] and a block move of N-runs take 11 ms.
 */
function swapBatchAndChannels(x: TensorInfo, backend: Backend): TensorInfo {
  const [batch, height, width, channels] = x.shape;
  const pixels = height * width;
  const flat: TensorInfo = { dataId: x.dataId, shape: [batch, pixels * channels], dtype: x.dtype };
  const batchInnermost = transpose(flat, [1, 0], backend);
  batchInnermost.shape = [pixels, channels, batch];
  const out = transpose(batchInnermost, [1, 0, 2], backend);
  dispose(backend, batchInnermost);
  out.shape = [channels, height, width, batch];
  return out;
}

/**
 * dW[kh,kw,ci,co] = Σ_{n,oh,ow} xPadded[n, oh·sh+kh, ow·sw+kw, ci] · dy[n,oh,ow,co].
 * Read with input channels as the batch and the batch as channels, that is a convolution of
 * x → [Ci,H,W,N] with dy → [OH,OW,N,Co] as the filter, dilated by the stride.
 */
function conv2DBackpropFilter(original: tf.KernelConfig | undefined) {
  return (args: KernelArgs): TensorInfo => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as ConvAttrs & { filterShape: Shape4 };
    const { backend } = args;
    const info = convInfo(x.shape, attrs.filterShape, attrs);
    if (info.dataFormat !== 'channelsLast' || x.dtype !== 'float32') {
      if (original) return original.kernelFunc(args) as TensorInfo;
      throw new Error('wasm Conv2DBackpropFilter supports float32 NHWC only');
    }
    const { inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth, padInfo } = info;
    // Padded extent the filter actually sweeps; anything past it never meets a dy element.
    const usedRows = (outHeight - 1) * strideHeight + info.filterHeight;
    const usedCols = (outWidth - 1) * strideWidth + info.filterWidth;
    const rowsOfX = Math.min(inHeight, usedRows - padInfo.top);
    const colsOfX = Math.min(inWidth, usedCols - padInfo.left);
    if (rowsOfX <= 0 || colsOfX <= 0) return zeros(attrs.filterShape, backend);

    const xUsed =
      rowsOfX < inHeight || colsOfX < inWidth
        ? padSpatial(x, [0, rowsOfX - inHeight, 0, colsOfX - inWidth], backend)
        : x;
    const xChannelsAsBatch = swapBatchAndChannels(xUsed, backend);
    if (xUsed !== x) dispose(backend, xUsed);
    const dyAsFilter = transpose(dy, [1, 2, 0, 3], backend);
    const perInputChannel = conv2d(
      xChannelsAsBatch,
      dyAsFilter,
      [strideHeight, strideWidth],
      [
        padInfo.top,
        usedRows - padInfo.top - rowsOfX,
        padInfo.left,
        usedCols - padInfo.left - colsOfX,
      ],
      backend,
    );
    dispose(backend, xChannelsAsBatch, dyAsFilter);
    // [Ci,KH,KW,Co] → [KH,KW,Ci,Co]
    const dw = transpose(perInputChannel, [1, 2, 0, 3], backend);
    dispose(backend, perInputChannel);
    return dw;
  };
}

/** Convolves with stride 1, padding (pads ≥ 0, free in Conv2D) or cropping (pads < 0, a copy). */
function paddedConv2d(
  x: TensorInfo,
  filter: TensorInfo,
  pad: [number, number, number, number],
  backend: Backend,
): TensorInfo {
  if (Math.min(...pad) >= 0) return conv2d(x, filter, [1, 1], pad, backend);
  const cropped = padSpatial(x, pad, backend);
  const out = conv2d(cropped, filter, [1, 1], [0, 0, 0, 0], backend);
  dispose(backend, cropped);
  return out;
}

/**
 * One phase of a strided transposed convolution along one axis: the dx positions
 * i = (first + p)·stride + phase − forwardPad (p < count) meet only the taps ≡ phase (mod stride)
 * and read dy[first + p − taps + 1 … first + p].
 */
interface AxisPhase extends TapPhase {
  first: number;
  count: number;
  /** dy padding (negative: cropping) that makes the phase a stride-1 "valid" convolution. */
  padBefore: number;
  padAfter: number;
}

function axisPhase(
  phase: number,
  filterSize: number,
  stride: number,
  convPadBefore: number,
  inSize: number,
  outSize: number,
): AxisPhase | null {
  const taps = phase < filterSize ? Math.ceil((filterSize - phase) / stride) : 0;
  const first = Math.ceil((convPadBefore - phase) / stride);
  const last = Math.floor((inSize - 1 + convPadBefore - phase) / stride);
  if (taps === 0 || last < first) return null;
  return {
    phase,
    taps,
    first,
    count: last - first + 1,
    padBefore: taps - 1 - first,
    padAfter: last - (outSize - 1),
  };
}

/** Writes y [N, rows.count, cols.count, C] into the dx positions of its phase. */
function scatterPhase(
  y: TensorInfo,
  dx: TensorInfo,
  rows: AxisPhase,
  cols: AxisPhase,
  info: tf.backend_util.Conv2DInfo,
  backend: Backend,
): void {
  const wasm = asWasm(backend);
  const src = wasm.typedArrayFromHeap(y);
  const dst = wasm.typedArrayFromHeap(dx);
  const { batchSize, inHeight, inWidth, inChannels: channels, padInfo } = info;
  const { strideHeight, strideWidth } = info;
  let at = 0;
  for (let n = 0; n < batchSize; n++) {
    for (let p = 0; p < rows.count; p++) {
      const row = (rows.first + p) * strideHeight + rows.phase - padInfo.top;
      const rowBase = (n * inHeight + row) * inWidth;
      for (let q = 0; q < cols.count; q++, at += channels) {
        const col = (cols.first + q) * strideWidth + cols.phase - padInfo.left;
        const to = (rowBase + col) * channels;
        for (let c = 0; c < channels; c++) dst[to + c] = src[at + c];
      }
    }
  }
}

/**
 * dx is the "full" correlation of dy with the filter turned by 180° and in/out channels
 * swapped: dx[ih] = Σ_{kh, oh: oh·s + kh − top = ih} dy[oh] · W[kh]. With stride 1 that is one
 * Conv2D. With stride s, dx position i only meets the taps kh ≡ i + top (mod s), so dx splits
 * into s² interleaved phases, each a stride-1 Conv2D of the undilated dy with a sub-filter:
 * the forward pass's FLOPs, where zero-dilating dy would cost s² times as many.
 */
function conv2DBackpropInput(original: tf.KernelConfig) {
  return (args: KernelArgs): TensorInfo => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as ConvAttrs & { inputShape: Shape4 };
    const { backend } = args;
    const info = convInfo(attrs.inputShape, filter.shape, attrs);
    if (info.dataFormat !== 'channelsLast' || dy.dtype !== 'float32') {
      return original.kernelFunc(args) as TensorInfo;
    }
    const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
    const strides: [number, number] = [strideHeight, strideWidth];

    if (strideHeight === 1 && strideWidth === 1) {
      const whole = (size: number): TapPhase => ({ phase: 0, taps: size });
      const rotated = rotatedTaps(
        filter,
        whole(filterHeight),
        whole(filterWidth),
        strides,
        backend,
      );
      const dx = paddedConv2d(
        dy,
        rotated,
        [
          filterHeight - 1 - padInfo.top,
          info.inHeight + padInfo.top - info.outHeight,
          filterWidth - 1 - padInfo.left,
          info.inWidth + padInfo.left - info.outWidth,
        ],
        backend,
      );
      dispose(backend, rotated);
      return dx;
    }

    const dx = asWasm(backend).makeOutput(info.inShape, 'float32');
    asWasm(backend).typedArrayFromHeap(dx).fill(0); // positions no tap reaches stay 0
    for (let rowPhase = 0; rowPhase < strideHeight; rowPhase++) {
      const { inHeight, outHeight, inWidth, outWidth } = info;
      const rows = axisPhase(rowPhase, filterHeight, strideHeight, padInfo.top, inHeight, outHeight);
      if (rows == null) continue;
      for (let colPhase = 0; colPhase < strideWidth; colPhase++) {
        const cols = axisPhase(colPhase, filterWidth, strideWidth, padInfo.left, inWidth, outWidth);
        if (cols == null) continue;
        const taps = rotatedTaps(filter, rows, cols, strides, backend);
        const pad: [number, number, number, number] = [
          rows.padBefore,
          rows.padAfter,
          cols.padBefore,
          cols.padAfter,
        ];
        const y = paddedConv2d(dy, taps, pad, backend);
        scatterPhase(y, dx, rows, cols, info, backend);
        dispose(backend, taps, y);
      }
    }
    return dx;
  };
}

export function registerConv2DBackpropKernels(): void {
  // tfjs 4.22's wasm backend has no Conv2DBackpropFilter; should a later one add it, ours still
  // wins (it is built on the faster forward convolution) but theirs stays as the fallback.
  const stockFilter = tf.getKernel('Conv2DBackpropFilter', 'wasm');
  if (stockFilter != null) {
    overrideWasmKernel('Conv2DBackpropFilter', (original) => conv2DBackpropFilter(original));
  } else {
    addWasmKernel('Conv2DBackpropFilter', conv2DBackpropFilter(undefined));
  }
  overrideWasmKernel('Conv2DBackpropInput', (original) => conv2DBackpropInput(original));
}
