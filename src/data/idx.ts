// Reader for the IDX format used by MNIST and its drop-in relatives (Fashion-MNIST, KMNIST, …).
// Layout: 2 zero bytes, a dtype byte, a dimension-count byte, then that many big-endian uint32
// sizes, then the values row-major. Every header field is checked against the real byte
// length before anything is allocated, so a corrupt file costs an error message, not memory.
import { join } from 'node:path';
import type { DataSplit, Dataset } from './types.js';
import { InputFileError, UsageError } from '../util/errors.js';
import { gunzipSync, constants as zlibConstants } from 'node:zlib';
import { MAX_INPUT_BYTES, UNIT_BYTE, isDirectory, isFile, isGzip, readInputFile } from './files.js';
import { createDataset } from './pipeline.js';

const IDX_UNSIGNED_BYTE = 0x08;
const IDX_TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

/** What a file is expected to hold: images are count × rows × columns, labels just count. */
export type IdxRole = 'images' | 'labels';
const EXPECTED_DIMS: Record<IdxRole, number> = { images: 3, labels: 1 };
const EXPECTED_MAGIC: Record<IdxRole, string> = { images: '0x00000803', labels: '0x00000801' };

/** A parsed IDX tensor of unsigned bytes. `data` is a view into the (decompressed) file. */
export interface IdxTensor {
  dims: number[];
  data: Uint8Array;
}

function hex(byte: number): string {
  return '0x' + byte.toString(16).padStart(2, '0');
}

/** The header of an IDX file: its dimensions and how many bytes of values they declare. */
interface IdxHeader {
  dims: number[];
  headerLength: number;
  declared: number;
}

/** Validates the IDX header at the start of `bytes` (which may be only a prefix of the file). */
function parseIdxHeader(bytes: Uint8Array, file: string, role: IdxRole): IdxHeader {
  const wantDims = EXPECTED_DIMS[role];
  if (bytes.length < 4) {
    throw new InputFileError(file, `is ${bytes.length} bytes, too short for an IDX header`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = Array.from(bytes.subarray(0, 4), hex).join(' ');
    throw new InputFileError(
      file,
      `is not an IDX file (starts with ${magic}; IDX ${role} start with ${EXPECTED_MAGIC[role]})`,
    );
  }
  const dtype = bytes[2]!;
  if (dtype !== IDX_UNSIGNED_BYTE) {
    const name = IDX_TYPE_NAMES[dtype];
    throw new InputFileError(
      file,
      name
        ? `holds IDX data type ${hex(dtype)} (${name}); only ${hex(IDX_UNSIGNED_BYTE)} (unsigned byte) is supported`
        : `has unknown IDX data type ${hex(dtype)}; only ${hex(IDX_UNSIGNED_BYTE)} (unsigned byte) is supported`,
    );
  }
  const ndims = bytes[3]!;
  if (ndims !== wantDims) {
    const shape = role === 'images' ? 'count × rows × columns' : 'count';
    throw new InputFileError(file, `has ${ndims} dimensions; IDX ${role} need ${wantDims} (${shape})`);
  }
  const headerLength = 4 + 4 * ndims;
  if (bytes.length < headerLength) {
    throw new InputFileError(file, `is truncated inside its IDX header (${bytes.length} of ${headerLength} bytes)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  // Plain doubles cannot wrap around, so a product of absurd sizes simply compares as too large.
  let declared = 1;
  for (let d = 0; d < ndims; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    if (size === 0) throw new InputFileError(file, `declares a dimension of size 0 (shape ${[...dims, 0].join('×')}…)`);
    dims.push(size);
    declared *= size;
  }
  return { dims, headerLength, declared };
}

/** Parses and validates IDX bytes; `file` names the source in error messages. */
export function parseIdx(bytes: Uint8Array, file: string, role: IdxRole): IdxTensor {
  const { dims, headerLength, declared } = parseIdxHeader(bytes, file, role);
  const available = bytes.length - headerLength;
  if (declared > available) {
    throw new InputFileError(
      file,
      `declares shape ${dims.join('×')} = ${declared} bytes of data but holds only ${available} (truncated or wrong header)`,
    );
  }
  if (declared < available) {
    throw new InputFileError(
      file,
      `has ${available - declared} unexpected bytes after the ${dims.join('×')} values it declares`,
    );
  }
  return { dims, data: bytes.subarray(headerLength) };
}

/** Deflate cannot expand data by more than about 1032:1, so larger claims are corrupt. */
const MAX_DEFLATE_RATIO = 1032;

/**
 * IDX bytes, raw or gzip (recognised by content, not by name). A gzip file is decompressed only
 * up to the size its IDX header declares, and only when that size is possible for its
 * compressed length, so a corrupt header or a gzip bomb costs an error, not memory.
 */
export function decodeIdxBytes(raw: Uint8Array, file: string, role: IdxRole): IdxTensor {
  if (!isGzip(raw)) return parseIdx(raw, file, role);
  const gunzip = (input: Uint8Array, options: Parameters<typeof gunzipSync>[1], what: string): Buffer => {
    try {
      return gunzipSync(input, options);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') throw new InputFileError(file, `decompresses to more than the ${what}`);
      throw new InputFileError(file, `is not valid gzip data (truncated or corrupt: ${(err as Error).message})`);
    }
  };
  // The header comes from the first compressed bytes (a partial, flushed decompression).
  const probeLength = Math.min(raw.length, 4096);
  const prefix = gunzip(raw.subarray(0, probeLength), { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: probeLength * MAX_DEFLATE_RATIO + 64 }, 'gzip format allows');
  let header: IdxHeader;
  try {
    header = parseIdxHeader(prefix, file, role);
  } catch (err) {
    // A header cut short may be a truncated gzip stream: report that instead when it is.
    if (prefix.length < 4 + 4 * 255) assertCompleteGzip(raw, prefix.length, file);
    throw err;
  }
  const { headerLength, declared, dims } = header;
  const expected = headerLength + declared;
  if (expected > MAX_INPUT_BYTES || expected > raw.length * MAX_DEFLATE_RATIO + 1024) {
    throw new InputFileError(
      file,
      `declares shape ${dims.join('×')} = ${declared} bytes of data, more than its ${raw.length} compressed bytes can hold (truncated or wrong header)`,
    );
  }
  return parseIdx(gunzip(raw, { maxOutputLength: expected }, `${expected} bytes its IDX header declares`), file, role);
}

/** Throws the gzip error of a stream that decompresses to at most `size` bytes but is incomplete. */
function assertCompleteGzip(raw: Uint8Array, size: number, file: string): void {
  try {
    gunzipSync(raw, { maxOutputLength: size + 1 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return;
    throw new InputFileError(file, `is not valid gzip data (truncated or corrupt: ${(err as Error).message})`);
  }
}

/** Reads an IDX file, raw or gzip. */
export function readIdxFile(path: string, role: IdxRole): IdxTensor {
  return decodeIdxBytes(readInputFile(path), path, role);
}

/** Images and labels of one split, checked against each other. */
export interface IdxSplit {
  split: DataSplit;
  height: number;
  width: number;
  /** Largest label in the whole label file (not only the kept examples). */
  maxLabel: number;
}

/** Loads an images/labels file pair; `limit` keeps only the first examples. */
export function loadIdxPair(imagesPath: string, labelsPath: string, limit?: number): IdxSplit {
  const images = readIdxFile(imagesPath, 'images');
  const labels = readIdxFile(labelsPath, 'labels');
  const [imageCount, height, width] = images.dims as [number, number, number];
  const labelCount = labels.dims[0]!;
  if (imageCount !== labelCount) {
    throw new InputFileError(labelsPath, `holds ${labelCount} labels but ${imagesPath} holds ${imageCount} images`);
  }
  let maxLabel = 0;
  for (let i = 0; i < labelCount; i++) if (labels.data[i]! > maxLabel) maxLabel = labels.data[i]!;

  const count = limit === undefined ? imageCount : Math.min(limit, imageCount);
  const pixels = height * width;
  const floats = new Float32Array(count * pixels);
  const source = images.data;
  for (let i = 0; i < floats.length; i++) floats[i] = UNIT_BYTE[source[i]!]!;
  const ints = new Int32Array(count);
  for (let i = 0; i < count; i++) ints[i] = labels.data[i]!;
  return { split: { images: floats, labels: ints, count }, height, width, maxLabel };
}

/** The four standard MNIST-style file names, each also accepted with `.gz`. */
export const IDX_FILE_NAMES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export interface IdxFolderOptions {
  /** Dataset.name to report; defaults to `idx:DIR`. */
  name?: string;
  trainLimit?: number;
  testLimit?: number;
}

/** Loads a folder holding the four standard IDX files (any image size, one channel, any class count). */
export function loadIdxFolder(dir: string, options: IdxFolderOptions = {}): Dataset {
  if (!isDirectory(dir)) throw new InputFileError(dir, 'is not an existing folder (expected the four IDX files in it)');
  const found: Partial<Record<keyof typeof IDX_FILE_NAMES, string>> = {};
  const missing: string[] = [];
  for (const [key, base] of Object.entries(IDX_FILE_NAMES) as [keyof typeof IDX_FILE_NAMES, string][]) {
    const raw = join(dir, base);
    const gz = raw + '.gz';
    if (isFile(raw)) found[key] = raw;
    else if (isFile(gz)) found[key] = gz;
    else missing.push(`${base}[.gz]`);
  }
  if (missing.length > 0) {
    throw new InputFileError(
      dir,
      `missing IDX file(s) ${missing.join(', ')}; an IDX folder needs ${Object.values(IDX_FILE_NAMES).join(', ')} (each optionally .gz)`,
    );
  }
  const train = loadIdxPair(found.trainImages!, found.trainLabels!, options.trainLimit);
  const test = loadIdxPair(found.testImages!, found.testLabels!, options.testLimit);
  if (test.height !== train.height || test.width !== train.width) {
    throw new InputFileError(
      found.testImages!,
      `holds ${test.height}×${test.width} images but the training images are ${train.height}×${train.width}`,
    );
  }
  return createDataset({
    name: options.name ?? `idx:${dir}`,
    height: train.height,
    width: train.width,
    channels: 1,
    numClasses: Math.max(train.maxLabel, test.maxLabel) + 1,
    train: train.split,
    test: test.split,
    augmentByDefault: false,
  });
}

/** Where Debian's `dataset-fashion-mnist` package installs the (gzipped) IDX files. */
export const FASHION_MNIST_SYSTEM_DIR = '/usr/share/datasets/fashion-mnist';

/** Fashion-MNIST from `dataDir`, or from the Debian package location when none is given. */
export function loadFashionMnist(dataDir?: string, limits: { trainLimit?: number; testLimit?: number } = {}): Dataset {
  const dir = dataDir ?? FASHION_MNIST_SYSTEM_DIR;
  if (dataDir === undefined && !isDirectory(dir)) {
    throw new UsageError(
      `fashion-mnist is not installed at ${dir}; install it with 'apt-get install dataset-fashion-mnist' ` +
        'or pass --data-dir DIR holding the four Fashion-MNIST IDX files',
    );
  }
  return loadIdxFolder(dir, { ...limits, name: 'fashion-mnist' });
}
