// Holding out a validation set: a stratified, seeded part of the training split, so that model
// selection (best epoch, swept hyper-parameters) never reads the test set.
import type { DataSplit, Dataset } from './types.js';
import { Rng } from '../util/rng.js';
import { UsageError } from '../util/errors.js';
import { channelStats } from './pipeline.js';

/** The split seed when none is given: fixed, so every method and training seed of a grid sees the same split. */
export const DEFAULT_VAL_SEED = 0;

function gather(split: DataSplit, pixels: number, indices: number[]): DataSplit {
  const images = new Float32Array(indices.length * pixels);
  const labels = new Int32Array(indices.length);
  indices.forEach((from, to) => {
    images.set(split.images.subarray(from * pixels, (from + 1) * pixels), to * pixels);
    labels[to] = split.labels[from]!;
  });
  return { images, labels, count: indices.length };
}

/**
 * Which examples of `labels` go to validation: from each class, round(fraction × its count)
 * examples chosen by a shuffle seeded with `val-split:<seed>` (independent of the training seed).
 * Returned sorted; the rest, in their stored order, stay for training.
 */
export function stratifiedValidationIndices(labels: Int32Array, numClasses: number, fraction: number, seed: number): { train: number[]; val: number[] } {
  if (!(fraction > 0 && fraction < 1)) throw new UsageError(`valSplit must be a fraction between 0 and 1 (exclusive), got ${fraction}`);
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  labels.forEach((label, i) => {
    if (label < 0 || label >= numClasses) throw new RangeError(`label ${label} of example ${i} outside 0..${numClasses - 1}`);
    byClass[label]!.push(i);
  });
  const rng = new Rng(`val-split:${seed}`);
  const inVal = new Uint8Array(labels.length);
  for (const members of byClass) {
    const order = Int32Array.from(members);
    rng.shuffle(order);
    const take = Math.round(fraction * members.length);
    for (let k = 0; k < take; k++) inVal[order[k]!] = 1;
  }
  const train: number[] = [];
  const val: number[] = [];
  inVal.forEach((v, i) => (v ? val : train).push(i));
  if (val.length === 0 || train.length === 0) {
    throw new UsageError(`valSplit ${fraction} of ${labels.length} training examples leaves ${val.length} for validation and ${train.length} for training; both need at least one`);
  }
  return { train, val };
}

/**
 * The data set with `val` carved out of `train` (stratified, seeded); the normalisation is
 * recomputed from the remaining training images, so validation statistics do not leak into it.
 */
export function withValidationSplit(ds: Dataset, fraction: number, seed = DEFAULT_VAL_SEED): Dataset {
  const pixels = ds.height * ds.width * ds.channels;
  const { train, val } = stratifiedValidationIndices(ds.train.labels, ds.numClasses, fraction, seed);
  const trainSplit = gather(ds.train, pixels, train);
  return { ...ds, train: trainSplit, val: gather(ds.train, pixels, val), ...channelStats(trainSplit.images, ds.channels) };
}
