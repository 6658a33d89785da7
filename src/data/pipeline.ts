// Turning a loaded Dataset into normalised, optionally augmented NHWC mini-batches.
// Everything here is plain typed-array loops: a 128×32×32×3 batch takes about a millisecond.
import type { Batch, DataSplit, Dataset } from './types.js';
import type { Rng } from '../util/rng.js';
import { UsageError } from '../util/errors.js';

/** Zero padding (in pixels) on each side before the random crop, as in the usual CIFAR recipe. */
export const AUGMENT_PADDING = 4;

/** Per-channel mean and standard deviation of HWC images (population std, [0,1] units). */
export function channelStats(images: Float32Array, channels: number): { mean: number[]; std: number[] } {
  const sums = new Float64Array(channels);
  const squares = new Float64Array(channels);
  const n = images.length;
  for (let i = 0; i < n; i += channels) {
    for (let c = 0; c < channels; c++) {
      const v = images[i + c]!;
      sums[c] += v;
      squares[c] += v * v;
    }
  }
  const perChannel = n / channels;
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    const m = perChannel > 0 ? sums[c]! / perChannel : 0;
    const variance = perChannel > 0 ? Math.max(0, squares[c]! / perChannel - m * m) : 0;
    const s = Math.sqrt(variance);
    mean.push(m);
    // A constant channel would divide by zero; leaving it unscaled is harmless.
    std.push(s > 1e-8 ? s : 1);
  }
  return { mean, std };
}

/** Everything a Dataset holds except what is derived from it. */
export type DatasetParts = Omit<Dataset, 'mean' | 'std'>;

/** Completes a Dataset by computing the normalisation statistics from its training images. */
export function createDataset(parts: DatasetParts): Dataset {
  const { mean, std } = channelStats(parts.train.images, parts.channels);
  return { ...parts, mean, std };
}

/** The first `limit` examples of a split (all of them when limit is undefined or larger). */
export function takeFirst(split: DataSplit, pixelsPerImage: number, limit: number | undefined): DataSplit {
  if (limit === undefined || limit >= split.count) return split;
  // slice, not subarray, so the rest of a large split can be garbage-collected.
  return {
    images: split.images.slice(0, limit * pixelsPerImage),
    labels: split.labels.slice(0, limit),
    count: limit,
  };
}

/** A seeded permutation of 0..count-1: the visiting order of one epoch. */
export function epochOrder(count: number, rng: Rng): Int32Array {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  rng.shuffle(order);
  return order;
}

export interface MakeBatchOptions {
  /** Random pad-and-crop plus horizontal flip per image; needs `rng`. */
  augment?: boolean;
  rng?: Rng;
}

function resolveSplit(ds: Dataset, split: DataSplit | 'train' | 'test'): DataSplit {
  return split === 'train' ? ds.train : split === 'test' ? ds.test : split;
}

/**
 * Gathers the given examples into one normalised NHWC batch. With `augment`, each image is
 * zero-padded by AUGMENT_PADDING (zero in raw [0,1] units, i.e. black, as torchvision does
 * before Normalize), randomly cropped back to H×W and flipped left-right with probability ½;
 * the random draws per image are, in order: row offset, column offset, flip.
 */
export function makeBatch(
  ds: Dataset,
  split: DataSplit | 'train' | 'test',
  indices: ArrayLike<number>,
  options: MakeBatchOptions = {},
): Batch {
  const source = resolveSplit(ds, split);
  const { height, width, channels } = ds;
  const pixels = height * width * channels;
  const size = indices.length;
  const images = new Float32Array(size * pixels);
  const labels = new Int32Array(size);
  const scale = new Float64Array(channels);
  const offset = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = 1 / ds.std[c]!;
    // `+ 0` turns −0 into 0 so padding of a zero-mean channel is a clean zero.
    offset[c] = -ds.mean[c]! * scale[c]! + 0;
  }
  const rng = options.rng;
  if (options.augment && !rng) throw new UsageError('makeBatch: augment needs an rng');

  for (let b = 0; b < size; b++) {
    const index = indices[b]!;
    if (!Number.isInteger(index) || index < 0 || index >= source.count) {
      throw new RangeError(`makeBatch: example index ${index} outside 0..${source.count - 1}`);
    }
    labels[b] = source.labels[index]!;
    const from = index * pixels;
    const to = b * pixels;
    if (options.augment) {
      const span = 2 * AUGMENT_PADDING + 1;
      const shiftY = rng!.int(span) - AUGMENT_PADDING;
      const shiftX = rng!.int(span) - AUGMENT_PADDING;
      const flip = rng!.next() < 0.5;
      writeShifted(source.images, from, images, to, height, width, channels, shiftY, shiftX, flip, scale, offset);
    } else {
      normaliseRun(source.images, from, channels, images, to, height * width, channels, scale, offset);
    }
  }
  return { images, labels, size };
}

/**
 * Writes `count` normalised pixels to dst (consecutive) from src pixels `srcStep` values
 * apart (−channels walks a row backwards, which is how the flip is done).
 */
function normaliseRun(
  src: Float32Array,
  srcStart: number,
  srcStep: number,
  dst: Float32Array,
  dstStart: number,
  count: number,
  channels: number,
  scale: Float64Array,
  offset: Float64Array,
): void {
  if (channels === 1) {
    const s = scale[0]!;
    const o = offset[0]!;
    for (let i = 0, j = srcStart; i < count; i++, j += srcStep) dst[dstStart + i] = src[j]! * s + o;
  } else if (channels === 3) {
    // Unrolled because RGB is the common multi-channel case and this loop dominates.
    const s0 = scale[0]!, s1 = scale[1]!, s2 = scale[2]!;
    const o0 = offset[0]!, o1 = offset[1]!, o2 = offset[2]!;
    for (let i = 0, d = dstStart, j = srcStart; i < count; i++, d += 3, j += srcStep) {
      dst[d] = src[j]! * s0 + o0;
      dst[d + 1] = src[j + 1]! * s1 + o1;
      dst[d + 2] = src[j + 2]! * s2 + o2;
    }
  } else {
    for (let i = 0, d = dstStart, j = srcStart; i < count; i++, d += channels, j += srcStep) {
      for (let c = 0; c < channels; c++) dst[d + c] = src[j + c]! * scale[c]! + offset[c]!;
    }
  }
}

/** Fills `count` pixels with the padding value (raw 0, normalised). */
function fillPadding(dst: Float32Array, dstStart: number, count: number, channels: number, offset: Float64Array): void {
  for (let i = 0, d = dstStart; i < count; i++, d += channels) {
    for (let c = 0; c < channels; c++) dst[d + c] = offset[c]!;
  }
}

/**
 * Writes one normalised image whose output pixel (y, x) comes from source pixel
 * (y + shiftY, x' + shiftX), x' = flip ? W−1−x : x; pixels falling outside are padding.
 */
function writeShifted(
  src: Float32Array,
  from: number,
  dst: Float32Array,
  to: number,
  height: number,
  width: number,
  channels: number,
  shiftY: number,
  shiftX: number,
  flip: boolean,
  scale: Float64Array,
  offset: Float64Array,
): void {
  const rowLength = width * channels;
  // Output columns whose source column lies inside the image.
  const firstX = Math.max(0, flip ? shiftX : -shiftX);
  const endX = Math.min(width, flip ? width + shiftX : width - shiftX);
  for (let y = 0; y < height; y++) {
    const sy = y + shiftY;
    const rowOut = to + y * rowLength;
    if (sy < 0 || sy >= height || endX <= firstX) {
      fillPadding(dst, rowOut, width, channels, offset);
      continue;
    }
    const rowIn = from + sy * rowLength;
    fillPadding(dst, rowOut, firstX, channels, offset);
    const firstSourceX = flip ? width - 1 - firstX + shiftX : firstX + shiftX;
    normaliseRun(
      src,
      rowIn + firstSourceX * channels,
      flip ? -channels : channels,
      dst,
      rowOut + firstX * channels,
      endX - firstX,
      channels,
      scale,
      offset,
    );
    fillPadding(dst, rowOut + endX * channels, width - endX, channels, offset);
  }
}

export interface EpochOptions {
  batchSize: number;
  /** Visit examples in a seeded random order (needs `rng`); otherwise in stored order. */
  shuffle?: boolean;
  augment?: boolean;
  rng?: Rng;
}

/** Number of batches one epoch yields (the last partial batch counts). */
export function batchCount(count: number, batchSize: number): number {
  return Math.ceil(count / batchSize);
}

/**
 * Yields one epoch of batches; the last partial batch is kept. The shuffle order is drawn
 * from `rng` before any augmentation draws, so a given rng state fixes the whole epoch.
 */
export function* batchesForEpoch(
  ds: Dataset,
  split: DataSplit | 'train' | 'test',
  options: EpochOptions,
): Generator<Batch, void, undefined> {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new UsageError(`batch size must be a positive integer, got ${batchSize}`);
  }
  if ((options.shuffle || options.augment) && !options.rng) {
    throw new UsageError('batchesForEpoch: shuffle and augment need an rng');
  }
  const source = resolveSplit(ds, split);
  let order: Int32Array;
  if (options.shuffle) {
    order = epochOrder(source.count, options.rng!);
  } else {
    order = new Int32Array(source.count);
    for (let i = 0; i < source.count; i++) order[i] = i;
  }
  for (let start = 0; start < source.count; start += batchSize) {
    const indices = order.subarray(start, Math.min(start + batchSize, source.count));
    yield makeBatch(ds, source, indices, { augment: options.augment, rng: options.rng });
  }
}
