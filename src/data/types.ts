/** One split of an image-classification data set, images stored HWC row-major as floats. */
export interface DataSplit {
  /** count × height × width × channels values, already scaled to [0, 1] (raw byte / 255). */
  images: Float32Array;
  /** count class indices in [0, numClasses). */
  labels: Int32Array;
  count: number;
}

export interface Dataset {
  /** e.g. 'mnist', 'fashion-mnist', 'idx:/path', 'cifar10'. */
  name: string;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  train: DataSplit;
  test: DataSplit;
  /** Held out of the training split for model selection (`--val-split`); absent without it. */
  val?: DataSplit;
  /** Per-channel mean and std of the training images (in [0,1] units), used for normalisation. */
  mean: number[];
  std: number[];
  /** Whether CIFAR-style augmentation (pad-4 random crop + horizontal flip) applies by default. */
  augmentByDefault: boolean;
}

/** One mini-batch ready for the model: images normalised, NHWC. */
export interface Batch {
  /** size × height × width × channels, normalised ((x − mean) / std). */
  images: Float32Array;
  labels: Int32Array;
  size: number;
}
