// Small helpers shared by the data-set readers: guarded file reads and byte → [0,1] conversion.
import { readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { InputFileError } from '../util/errors.js';

/** Largest file (or decompressed payload) any reader accepts; far above every supported data set. */
export const MAX_INPUT_BYTES = 1 << 30;

/** byte → byte/255, precomputed so conversion loops are a table lookup. */
export const UNIT_BYTE: Float32Array = (() => {
  const table = new Float32Array(256);
  for (let b = 0; b < 256; b++) table[b] = b / 255;
  return table;
})();

/** Size of a regular file, or an InputFileError saying why it cannot be one. */
export function regularFileSize(path: string): number {
  let stats;
  try {
    stats = statSync(path);
  } catch (err) {
    throw new InputFileError(path, describeFsError(err));
  }
  if (!stats.isFile()) throw new InputFileError(path, 'is not a regular file');
  return stats.size;
}

/** True when `path` exists and is a directory (no error for anything else). */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** True when `path` exists and is a regular file. */
export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Reads a whole file, refusing sizes above MAX_INPUT_BYTES before reading anything. */
export function readInputFile(path: string): Buffer {
  const size = regularFileSize(path);
  if (size > MAX_INPUT_BYTES) {
    throw new InputFileError(path, `is ${size} bytes, above the ${MAX_INPUT_BYTES}-byte limit`);
  }
  try {
    return readFileSync(path);
  } catch (err) {
    throw new InputFileError(path, describeFsError(err));
  }
}

/** Whether the bytes start with the gzip magic number (the file name is not trusted). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Reads a file and transparently gunzips it when its content is gzip. */
export function readMaybeGzipped(path: string): Uint8Array {
  const raw = readInputFile(path);
  if (!isGzip(raw)) return raw;
  try {
    // The cap stops a gzip bomb before it exhausts memory.
    return gunzipSync(raw, { maxOutputLength: MAX_INPUT_BYTES });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new InputFileError(path, `is not valid gzip data (truncated or corrupt: ${why})`);
  }
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory, not a file';
  return `cannot be read (${err instanceof Error ? err.message : String(err)})`;
}
