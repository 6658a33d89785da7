// A small generated data set for fast tests and smoke runs. Each class has a prototype made
// of two Gaussian blobs: the first sits at a class-specific point on a circle (so no two
// classes coincide), the second at a random spot, each with random per-channel colour.
// A sample is its class prototype with the blobs jittered by a fraction of a pixel, a random
// brightness, and uniform pixel noise, clipped to [0, 1]. Everything comes from fixed seeds
// derived from the spec, so the same spec always yields the same bytes.
import type { DataSplit, Dataset } from './types.js';
import { UsageError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { createDataset } from './pipeline.js';

export interface SyntheticSpec {
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  trainCount: number;
  testCount: number;
}

export const DEFAULT_SYNTHETIC: SyntheticSpec = {
  height: 8,
  width: 8,
  channels: 1,
  numClasses: 10,
  trainCount: 2000,
  testCount: 500,
};

/** Usage line for the spec syntax, shared with the CLI help. */
export const SYNTHETIC_SYNTAX = 'synthetic[:HxWxC[:CLASSES[:TRAIN[:TEST]]]]';

function parseBounded(text: string, what: string, min: number, max: number, spec: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`invalid ${what} '${text}' in '${spec}': expected an integer in ${min}..${max} (syntax ${SYNTHETIC_SYNTAX})`);
  }
  return value;
}

/**
 * Parses `synthetic`, `synthetic:HxWxC`, `synthetic:HxWxC:CLASSES`,
 * `synthetic:HxWxC:CLASSES:TRAIN` or `synthetic:HxWxC:CLASSES:TRAIN:TEST`; omitted parts take
 * the defaults (8x8x1, 10 classes, 2000 train) and TEST defaults to a quarter of TRAIN.
 */
export function parseSyntheticSpec(spec: string): SyntheticSpec {
  const parts = spec.split(':');
  if (parts[0] !== 'synthetic' || parts.length > 5) {
    throw new UsageError(`invalid synthetic data set '${spec}': expected ${SYNTHETIC_SYNTAX}`);
  }
  const result: SyntheticSpec = { ...DEFAULT_SYNTHETIC };
  if (parts[1] !== undefined && parts[1] !== '') {
    const shape = parts[1].toLowerCase().split('x');
    if (shape.length !== 3) {
      throw new UsageError(`invalid image shape '${parts[1]}' in '${spec}': expected HxWxC, e.g. 8x8x1`);
    }
    result.height = parseBounded(shape[0]!, 'height', 1, 512, spec);
    result.width = parseBounded(shape[1]!, 'width', 1, 512, spec);
    result.channels = parseBounded(shape[2]!, 'channel count', 1, 16, spec);
  }
  if (parts[2] !== undefined) result.numClasses = parseBounded(parts[2], 'class count', 2, 1000, spec);
  if (parts[3] !== undefined) {
    result.trainCount = parseBounded(parts[3], 'training count', 1, 1_000_000, spec);
    result.testCount = Math.max(1, Math.round(result.trainCount / 4));
  }
  if (parts[4] !== undefined) result.testCount = parseBounded(parts[4], 'test count', 1, 1_000_000, spec);
  const pixels = result.height * result.width * result.channels;
  if (pixels * (result.trainCount + result.testCount) > 1 << 28) {
    throw new UsageError(`synthetic data set '${spec}' is too large (over ${1 << 28} values)`);
  }
  return result;
}

interface Blob {
  y: number;
  x: number;
  sigma: number;
  colour: number[];
}

function classPrototypes(spec: SyntheticSpec, rng: Rng): Blob[][] {
  const { height, width, channels, numClasses } = spec;
  const size = Math.min(height, width);
  const prototypes: Blob[][] = [];
  for (let k = 0; k < numClasses; k++) {
    const angle = (2 * Math.PI * k) / numClasses;
    const colour = (): number[] => Array.from({ length: channels }, () => 0.4 + 0.6 * rng.next());
    const anchored: Blob = {
      y: (height - 1) / 2 + 0.3 * height * Math.sin(angle),
      x: (width - 1) / 2 + 0.3 * width * Math.cos(angle),
      sigma: Math.max(0.6, size * 0.12),
      colour: colour(),
    };
    const roaming: Blob = {
      y: rng.next() * (height - 1),
      x: rng.next() * (width - 1),
      sigma: Math.max(0.6, size * (0.08 + 0.1 * rng.next())),
      colour: colour().map((c) => c * 0.6),
    };
    prototypes.push([anchored, roaming]);
  }
  return prototypes;
}

function generateSplit(spec: SyntheticSpec, prototypes: Blob[][], count: number, rng: Rng): DataSplit {
  const { height, width, channels, numClasses } = spec;
  const pixels = height * width * channels;
  const images = new Float32Array(count * pixels);
  const labels = new Int32Array(count);
  const jitter = 0.35;
  const noise = 0.25;
  for (let n = 0; n < count; n++) {
    // Cycling through the classes keeps every prefix (a train limit) balanced.
    const label = n % numClasses;
    labels[n] = label;
    const brightness = 0.75 + 0.25 * rng.next();
    const blobs = prototypes[label]!.map((b) => ({
      ...b,
      y: b.y + jitter * rng.normal(),
      x: b.x + jitter * rng.normal(),
    }));
    const base = n * pixels;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const out = base + (y * width + x) * channels;
        for (let c = 0; c < channels; c++) {
          let v = 0;
          for (const b of blobs) {
            const d2 = (y - b.y) ** 2 + (x - b.x) ** 2;
            v += b.colour[c]! * Math.exp(-d2 / (2 * b.sigma * b.sigma));
          }
          v = brightness * v + noise * (rng.next() - 0.5);
          images[out + c] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
      }
    }
  }
  return { images, labels, count };
}

/** Generates the synthetic data set described by `spec` (deterministic, independent of any user seed). */
export function generateSynthetic(spec: SyntheticSpec = DEFAULT_SYNTHETIC): Dataset {
  const shape = `${spec.height}x${spec.width}x${spec.channels}:${spec.numClasses}`;
  const prototypes = classPrototypes(spec, new Rng(`metaquant/synthetic/${shape}/prototypes`));
  // Separate streams per split: changing the training count leaves the test set unchanged.
  const train = generateSplit(spec, prototypes, spec.trainCount, new Rng(`metaquant/synthetic/${shape}/train`));
  const test = generateSplit(spec, prototypes, spec.testCount, new Rng(`metaquant/synthetic/${shape}/test`));
  const isDefault = (Object.keys(DEFAULT_SYNTHETIC) as (keyof SyntheticSpec)[]).every((k) => spec[k] === DEFAULT_SYNTHETIC[k]);
  return createDataset({
    name: isDefault ? 'synthetic' : `synthetic:${shape}:${spec.trainCount}:${spec.testCount}`,
    height: spec.height,
    width: spec.width,
    channels: spec.channels,
    numClasses: spec.numClasses,
    train,
    test,
    augmentByDefault: false,
  });
}
