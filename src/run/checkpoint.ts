import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { InputFileError } from '../util/errors.js';

export const CHECKPOINT_FILE = 'checkpoint.mqc';
const MAGIC = 'MQCKPT\n';
export const CHECKPOINT_VERSION = 1;
const MAX_HEADER_BYTES = 64 * 2 ** 20;

/**
 * Checkpoint file: the ASCII magic "MQCKPT\n", a uint32 (little-endian) header length, a JSON
 * header, then the float32 data of every tensor. Any `{shape, data: Float32Array}` inside the
 * payload is stored in the data section and the header holds `{$tensor: offset, shape}`.
 */
export interface CheckpointHeader {
  format: 'metaquant-checkpoint';
  version: number;
  payload: unknown;
  dataBytes: number;
}

function isSavedTensor(v: unknown): v is { shape: number[]; data: Float32Array } {
  return typeof v === 'object' && v !== null && (v as { data?: unknown }).data instanceof Float32Array && Array.isArray((v as { shape?: unknown }).shape);
}

export function encodeCheckpoint(payload: unknown): Uint8Array {
  const chunks: Float32Array[] = [];
  let offset = 0;
  const replace = (v: unknown): unknown => {
    if (isSavedTensor(v)) {
      const ref = { $tensor: offset, length: v.data.length, shape: v.shape };
      chunks.push(v.data);
      offset += v.data.length;
      return ref;
    }
    if (Array.isArray(v)) return v.map(replace);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replace(x)]));
    return v;
  };
  const header: CheckpointHeader = { format: 'metaquant-checkpoint', version: CHECKPOINT_VERSION, payload: replace(payload), dataBytes: offset * 4 };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.alloc(MAGIC.length + 4 + headerBytes.length + offset * 4);
  out.write(MAGIC, 0, 'ascii');
  out.writeUInt32LE(headerBytes.length, MAGIC.length);
  headerBytes.copy(out, MAGIC.length + 4);
  let pos = MAGIC.length + 4 + headerBytes.length;
  for (const c of chunks) {
    Buffer.from(c.buffer, c.byteOffset, c.byteLength).copy(out, pos);
    pos += c.byteLength;
  }
  return out;
}

/** Parses and validates a checkpoint; every problem is an InputFileError naming the file. */
export function decodeCheckpoint(bytes: Uint8Array, file: string): unknown {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < MAGIC.length + 4 || buf.toString('ascii', 0, MAGIC.length) !== MAGIC) {
    throw new InputFileError(file, 'not a metaquant checkpoint (bad magic bytes)');
  }
  const headerLength = buf.readUInt32LE(MAGIC.length);
  const dataStart = MAGIC.length + 4 + headerLength;
  if (headerLength > MAX_HEADER_BYTES || dataStart > buf.length) {
    throw new InputFileError(file, `truncated or corrupt: header declares ${headerLength} bytes, file has ${buf.length - MAGIC.length - 4}`);
  }
  let header: CheckpointHeader;
  try {
    header = JSON.parse(buf.toString('utf8', MAGIC.length + 4, dataStart)) as CheckpointHeader;
  } catch {
    throw new InputFileError(file, 'corrupt checkpoint header (not valid JSON)');
  }
  if (header?.format !== 'metaquant-checkpoint') throw new InputFileError(file, 'header is not a metaquant checkpoint');
  if (header.version !== CHECKPOINT_VERSION) {
    throw new InputFileError(file, `checkpoint version ${String(header.version)} is not supported (this metaquant reads version ${CHECKPOINT_VERSION})`);
  }
  if (!Number.isInteger(header.dataBytes) || header.dataBytes !== buf.length - dataStart || header.dataBytes % 4 !== 0) {
    throw new InputFileError(file, `truncated or corrupt: header declares ${header.dataBytes} data bytes, file has ${buf.length - dataStart}`);
  }
  const floats = new Float32Array(header.dataBytes / 4);
  Buffer.from(floats.buffer).set(buf.subarray(dataStart));
  const restore = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(restore);
    if (v && typeof v === 'object') {
      const ref = v as { $tensor?: unknown; length?: unknown; shape?: unknown };
      if (typeof ref.$tensor === 'number') {
        const { $tensor: off, length, shape } = ref as { $tensor: number; length: number; shape: number[] };
        const ok =
          Number.isInteger(off) && Number.isInteger(length) && off >= 0 && length >= 0 && off + length <= floats.length &&
          Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0) && shape.reduce((a, b) => a * b, 1) === length;
        if (!ok) throw new InputFileError(file, 'corrupt tensor reference in the checkpoint header');
        const data = floats.slice(off, off + length);
        for (let i = 0; i < data.length; i++) {
          if (!Number.isFinite(data[i]!)) throw new InputFileError(file, 'checkpoint holds NaN or Inf values');
        }
        return { shape, data };
      }
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, restore(x)]));
    }
    return v;
  };
  return restore(header.payload);
}

export function writeCheckpoint(runDir: string, payload: unknown): void {
  writeFileAtomic(join(runDir, CHECKPOINT_FILE), encodeCheckpoint(payload));
}

/** Accepts a run folder or the checkpoint file itself. */
export function readCheckpoint(path: string): unknown {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, CHECKPOINT_FILE) : path;
  if (!existsSync(file)) throw new InputFileError(file, 'no checkpoint here (expected a run folder written by `metaquant train`)');
  return decodeCheckpoint(readFileSync(file), file);
}
