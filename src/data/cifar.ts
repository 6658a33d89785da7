// Readers for the binary CIFAR-10 / CIFAR-100 releases. Each record is the label byte(s)
// followed by a 32×32 image stored channel-major (1024 red, 1024 green, 1024 blue bytes);
// metaquant wants HWC, so records are transposed while converting.
import { join } from 'node:path';
import type { DataSplit, Dataset } from './types.js';
import { InputFileError } from '../util/errors.js';
import { UNIT_BYTE, isDirectory, isFile, readInputFile, regularFileSize } from './files.js';
import { createDataset } from './pipeline.js';

export const CIFAR_SIDE = 32;
export const CIFAR_CHANNELS = 3;
const PLANE = CIFAR_SIDE * CIFAR_SIDE;
const IMAGE_BYTES = PLANE * CIFAR_CHANNELS;

/** How one CIFAR release lays out its files and labels. */
export interface CifarFormat {
  name: 'cifar10' | 'cifar100';
  /** Valid range (exclusive upper bound) of each leading label byte. */
  labelLimits: number[];
  /** Which label byte is the class (CIFAR-100: the fine label, after the coarse one). */
  classByte: number;
  trainFiles: string[];
  testFiles: string[];
  /** Folder the official archive extracts to, accepted below the given directory. */
  archiveFolder: string;
}

export const CIFAR10_FORMAT: CifarFormat = {
  name: 'cifar10',
  labelLimits: [10],
  classByte: 0,
  trainFiles: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  testFiles: ['test_batch.bin'],
  archiveFolder: 'cifar-10-batches-bin',
};

export const CIFAR100_FORMAT: CifarFormat = {
  name: 'cifar100',
  labelLimits: [20, 100],
  classByte: 1,
  trainFiles: ['train.bin'],
  testFiles: ['test.bin'],
  archiveFolder: 'cifar-100-binary',
};

function recordBytes(format: CifarFormat): number {
  return format.labelLimits.length + IMAGE_BYTES;
}

/** Number of records in a file, from its size alone (so nothing is read or allocated if it is wrong). */
function recordCount(path: string, format: CifarFormat): number {
  return recordCountOf(regularFileSize(path), path, format);
}

/** Number of records in `size` bytes of a CIFAR file, or an InputFileError. */
export function recordCountOf(size: number, path: string, format: CifarFormat): number {
  const record = recordBytes(format);
  if (size === 0 || size % record !== 0) {
    throw new InputFileError(
      path,
      `is ${size} bytes, not a positive multiple of the ${record}-byte ${format.name} record ` +
        `(${format.labelLimits.length} label byte(s) + ${IMAGE_BYTES} image bytes)`,
    );
  }
  return size / record;
}

/**
 * Decodes up to `maxRecords` records of one file into `split` starting at example `start`;
 * returns how many were decoded. Labels of the whole file are checked before converting.
 */
function decodeCifarFile(path: string, format: CifarFormat, split: DataSplit, start: number, maxRecords: number): number {
  return decodeCifarBytes(readInputFile(path), path, format, split, start, maxRecords);
}

/** decodeCifarFile on bytes already read (`path` names them in errors). */
export function decodeCifarBytes(bytes: Uint8Array, path: string, format: CifarFormat, split: DataSplit, start: number, maxRecords: number): number {
  const record = recordBytes(format);
  const records = recordCountOf(bytes.length, path, format);
  if (start + Math.min(records, maxRecords) > split.count) throw new InputFileError(path, `holds more records than its size announced`);
  for (let r = 0; r < records; r++) {
    for (let b = 0; b < format.labelLimits.length; b++) {
      const label = bytes[r * record + b]!;
      if (label >= format.labelLimits[b]!) {
        const what = format.labelLimits.length > 1 ? (b === format.classByte ? 'fine label' : 'coarse label') : 'label';
        throw new InputFileError(
          path,
          `record ${r} has ${what} ${label}; ${format.name} ${what}s are 0-${format.labelLimits[b]! - 1}`,
        );
      }
    }
  }
  const count = Math.min(records, maxRecords);
  const { images, labels } = split;
  for (let r = 0; r < count; r++) {
    const example = start + r;
    const base = r * record;
    labels[example] = bytes[base + format.classByte]!;
    const pixels = base + format.labelLimits.length;
    const out = example * IMAGE_BYTES;
    for (let p = 0; p < PLANE; p++) {
      const o = out + p * CIFAR_CHANNELS;
      images[o] = UNIT_BYTE[bytes[pixels + p]!]!;
      images[o + 1] = UNIT_BYTE[bytes[pixels + PLANE + p]!]!;
      images[o + 2] = UNIT_BYTE[bytes[pixels + 2 * PLANE + p]!]!;
    }
  }
  return count;
}

/** Reads a list of files as one split, stopping once `limit` examples are decoded. */
function loadCifarSplit(paths: string[], format: CifarFormat, limit: number | undefined): DataSplit {
  const counts = paths.map((p) => recordCount(p, format));
  const total = counts.reduce((a, b) => a + b, 0);
  const count = limit === undefined ? total : Math.min(limit, total);
  const split: DataSplit = {
    images: new Float32Array(count * IMAGE_BYTES),
    labels: new Int32Array(count),
    count,
  };
  let done = 0;
  for (const path of paths) {
    if (done >= count) break;
    done += decodeCifarFile(path, format, split, done, count - done);
  }
  return split;
}

/** The folder holding the files: `dir` itself or the archive's own subfolder inside it. */
function resolveCifarDir(dir: string, format: CifarFormat): string {
  if (!isDirectory(dir)) throw new InputFileError(dir, `is not an existing folder (expected the ${format.name} binary files in it)`);
  const probe = format.trainFiles[0]!;
  if (isFile(join(dir, probe))) return dir;
  const nested = join(dir, format.archiveFolder);
  if (isFile(join(nested, probe))) return nested;
  throw new InputFileError(
    dir,
    `holds no ${format.name} binary files: looked for ${[...format.trainFiles, ...format.testFiles].join(', ')} ` +
      `in it and in its ${format.archiveFolder}/ subfolder`,
  );
}

export interface CifarOptions {
  trainLimit?: number;
  testLimit?: number;
}

/** Loads CIFAR-10 or CIFAR-100 (binary version) from a folder. */
export function loadCifar(dir: string, format: CifarFormat, options: CifarOptions = {}): Dataset {
  const root = resolveCifarDir(dir, format);
  const missing = [...format.trainFiles, ...format.testFiles].filter((f) => !isFile(join(root, f)));
  if (missing.length > 0) throw new InputFileError(root, `is missing ${format.name} file(s) ${missing.join(', ')}`);
  const train = loadCifarSplit(format.trainFiles.map((f) => join(root, f)), format, options.trainLimit);
  const test = loadCifarSplit(format.testFiles.map((f) => join(root, f)), format, options.testLimit);
  return createDataset({
    name: format.name,
    height: CIFAR_SIDE,
    width: CIFAR_SIDE,
    channels: CIFAR_CHANNELS,
    numClasses: format.labelLimits[format.classByte]!,
    train,
    test,
    augmentByDefault: true,
  });
}

export function loadCifar10(dir: string, options: CifarOptions = {}): Dataset {
  return loadCifar(dir, CIFAR10_FORMAT, options);
}

export function loadCifar100(dir: string, options: CifarOptions = {}): Dataset {
  return loadCifar(dir, CIFAR100_FORMAT, options);
}
