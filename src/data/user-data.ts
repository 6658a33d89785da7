// Training on the caller's own data (the library's `Trainer.create({ ..., data })`): TensorFlow.js
// tensors or tf.data datasets, checked and turned into the Dataset every other loader returns.
import { tf, type Tensor } from '../engine/tf.js';
import { UsageError } from '../util/errors.js';
import { createDataset, takeFirst } from './pipeline.js';
import type { DataSplit, Dataset } from './types.js';

/** The name a run trained on user data records as its `dataset`. */
export const USER_DATA_NAME = 'user-data';

/**
 * Images: `[N, H, W, C]` (NHWC, as TensorFlow.js), `[N, H, W]` (one channel) or flat `[N, D]`
 * (then `imageShape` gives H×W×C, else `[1, D, 1]`, enough for the MLP). Labels: class indices
 * `[N]` (int or integer-valued floats), not one-hot.
 */
export interface UserTensors {
  xTrain: Tensor;
  yTrain: Tensor;
  xTest: Tensor;
  yTest: Tensor;
}

/** tf.data datasets of `{xs, ys}` (or `[xs, ys]`) elements, one example each or batched. */
export interface UserDatasets {
  train: tf.data.Dataset<tf.TensorContainer>;
  test: tf.data.Dataset<tf.TensorContainer>;
}

export interface UserDataOptions {
  /** What the pixel values span: 1 for [0, 1] (the default), 255 for 0–255. */
  scale?: 1 | 255;
  /** Classes (default: the largest label + 1). */
  numClasses?: number;
  /** [H, W, C] of one image, for flat `[N, D]` images. */
  imageShape?: [number, number, number];
}

export type UserData = (UserTensors | UserDatasets) & UserDataOptions;

const isTensor = (v: unknown): v is Tensor => v instanceof tf.Tensor;
const shapeText = (t: Tensor) => `[${t.shape.join(', ')}]`;

/** Builds the Dataset of user data (the normalisation follows its training images, as for every data set). */
export async function datasetFromUserData(data: UserData, limits: { trainLimit?: number; testLimit?: number } = {}): Promise<Dataset> {
  if (typeof data !== 'object' || data === null) throw new UsageError('data: expected {xTrain, yTrain, xTest, yTest} tensors or {train, test} tf.data datasets');
  const scale = data.scale ?? 1;
  if (scale !== 1 && scale !== 255) throw new UsageError(`data.scale: expected 1 (pixels in [0, 1]) or 255 (pixels 0–255); got ${String(scale)}`);
  const tensors = 'train' in data || 'test' in data ? await tensorsFromDatasets(data as UserDatasets) : checkedTensors(data as UserTensors);
  try {
    const shape = imageShape(tensors.xTrain, data.imageShape, 'xTrain');
    const testShape = imageShape(tensors.xTest, data.imageShape, 'xTest');
    if (shape.join('x') !== testShape.join('x')) throw new UsageError(`data.xTest: images of ${testShape.join('×')} do not match data.xTrain's ${shape.join('×')}`);
    const pixels = shape[0] * shape[1] * shape[2];
    const trainLabels = labelsOf(tensors.yTrain, 'yTrain', tensors.xTrain.shape[0]!);
    const testLabels = labelsOf(tensors.yTest, 'yTest', tensors.xTest.shape[0]!);
    const maxLabel = Math.max(...trainLabels, ...testLabels);
    const numClasses = data.numClasses ?? maxLabel + 1;
    if (!Number.isInteger(numClasses) || numClasses < 2) throw new UsageError(`data.numClasses: expected an integer ≥ 2; got ${numClasses}`);
    if (maxLabel >= numClasses) throw new UsageError(`data: a label is ${maxLabel}, but numClasses is ${numClasses} (labels are class indices 0 … ${numClasses - 1})`);
    const split = (x: Tensor, labels: Int32Array, name: string, limit?: number): DataSplit =>
      takeFirst({ images: imagesOf(x, scale, name), labels, count: labels.length }, pixels, limit);
    return createDataset({
      name: USER_DATA_NAME,
      height: shape[0],
      width: shape[1],
      channels: shape[2],
      numClasses,
      train: split(tensors.xTrain, trainLabels, 'xTrain', limits.trainLimit),
      test: split(tensors.xTest, testLabels, 'xTest', limits.testLimit),
      augmentByDefault: false,
    });
  } finally {
    if (tensors.owned) tf.dispose([tensors.xTrain, tensors.yTrain, tensors.xTest, tensors.yTest]);
  }
}

function checkedTensors(data: UserTensors): UserTensors & { owned: boolean } {
  for (const key of ['xTrain', 'yTrain', 'xTest', 'yTest'] as const) {
    const v = (data as unknown as Record<string, unknown>)[key];
    if (!isTensor(v)) {
      const what = key.startsWith('x') ? 'images [N, H, W, C], [N, H, W] or [N, D]' : 'class indices [N]';
      throw new UsageError(`data.${key}: expected a tf.Tensor of ${what}; got ${v === undefined ? 'nothing' : Array.isArray(v) ? 'an array (wrap it: tf.tensor(...))' : typeof v}`);
    }
  }
  return { ...data, owned: false };
}

/** H, W, C of one image of `x` (rank 2 with imageShape or as [1, D, 1], 3, or 4). */
function imageShape(x: Tensor, given: UserDataOptions['imageShape'], name: string): [number, number, number] {
  const [n, ...rest] = x.shape;
  if (x.rank < 2 || x.rank > 4) throw new UsageError(`data.${name}: expected images [N, H, W, C], [N, H, W] or [N, D]; got shape ${shapeText(x)}`);
  if (!n) throw new UsageError(`data.${name}: no images (shape ${shapeText(x)})`);
  const own: [number, number, number] = x.rank === 4 ? (rest as [number, number, number]) : x.rank === 3 ? [rest[0]!, rest[1]!, 1] : [1, rest[0]!, 1];
  if (!given) return own;
  if (given.length !== 3 || !given.every((d) => Number.isInteger(d) && d > 0)) throw new UsageError(`data.imageShape: expected [H, W, C] of positive integers; got ${JSON.stringify(given)}`);
  const size = given[0] * given[1] * given[2];
  if (size !== own[0] * own[1] * own[2]) throw new UsageError(`data.imageShape: ${given.join('×')} = ${size} values per image, but data.${name} has ${own[0] * own[1] * own[2]} (shape ${shapeText(x)})`);
  return [...given];
}

function labelsOf(y: Tensor, name: string, count: number): Int32Array {
  if (y.rank === 2 && y.shape[1]! > 1) {
    throw new UsageError(`data.${name}: expected class indices [N]; got shape ${shapeText(y)}, which looks one-hot (use tf.argMax(${name}, 1))`);
  }
  if (!(y.rank === 1 || (y.rank === 2 && y.shape[1] === 1))) throw new UsageError(`data.${name}: expected class indices [N]; got shape ${shapeText(y)}`);
  if (y.shape[0] !== count) throw new UsageError(`data.${name}: ${y.shape[0]} labels for ${count} images in data.x${name.slice(1)}`);
  const values = y.dataSync();
  const labels = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (!Number.isInteger(v) || v < 0) throw new UsageError(`data.${name}[${i}] is ${v}: labels are class indices (integers ≥ 0)`);
    labels[i] = v;
  }
  return labels;
}

/** The images in [0, 1] as the pipeline stores them; values outside the declared scale are an error. */
function imagesOf(x: Tensor, scale: 1 | 255, name: string): Float32Array {
  const values = x.dataSync();
  const images = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (!Number.isFinite(v) || v < 0 || v > scale) {
      const hint = scale === 1 && v > 1 && v <= 255 ? ' (0–255 pixels? pass scale: 255)' : '';
      throw new UsageError(`data.${name}: value ${v} at index ${i} is outside [0, ${scale}]${hint}`);
    }
    images[i] = v / scale;
  }
  return images;
}

/** Collects tf.data datasets into tensors (examples or batches of {xs, ys} / [xs, ys]). */
async function tensorsFromDatasets(data: UserDatasets): Promise<UserTensors & { owned: boolean }> {
  const collect = async (ds: unknown, name: 'train' | 'test'): Promise<{ x: Tensor; y: Tensor }> => {
    if (!(ds instanceof tf.data.Dataset)) throw new UsageError(`data.${name}: expected a tf.data.Dataset of {xs, ys} elements; got ${ds === undefined ? 'nothing' : typeof ds}`);
    const xs: Tensor[] = [];
    const ys: Tensor[] = [];
    try {
      await ds.forEachAsync((element: unknown) => {
        const e = element as { xs?: unknown; ys?: unknown } | unknown[];
        const [x, y] = Array.isArray(e) ? e : [e?.xs, e?.ys];
        if (!isTensor(x) || !isTensor(y)) throw new UsageError(`data.${name}: each element must be {xs, ys} (or [xs, ys]) tensors`);
        // Clones: tf.data disposes an element's tensors once the callback returns.
        xs.push(tf.clone(x));
        ys.push(tf.clone(y));
      });
      if (xs.length === 0) throw new UsageError(`data.${name}: the dataset is empty`);
      // One example per element (ys a scalar) is stacked; batches (ys [B]) are concatenated.
      const batched = ys[0]!.rank === 1;
      for (const [i, y] of ys.entries()) {
        if (y.rank !== (batched ? 1 : 0)) throw new UsageError(`data.${name}: element ${i} has labels of shape ${shapeText(y)}; expected ${batched ? '[B] class indices like the first element' : 'a scalar class index like the first element'} (not one-hot)`);
        if (batched && xs[i]!.shape[0] !== y.shape[0]) throw new UsageError(`data.${name}: element ${i} has ${xs[i]!.shape[0]} images but ${y.shape[0]} labels`);
      }
      const sameShape = xs.every((x) => x.shape.slice(batched ? 1 : 0).join('x') === xs[0]!.shape.slice(batched ? 1 : 0).join('x'));
      if (!sameShape) throw new UsageError(`data.${name}: the images do not all have the same shape`);
      return batched ? { x: tf.concat(xs), y: tf.concat(ys) } : { x: tf.stack(xs), y: tf.stack(ys) };
    } finally {
      tf.dispose([...xs, ...ys]);
    }
  };
  const train = await collect(data.train, 'train');
  const test = await collect(data.test, 'test');
  return { xTrain: train.x, yTrain: train.y, xTest: test.x, yTest: test.y, owned: true };
}
