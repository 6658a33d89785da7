// The input normalisation every export builds into its model. Browser-safe: no imports.

/** Input pixels are raw 0–255 values; the data pipeline divides by 255 before normalising. */
export const PIXEL_SCALE = 255;

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
    scale: Float32Array.from(n.std, (s) => 1 / (PIXEL_SCALE * s)),
    offset: Float32Array.from(n.mean, (m, c) => -m / n.std[c]! + 0),
  };
}
