// The packed low-bit model file: encoder, validating decoder and loader. Browser-safe (no Node
// imports; bytes in, bytes out), so the browser demo uses it as it is.
//
// Layout (all integers and floats little-endian):
//   8 bytes   magic 89 4D 51 50 4B 0D 0A 1A ("\x89MQPK\r\n\x1a": binary, catches text-mode mangling)
//   uint32    format version: PACKED_VERSION (2), or PACKED_VERSION_ACTIVATIONS (3) for a model with
//             activation quantization or learned weight steps (see packedVersionFor)
//   uint32    byte length of the JSON header
//   JSON      PackedHeader (UTF-8), then zero padding to a multiple of 4 bytes
//   data      one block per tensor, in header order, each padded to a multiple of 4 bytes:
//               float32 tensor:   count float32 values
//               quantized tensor: levels float32 (2^bits), scales float32 (1 or output channels),
//                                 codes packed at `bits` bits each (see bitpack.ts)
//   uint32    versions with `checksum` (2 and later): CRC-32 (IEEE) of every byte before it
//
// Versions (PACKED_VERSIONS): 1 = the layout above without the trailer (still read, with a
// warning that it cannot be verified); 2 = 1 + the CRC-32 trailer; 3 = 2 + activation quantization
// and learned scales in the header's model config (issue 16). A later version adds a row
// and keeps `checksum: true`. The CRC comes from `crc-32` (pure JS, browser-safe; node:zlib's
// crc32 would tie the loader to Node).
import type * as tf from '@tensorflow/tfjs';
import CRC32 from 'crc-32';
import { MODEL_NAMES, hasArchitecture } from '../models/architectures.js';
import type { ModelConfig } from '../models/model.js';
import type { QuantizedEncoding } from '../quantizers/types.js';
import { InputFileError, MetaquantError } from '../util/errors.js';
import { packBits, packedByteLength, unpackBits } from './bitpack.js';
import { decodeQuantized } from './encoding.js';
import { buildLayersModel, type DeployedNetwork, type NamedTensor, type Normalization } from './layers-model.js';

export const PACKED_MAGIC = Uint8Array.of(0x89, 0x4d, 0x51, 0x50, 0x4b, 0x0d, 0x0a, 0x1a);
/** What each format version adds; every version from 2 on carries the CRC-32 trailer. */
export interface PackedVersionFeatures {
  /** A CRC-32 of the whole file (magic to data) follows the data section as a uint32. */
  checksum: boolean;
  /**
   * The header's modelConfig may hold `actQuantizer` and `archOptions.activation`, and the learned
   * scalars (`<layer>/actAlpha`, `<layer>/actStep`, `<layer>/weightStep`) are float32 tensors (issue
   * 16). Its own version number, so that a reader that knows only versions 1–2 refuses such a file
   * instead of predicting without its activation quantization.
   */
  activations: boolean;
}
export const PACKED_VERSIONS: Readonly<Record<number, PackedVersionFeatures>> = {
  1: { checksum: false, activations: false },
  2: { checksum: true, activations: false },
  3: { checksum: true, activations: true },
};
/** The version encodePacked writes for a model with float activations and fixed-scale weights. */
export const PACKED_VERSION = 2;
/** The version it writes for a model that quantizes activations or learns weight steps. */
export const PACKED_VERSION_ACTIVATIONS = 3;
const ACT_QUANTIZERS = ['sign', 'dorefa', 'pact', 'lsq'];
const CHECKSUM_BYTES = 4;
export const PACKED_EXTENSION = '.mqp';
const PREAMBLE_BYTES = PACKED_MAGIC.length + 8;
const MAX_HEADER_BYTES = 16 * 2 ** 20;
/** Largest tensor accepted (elements): keeps every size computation exact and allocations sane. */
const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

export interface PackedFloatTensor {
  name: string;
  shape: number[];
  kind: 'float32';
  offset: number;
}

export interface PackedQuantizedTensor {
  name: string;
  shape: number[];
  kind: 'quantized';
  bits: number;
  /** Number of float32 levels (2^bits) and scales (1 per layer, or 1 per output channel). */
  levels: number;
  scales: number;
  offset: number;
}

export type PackedTensor = PackedFloatTensor | PackedQuantizedTensor;

export interface PackedHeader {
  format: 'metaquant-packed';
  modelConfig: ModelConfig;
  /** Inputs are raw pixels 0–255; the model computes (x/255 − mean)/std per channel. */
  normalization: Normalization;
  /** Byte length of the data section (everything after the padded header). */
  dataBytes: number;
  tensors: PackedTensor[];
}

export interface DecodedPacked {
  /** The file's format version. */
  version: number;
  /** Whether a checksum verified the file (false for version 1 files, which have none). */
  verified: boolean;
  header: PackedHeader;
  network: DeployedNetwork;
  /** Codes/levels/scales of each quantized tensor, as stored. */
  encodings: Record<string, QuantizedEncoding>;
}

const needsActivationVersion = (config: ModelConfig) => Boolean(config.actQuantizer || config.quantizer?.name === 'lsq');

/** The version a model is written as: 3 when it quantizes activations or learns weight steps, else 2. */
export function packedVersionFor(config: ModelConfig): number {
  return needsActivationVersion(config) ? PACKED_VERSION_ACTIVATIONS : PACKED_VERSION;
}

const align4 = (n: number) => (n + 3) & ~3;
const elementCount = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function blockBytes(t: PackedTensor): number {
  const count = elementCount(t.shape);
  if (t.kind === 'float32') return count * 4;
  return align4(4 * (t.levels + t.scales) + packedByteLength(count, t.bits));
}

/**
 * Encodes a network: tensors listed in `encodings` are stored as packed codes, every other
 * weight as float32. Input order of `weights` is kept.
 */
export function encodePacked(net: DeployedNetwork & { encodings: Record<string, QuantizedEncoding> }, options: { version?: number } = {}): Uint8Array {
  const version = options.version ?? packedVersionFor(net.modelConfig);
  const features = PACKED_VERSIONS[version];
  if (!features) throw new MetaquantError(`packed format version ${version} cannot be written; versions: ${Object.keys(PACKED_VERSIONS).join(', ')}`);
  if (features.activations !== needsActivationVersion(net.modelConfig)) {
    throw new MetaquantError(`packed format version ${version} cannot hold this model (activation quantization and lsq weights are version ${PACKED_VERSION_ACTIVATIONS})`);
  }
  const tensors: PackedTensor[] = [];
  const blocks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, w] of Object.entries(net.weights)) {
    const enc = net.encodings[name];
    let entry: PackedTensor;
    let block: Uint8Array;
    if (enc) {
      if (enc.codes.length !== w.data.length) throw new MetaquantError(`encoding of '${name}' has ${enc.codes.length} codes for ${w.data.length} weights`);
      entry = { name, shape: w.shape, kind: 'quantized', bits: enc.bits, levels: enc.levels.length, scales: enc.scales.length, offset };
      block = new Uint8Array(blockBytes(entry));
      const view = new DataView(block.buffer);
      [...enc.levels, ...enc.scales].forEach((v, i) => view.setFloat32(4 * i, v, true));
      block.set(packBits(enc.codes, enc.bits), 4 * (enc.levels.length + enc.scales.length));
    } else {
      entry = { name, shape: w.shape, kind: 'float32', offset };
      block = new Uint8Array(blockBytes(entry));
      const view = new DataView(block.buffer);
      w.data.forEach((v, i) => view.setFloat32(4 * i, v, true));
    }
    tensors.push(entry);
    blocks.push(block);
    offset += block.length;
  }
  const header: PackedHeader = { format: 'metaquant-packed', modelConfig: net.modelConfig, normalization: net.normalization, dataBytes: offset, tensors };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = align4(PREAMBLE_BYTES + json.length);
  const trailer = features.checksum ? CHECKSUM_BYTES : 0;
  const out = new Uint8Array(dataStart + offset + trailer);
  out.set(PACKED_MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(PACKED_MAGIC.length, version, true);
  view.setUint32(PACKED_MAGIC.length + 4, json.length, true);
  out.set(json, PREAMBLE_BYTES);
  let pos = dataStart;
  for (const b of blocks) {
    out.set(b, pos);
    pos += b.length;
  }
  if (features.checksum) view.setUint32(pos, CRC32.buf(out.subarray(0, pos)) >>> 0, true);
  return out;
}

export interface DecodeOptions {
  /** Told when a file cannot be verified (version 1: no checksum); default console.warn. */
  onWarning?: (message: string) => void;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** Parses and validates a packed file; every problem is an InputFileError naming `source`. */
export function decodePacked(bytes: Uint8Array, source = 'packed model', options: DecodeOptions = {}): DecodedPacked {
  const fail = (problem: string): never => {
    throw new InputFileError(source, problem);
  };
  if (bytes.length < PREAMBLE_BYTES || PACKED_MAGIC.some((b, i) => bytes[i] !== b)) fail('not a metaquant packed model (bad magic bytes)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(PACKED_MAGIC.length, true);
  const features = PACKED_VERSIONS[version];
  if (!features) fail(`packed format version ${version} is not supported (this metaquant reads versions ${Object.keys(PACKED_VERSIONS).join(', ')})`);
  // The body is everything the checksum covers (the whole file for version 1).
  const bodyLength = bytes.length - (features!.checksum ? CHECKSUM_BYTES : 0);
  const headerLength = view.getUint32(PACKED_MAGIC.length + 4, true);
  if (headerLength > MAX_HEADER_BYTES || PREAMBLE_BYTES + headerLength > bodyLength) {
    fail(`truncated or corrupt: the header declares ${headerLength} bytes, the file has ${bodyLength - PREAMBLE_BYTES} after the preamble`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength)));
  } catch {
    fail('corrupt header (not valid UTF-8 JSON)');
  }
  const header = checkHeader(parsed, fail);
  if (features!.activations !== needsActivationVersion(header.modelConfig)) {
    fail(`format version ${version} does not match its model (activation quantization and lsq weights are version ${PACKED_VERSION_ACTIVATIONS}, everything else versions 1–${PACKED_VERSION})`);
  }
  const dataStart = align4(PREAMBLE_BYTES + headerLength);
  if (header.dataBytes !== bodyLength - dataStart) {
    fail(`truncated or corrupt: the header declares ${header.dataBytes} data bytes, the file has ${Math.max(0, bodyLength - dataStart)}`);
  }
  // After the structural checks (which name what is wrong) and before any value is read.
  if (features!.checksum) {
    const stored = view.getUint32(bodyLength, true);
    const actual = CRC32.buf(bytes.subarray(0, bodyLength)) >>> 0;
    if (stored !== actual) fail(`checksum mismatch: the file is corrupt (CRC-32 of its first ${bodyLength} bytes is ${hex(actual)}, its trailer says ${hex(stored)}); export it again`);
  } else {
    (options.onWarning ?? ((m: string) => console.warn(`metaquant: ${m}`)))(
      `${source}: packed format version ${version} has no checksum, so the file cannot be verified; export it again for a version ${PACKED_VERSION} file`,
    );
  }
  const weights: Record<string, NamedTensor> = {};
  const encodings: Record<string, QuantizedEncoding> = {};
  const floats = (at: number, count: number, what: string): Float32Array => {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const v = view.getFloat32(dataStart + at + 4 * i, true);
      if (!Number.isFinite(v)) fail(`${what} holds NaN or Inf at element ${i}`);
      out[i] = v;
    }
    return out;
  };
  for (const t of header.tensors) {
    const count = elementCount(t.shape);
    if (t.kind === 'float32') {
      weights[t.name] = { shape: t.shape, data: floats(t.offset, count, `tensor '${t.name}'`) };
      continue;
    }
    const levels = floats(t.offset, t.levels, `levels of '${t.name}'`);
    const scales = floats(t.offset + 4 * t.levels, t.scales, `scales of '${t.name}'`);
    const codesAt = dataStart + t.offset + 4 * (t.levels + t.scales);
    const codes = unpackBits(bytes.subarray(codesAt, codesAt + packedByteLength(count, t.bits)), t.bits, count);
    encodings[t.name] = { bits: t.bits, codes, levels, scales };
    weights[t.name] = { shape: t.shape, data: decodeQuantized({ codes, levels, scales }) };
  }
  return { version, verified: features!.checksum, header, network: { modelConfig: header.modelConfig, normalization: header.normalization, weights }, encodings };
}

/**
 * Loads a packed model as a standard tfjs LayersModel (input: raw pixels 0–255, shape
 * [N, ...inputShape]; output: logits). Works in the browser: pass the fetched bytes.
 */
export function loadPackedModel(bytes: Uint8Array, source = 'packed model', options: DecodeOptions = {}): tf.LayersModel {
  const { network } = decodePacked(bytes, source, options);
  try {
    return buildLayersModel(network);
  } catch (err) {
    if (err instanceof MetaquantError) throw new InputFileError(source, `does not match its architecture: ${err.message}`);
    throw err;
  }
}

/** Float32 bytes of the same network (every weight 4 bytes): the baseline the packed size compares with. */
export function float32Bytes(header: PackedHeader): number {
  return header.tensors.reduce((n, t) => n + 4 * elementCount(t.shape), 0);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;

/** Structural checks of the JSON header: types, shapes, sizes, and that the blocks tile the data section. */
function checkHeader(h: unknown, fail: (problem: string) => never): PackedHeader {
  if (!isObject(h) || h.format !== 'metaquant-packed') fail('header is not a metaquant packed model header');
  const header = h as Record<string, unknown>;
  const config = header.modelConfig;
  if (!isObject(config)) return fail('header has no modelConfig');
  if (typeof config.arch !== 'string' || !hasArchitecture(config.arch)) {
    fail(`unknown architecture ${JSON.stringify(config.arch)}; expected one of: ${MODEL_NAMES.join(', ')}`);
  }
  const shape = config.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => isCount(d, 1) && d <= 65536)) fail('modelConfig.inputShape must be [height, width, channels] of positive integers');
  if (!isCount(config.numClasses, 1)) fail('modelConfig.numClasses must be a positive integer');
  if (config.archOptions !== undefined) {
    const o = config.archOptions;
    if (!isObject(o)) return fail('modelConfig.archOptions must be an object');
    if (o.hidden !== undefined && !(Array.isArray(o.hidden) && o.hidden.every((u) => isCount(u, 1)))) fail('modelConfig.archOptions.hidden must be a list of positive integers');
    if (o.batchNorm !== undefined && typeof o.batchNorm !== 'boolean') fail('modelConfig.archOptions.batchNorm must be true or false');
    if (o.activation !== undefined && o.activation !== 'relu' && o.activation !== 'identity') fail('modelConfig.archOptions.activation must be relu or identity');
  }
  if (config.actQuantizer !== undefined && config.actQuantizer !== null) {
    const a = config.actQuantizer;
    if (!isObject(a) || typeof a.name !== 'string' || !ACT_QUANTIZERS.includes(a.name)) fail(`modelConfig.actQuantizer must name one of: ${ACT_QUANTIZERS.join(', ')}`);
    const bits = (a as Record<string, unknown>).bits;
    if (bits !== undefined && !(isCount(bits, 1) && bits <= 8)) fail('modelConfig.actQuantizer.bits must be an integer from 1 to 8');
  }
  const channels = (shape as number[])[2]!;
  const norm = header.normalization;
  const finiteList = (xs: unknown, positive: boolean) =>
    Array.isArray(xs) && xs.length === channels && xs.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0));
  if (!isObject(norm) || !finiteList(norm.mean, false) || !finiteList(norm.std, true)) {
    fail(`normalization must hold ${channels} finite means and ${channels} positive stds`);
  }
  if (!isCount(header.dataBytes)) fail('dataBytes must be a non-negative integer');
  if (!Array.isArray(header.tensors)) return fail('header has no tensor table');
  const names = new Set<string>();
  let offset = 0;
  for (const [i, t] of (header.tensors as unknown[]).entries()) {
    if (!isObject(t) || typeof t.name !== 'string') return fail(`tensor ${i} has no name`);
    const what = `tensor '${t.name}'`;
    if (names.has(t.name)) fail(`${what} appears twice`);
    names.add(t.name);
    if (!Array.isArray(t.shape) || t.shape.length > 8 || !t.shape.every((d) => isCount(d) && d <= MAX_TENSOR_ELEMENTS)) fail(`${what} has an invalid shape`);
    const count = elementCount(t.shape as number[]);
    if (count > MAX_TENSOR_ELEMENTS) fail(`${what} is too large (${count} elements)`);
    if (t.kind === 'quantized') {
      if (!isCount(t.bits, 1) || t.bits > 8) fail(`${what} has bit width ${JSON.stringify(t.bits)}; expected 1..8`);
      if (t.levels !== 2 ** (t.bits as number)) fail(`${what} must have 2^bits = ${2 ** (t.bits as number)} levels, not ${JSON.stringify(t.levels)}`);
      const lastAxis = (t.shape as number[])[(t.shape as number[]).length - 1] ?? 1;
      if (t.scales !== 1 && !(t.scales === lastAxis && count > 0 && count % lastAxis === 0)) fail(`${what} must have 1 scale or one per output channel (${lastAxis}), not ${JSON.stringify(t.scales)}`);
    } else if (t.kind !== 'float32') {
      fail(`${what} has unknown kind ${JSON.stringify(t.kind)}; expected float32 or quantized`);
    }
    if (t.offset !== offset) fail(`${what} starts at byte ${JSON.stringify(t.offset)} of the data section, expected ${offset}`);
    offset += blockBytes(t as unknown as PackedTensor);
  }
  if (offset !== header.dataBytes) fail(`the tensor table covers ${offset} data bytes but dataBytes is ${header.dataBytes}`);
  return header as unknown as PackedHeader;
}
