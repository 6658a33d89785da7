// Writers for tiny data files in the real on-disk formats, used by the data tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** A fresh temp folder, plus a cleanup function for `after`. */
export function makeTempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `metaquant-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** IDX bytes: 0, 0, dtype, ndims, big-endian uint32 dims, then the values. */
export function idxBytes(dims: number[], values: ArrayLike<number>, dtype = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = dtype;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(Array.from(values))]);
}

/** Deterministic image bytes: pixel value depends on image, row and column. */
export function patternImages(count: number, height: number, width: number): Uint8Array {
  const out = new Uint8Array(count * height * width);
  for (let n = 0; n < count; n++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) out[(n * height + y) * width + x] = (n * 31 + y * 7 + x * 3) % 256;
  return out;
}

/** Writes the four standard IDX files (optionally gzipped) for a small data set. */
export function writeIdxFolder(
  dir: string,
  spec: { height: number; width: number; train: number[]; test: number[]; gzip?: boolean },
): void {
  const write = (name: string, bytes: Buffer): void =>
    writeFileSync(join(dir, spec.gzip ? name + '.gz' : name), spec.gzip ? gzipSync(bytes) : bytes);
  const { height, width } = spec;
  write('train-images-idx3-ubyte', idxBytes([spec.train.length, height, width], patternImages(spec.train.length, height, width)));
  write('train-labels-idx1-ubyte', idxBytes([spec.train.length], spec.train));
  write('t10k-images-idx3-ubyte', idxBytes([spec.test.length, height, width], patternImages(spec.test.length, height, width)));
  write('t10k-labels-idx1-ubyte', idxBytes([spec.test.length], spec.test));
}

/** CIFAR image bytes in CHW order where channel c, row y, column x holds f(n, c, y, x). */
export function cifarRecord(labelBytes: number[], pixel: (c: number, y: number, x: number) => number): Buffer {
  const out = Buffer.alloc(labelBytes.length + 3072);
  labelBytes.forEach((b, i) => (out[i] = b));
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++) out[labelBytes.length + c * 1024 + y * 32 + x] = pixel(c, y, x) & 0xff;
  return out;
}

/** The pixel rule the CIFAR tests use: distinct per record, channel, row and column. */
export function cifarPixel(record: number): (c: number, y: number, x: number) => number {
  return (c, y, x) => (record * 13 + c * 80 + y * 5 + x) % 256;
}
