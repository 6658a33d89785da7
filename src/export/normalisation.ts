import { loadDataset } from '../data/index.js';
import type { TrainConfig } from '../config/schema.js';

/**
 * The per-channel input normalisation a model was trained with: x = (pixel/255 − mean)/std.
 * Exports put it inside the model so that it takes raw pixel values (0–255).
 */
export interface InputNormalisation {
  /** Per-channel mean of the training images, in [0, 1] units. */
  mean: number[];
  /** Per-channel (population) standard deviation, in [0, 1] units. */
  std: number[];
}

/** Per-channel affine map on raw pixels: normalised = pixel·scale + offset. */
export function pixelAffine(n: InputNormalisation): { scale: Float32Array; offset: Float32Array } {
  return {
    scale: Float32Array.from(n.std, (s) => 1 / (255 * s)),
    offset: Float32Array.from(n.mean, (m, c) => -m / n.std[c]! + 0),
  };
}
