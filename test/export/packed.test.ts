// The packed format: exact round trip for every quantizer, validation of bad files, and the
// size against a float32 tfjs export at the models' real sizes.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { QuantizedModel, type ModelConfig } from '../../src/models/model.js';
import { deployModel } from '../../src/export/deploy.js';
import { saveTfjsModel } from '../../src/export/tfjs.js';
import { decodePacked, encodePacked, float32Bytes, loadPackedModel, PACKED_MAGIC, type PackedHeader } from '../../src/export/packed-format.js';
import { packedByteLength } from '../../src/export/bitpack.js';
import { InputFileError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import type { QuantizerConfig } from '../../src/quantizers/types.js';
import { tempDir } from './trained.js';

before(() => useBackend('cpu'));

const NORM6 = { mean: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], std: [0.5, 0.4, 0.3, 0.2, 0.25, 1] };

function tiny(quantizer: QuantizerConfig | null, opts: Partial<ModelConfig> = {}): QuantizedModel {
  return new QuantizedModel({ arch: 'mlp', inputShape: [1, 1, 6], numClasses: 3, archOptions: { hidden: [8, 5] }, quantizer, seed: 7, ...opts });
}

/** Random raw-pixel images and our logits for them (normalised the way the data pipeline does). */
function ourLogits(model: QuantizedModel, norm: { mean: number[]; std: number[] }, n = 9): { pixels: Float32Array; logits: number[][] } {
  const [h, w, c] = model.config.inputShape;
  const rng = new Rng('pixels');
  const pixels = Float32Array.from({ length: n * h * w * c }, () => Math.round(rng.next() * 255));
  const normalised = pixels.map((v, i) => (v / 255 - norm.mean[i % c]!) / norm.std[i % c]!);
  const logits = tf.tidy(() => model.predict(tf.tensor4d(normalised, [n, h, w, c])).arraySync() as number[][]);
  return { pixels, logits };
}

const QUANTIZERS: Array<[string, QuantizerConfig | null, Partial<ModelConfig>?]> = [
  ['dorefa 1-bit', { name: 'dorefa', bits: 1 }],
  ['dorefa 2-bit', { name: 'dorefa', bits: 2 }],
  ['dorefa 3-bit', { name: 'dorefa', bits: 3 }],
  ['dorefa 8-bit', { name: 'dorefa', bits: 8 }],
  ['bwn per layer', { name: 'bwn' }],
  ['bwn per channel', { name: 'bwn', perChannel: true }],
  ['ternary per channel', { name: 'ternary', perChannel: true }],
  ['sign', { name: 'sign' }],
  ['float', null],
  ['bwn, first/last float, no batch norm', { name: 'bwn' }, { keepFirstLastFp: true, archOptions: { hidden: [8, 5], batchNorm: false } }],
];

for (const [label, q, opts] of QUANTIZERS) {
  test(`packed round trip is exact: ${label}`, () => {
    const model = tiny(q, opts);
    // A zero weight makes BWN need its 2-bit code book (sign(0) = 0).
    const k = model.params.get('fc2/kernel');
    k.assign(tf.tidy(() => tf.where(tf.equal(tf.range(0, k.size).reshape(k.shape), 3), 0, k)));
    const dep = deployModel(model, NORM6);
    const bytes = encodePacked(dep);
    const { header, network, encodings } = decodePacked(bytes, 'tiny.mqp');
    for (const info of model.params.infos) {
      const v = model.params.get(info.name);
      const quantized = model.isQuantized(info.name);
      const expected = quantized ? tf.tidy(() => model.quantizer!.quantize(v).dataSync()) : v.dataSync();
      assert.deepEqual(network.weights[info.name]!.data, Float32Array.from(expected), `${info.name}: decoded values`);
      const entry = header.tensors.find((t) => t.name === info.name)!;
      assert.equal(entry.kind, quantized ? 'quantized' : 'float32', info.name);
      if (quantized) {
        assert.deepEqual(encodings[info.name]!.codes, dep.encodings[info.name]!.codes);
        assert.ok(entry.kind === 'quantized' && entry.bits === dep.encodings[info.name]!.bits);
      }
    }
    if (label === 'bwn per layer') assert.equal(encodings['fc2/kernel']!.bits, 2, 'a zero weight needs the 2-bit book');
    if (label.startsWith('dorefa')) assert.equal(encodings['fc1/kernel']!.bits, q!.bits);
    const { pixels, logits } = ourLogits(model, NORM6);
    const loaded = loadPackedModel(bytes, 'tiny.mqp');
    const theirs = tf.tidy(() => (loaded.predict(tf.tensor4d(pixels, [9, 1, 1, 6])) as tf.Tensor).arraySync() as number[][]);
    loaded.dispose();
    theirs.forEach((row, n) => row.forEach((v, j) => assert.ok(Math.abs(v - logits[n]![j]!) <= 1e-4, `image ${n} logit ${j}: ${v} vs ${logits[n]![j]}`)));
    model.dispose();
  });
}

/** Re-encodes a file with its JSON header changed (data section kept). */
function withHeader(bytes: Uint8Array, change: (h: PackedHeader) => void): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + length))) as PackedHeader;
  const data = bytes.subarray((16 + length + 3) & ~3);
  change(header);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const start = (16 + json.length + 3) & ~3;
  const out = new Uint8Array(start + data.length);
  out.set(bytes.subarray(0, 12));
  new DataView(out.buffer).setUint32(12, json.length, true);
  out.set(json, 16);
  out.set(data, start);
  return out;
}

test('bad packed files get an InputFileError naming the file and the problem', () => {
  const model = tiny({ name: 'dorefa', bits: 2 });
  // Version 1 (no checksum): each structural check is reached as such (version 2's checksum is tested below).
  const good = encodePacked(deployModel(model, NORM6), { version: 1 });
  model.dispose();
  const header = decodePacked(good).header;
  const dataStart = good.length - header.dataBytes;
  const firstFloat = header.tensors.find((t) => t.kind === 'float32')!;
  const mutate = (f: (b: Uint8Array, v: DataView) => void) => {
    const b = good.slice();
    f(b, new DataView(b.buffer));
    return b;
  };
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['empty', new Uint8Array(0), /bad magic/],
    ['magic', mutate((b) => (b[1] = 0)), /bad magic/],
    ['version', mutate((_, v) => v.setUint32(8, 99, true)), /version 99 is not supported \(this metaquant reads versions 1, 2, 3\)/],
    ['version 3 without activations', mutate((_, v) => v.setUint32(8, 3, true)), /format version 3 does not match its model/],
    ['header length', mutate((_, v) => v.setUint32(12, 0xffffffff, true)), /header declares 4294967295 bytes/],
    ['truncated', good.subarray(0, good.length - 1), /declares \d+ data bytes, the file has \d+/],
    ['trailing bytes', Uint8Array.from([...good, 0, 0, 0, 0]), /declares \d+ data bytes/],
    ['json', mutate((b) => (b[16] = 0x7b + 1)), /not valid UTF-8 JSON/],
    ['NaN', mutate((_, v) => v.setFloat32(dataStart + firstFloat.offset + 4, NaN, true)), new RegExp(`tensor '${firstFloat.name}' holds NaN or Inf at element 1`)],
    ['Inf level', mutate((_, v) => v.setFloat32(dataStart, Infinity, true)), /levels of 'fc1\/kernel' holds NaN or Inf/],
    ['arch', withHeader(good, (h) => (h.modelConfig.arch = 'vgg')), /unknown architecture "vgg"/],
    ['input shape', withHeader(good, (h) => (h.modelConfig.inputShape = [1, 1] as never)), /inputShape/],
    ['normalisation', withHeader(good, (h) => (h.normalization.std[2] = -1)), /6 positive stds/],
    ['overflow', withHeader(good, (h) => (h.tensors[0]!.shape = [2 ** 20, 2 ** 20])), /too large/],
    ['bits', withHeader(good, (h) => Object.assign(h.tensors[0]!, { bits: 9 })), /bit width 9; expected 1\.\.8/],
    ['levels', withHeader(good, (h) => Object.assign(h.tensors[0]!, { levels: 3 })), /must have 2\^bits = 4 levels/],
    ['scales', withHeader(good, (h) => Object.assign(h.tensors[0]!, { scales: 5 })), /1 scale or one per output channel \(8\)/],
    ['offset', withHeader(good, (h) => (h.tensors[1]!.offset += 4)), /starts at byte \d+ of the data section, expected \d+/],
    ['kind', withHeader(good, (h) => Object.assign(h.tensors[1]!, { kind: 'float16' })), /unknown kind "float16"/],
    ['duplicate', withHeader(good, (h) => (h.tensors[1]!.name = h.tensors[0]!.name)), /appears twice/],
  ];
  for (const [label, bytes, pattern] of cases) {
    assert.throws(
      () => decodePacked(bytes, 'bad.mqp'),
      (err: unknown) => err instanceof InputFileError && err.file === 'bad.mqp' && err.message.startsWith('bad.mqp: ') && pattern.test(err.message),
      label,
    );
  }
  // Structurally valid, but the tensors do not fit the architecture: caught when building the model.
  const renamed = withHeader(good, (h) => (h.tensors[0]!.name = 'fc9/kernel'));
  assert.throws(() => loadPackedModel(renamed, 'bad.mqp'), (err: unknown) => err instanceof InputFileError && /does not match its architecture: parameter 'fc1\/kernel' is missing/.test(err.message));
  const reshaped = withHeader(good, (h) => (h.modelConfig.archOptions = { hidden: [8, 6] }));
  assert.throws(() => loadPackedModel(reshaped, 'bad.mqp'), /bad\.mqp: does not match its architecture: parameter 'fc2\/kernel' has shape \[8,5\] but the architecture needs \[8,6\]/);
  assert.deepEqual(Array.from(good.subarray(0, 8)), Array.from(PACKED_MAGIC));
});

/** Packed bytes, float32 tfjs export bytes (model.json + shards) and the weights-only float32 size. */
async function sizes(config: ModelConfig, norm: { mean: number[]; std: number[] }) {
  const model = new QuantizedModel(config);
  const dep = deployModel(model, norm);
  model.dispose();
  const packed = encodePacked(dep);
  const tfjs = await saveTfjsModel(dep, join(tempDir('mq-size-'), 'tfjs'));
  return { packed: packed.length, tfjs: tfjs.bytes, float32: float32Bytes(decodePacked(packed).header), dep };
}

test('1-bit MNIST models: packed ≥ 25× (LeNet-5) and ≥ 20× (MLP 784-256-256-10) smaller than the float32 tfjs export', async () => {
  const mnist = { mean: [0.13], std: [0.31] };
  const base = { inputShape: [28, 28, 1] as [number, number, number], numClasses: 10, quantizer: { name: 'dorefa', bits: 1 }, seed: 1 };
  const lenet = await sizes({ ...base, arch: 'lenet5' }, mnist);
  const mlp = await sizes({ ...base, arch: 'mlp' }, mnist);
  assert.ok(lenet.tfjs / lenet.packed >= 25, `lenet5: ${lenet.tfjs} / ${lenet.packed} = ${(lenet.tfjs / lenet.packed).toFixed(2)}`);
  assert.ok(mlp.tfjs / mlp.packed >= 20, `mlp: ${mlp.tfjs} / ${mlp.packed} = ${(mlp.tfjs / mlp.packed).toFixed(2)}`);
  // The packed size is what the format promises: 1 bit per quantized weight plus float32 for the rest.
  for (const { packed, dep } of [lenet, mlp]) {
    let expected = 0;
    for (const [name, w] of Object.entries(dep.weights)) {
      const enc = dep.encodings[name];
      expected += enc ? (4 * (enc.levels.length + enc.scales.length) + packedByteLength(w.data.length, 1) + 3) & ~3 : 4 * w.data.length;
    }
    assert.ok(packed > expected && packed - expected < 4096, `header overhead ${packed - expected} bytes`);
  }
});

test('version 2: a CRC-32 trailer catches one flipped bit in the weights; version 1 files still load, with a warning', () => {
  const model = tiny({ name: 'dorefa', bits: 2 });
  const net = deployModel(model, NORM6);
  model.dispose();
  const v2 = encodePacked(net);
  const v1 = encodePacked(net, { version: 1 });
  assert.equal(v2.length, v1.length + 4, 'version 2 = version 1 + a 4-byte trailer');
  assert.equal(new DataView(v2.buffer).getUint32(8, true), 2);
  const decoded = decodePacked(v2, 'good.mqp');
  assert.equal(decoded.verified, true);
  assert.deepEqual(Array.from(v2.subarray(0, v1.length).subarray(16)), Array.from(v1.subarray(16)), 'same header and data as version 1');

  const dataStart = v1.length - decoded.header.dataBytes;
  const codes = decoded.header.tensors.find((t) => t.kind === 'quantized')!;
  const at = dataStart + codes.offset + 4 * (codes.kind === 'quantized' ? codes.levels + codes.scales : 0); // first byte of its packed codes
  for (const [file, version] of [[v1, 1], [v2, 2]] as const) {
    const flipped = file.slice();
    flipped[at] ^= 0x04;
    if (version === 1) {
      // What the checksum is for: version 1 loads the corrupt weights without a word.
      const warnings: string[] = [];
      const d = decodePacked(flipped, 'old.mqp', { onWarning: (m) => warnings.push(m) });
      assert.equal(d.verified, false);
      assert.notDeepEqual(Array.from(d.encodings[codes.name]!.codes), Array.from(decoded.encodings[codes.name]!.codes));
      assert.deepEqual(warnings, ['old.mqp: packed format version 1 has no checksum, so the file cannot be verified; export it again for a version 2 file']);
    } else {
      assert.throws(
        () => decodePacked(flipped, 'flipped.mqp'),
        (err: unknown) => err instanceof InputFileError && /^flipped\.mqp: checksum mismatch: the file is corrupt \(CRC-32 of its first \d+ bytes is 0x[0-9a-f]{8}, its trailer says 0x[0-9a-f]{8}\)/.test(err.message),
      );
    }
  }
  // A flipped bit in the trailer itself, or in the header's numbers, is caught too.
  const trailer = v2.slice();
  trailer[trailer.length - 1] ^= 0x80;
  assert.throws(() => decodePacked(trailer, 'x.mqp'), /checksum mismatch/);
  const mean = v2.slice();
  const digit = new TextDecoder().decode(mean.subarray(16, 400)).indexOf('0.1') + 16 + 2;
  mean[digit] ^= 0x01; // '1' → '0': still valid JSON, another normalisation
  assert.throws(() => decodePacked(mean, 'x.mqp'), /checksum mismatch/);

  // The default warning goes to console.warn, and the version 1 model still loads.
  const warned: unknown[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warned.push(args.join(' '));
  try {
    loadPackedModel(v1, 'old.mqp').dispose();
  } finally {
    console.warn = warn;
  }
  assert.equal(warned.length, 1);
  assert.match(String(warned[0]), /^metaquant: old\.mqp: packed format version 1 has no checksum/);
});
