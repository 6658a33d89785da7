// Every file reader against ≥ 200 corrupt variants of a valid file (see test/helpers/fuzz.ts):
// each variant is parsed or rejected with InputFileError, within 2 s and 64 MiB, in a worker
// whose heap is capped and whose hangs are cut off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describeReport, fuzz, type FuzzOptions, type FuzzReport } from '../helpers/fuzz.js';
import { cifarPixel, cifarRecord, idxBytes, patternImages } from '../data/fixtures.js';
import { Trainer } from '../../src/train/trainer.js';

const READERS = fileURLToPath(new URL('../helpers/fuzz-readers.js', import.meta.url));
const reader = (name: string) => ({ module: READERS, export: name });

/** `minRejected`: the share of variants that must be corrupt for this format (headerless CIFAR is mostly pixels). */
function check(name: string, r: FuzzReport, minRejected = 0.5, stillValid: (variant: string) => boolean = () => false): void {
  console.log(`# ${describeReport(name, r)}`);
  assert.ok(r.total >= 200, `${name}: only ${r.total} variants`);
  assert.deepEqual(r.failures.slice(0, 5), [], `${name}: ${r.failures.length} variants crashed, hung or used too much memory`);
  const structural = r.acceptedVariants.filter((v) => ['mutation', 'truncate', 'extend', 'size-field', 'random'].includes(v.kind) && !v.name.includes(' := +0'));
  assert.deepEqual(structural.filter((v) => v.kind !== 'size-field' && v.kind !== 'random' && !stillValid(v.name)), [], `${name}: corrupt variants were accepted`);
  assert.ok(r.rejected >= r.total * minRejected, `${name}: only ${r.rejected} of ${r.total} variants rejected`);
}

test('IDX images and labels, raw', async () => {
  const images = idxBytes([6, 5, 4], patternImages(6, 5, 4));
  const dims: FuzzOptions['sizeFields'] = [
    { name: 'dtype', offset: 2, bytes: 1 },
    { name: 'ndims', offset: 3, bytes: 1 },
    { name: 'dim0', offset: 4, bytes: 4 },
    { name: 'dim1', offset: 8, bytes: 4 },
    { name: 'dim2', offset: 12, bytes: 4 },
  ];
  const overflow = idxBytes([65536, 65536, 65536], patternImages(6, 5, 4));
  const wrongType = Buffer.from(images);
  wrongType[2] = 0x0d;
  check(
    'IDX images (raw)',
    await fuzz(images, reader('idxImages'), {
      boundaries: [2, 3, 4, 8, 12, 16, images.length],
      sizeFields: dims,
      mutations: [
        { name: 'dimension product 2^48 (overflows 32 bits)', bytes: overflow },
        { name: 'float32 data type', bytes: wrongType },
      ],
    }),
  );
  const labels = idxBytes([40], Array.from({ length: 40 }, (_, i) => i % 10));
  check('IDX labels (raw)', await fuzz(labels, reader('idxLabels'), { boundaries: [4, 8, labels.length], sizeFields: [{ name: 'ndims', offset: 3, bytes: 1 }, { name: 'count', offset: 4, bytes: 4 }] }));
});

test('IDX images, gzip (truncated streams, bad CRC/length trailers, bombs)', async () => {
  const raw = idxBytes([20, 8, 8], patternImages(20, 8, 8));
  const gz = gzipSync(raw);
  // Small declared shape, 32 MiB of real data: decompression must stop at the declared size.
  const bomb = gzipSync(Buffer.concat([idxBytes([1, 2, 2], [0, 0, 0, 0]), Buffer.alloc(32 * 2 ** 20)]));
  // A header declaring 256 MiB in a few hundred compressed bytes.
  const liar = gzipSync(idxBytes([1, 16384, 16384], patternImages(1, 8, 8)));
  const garbageDeflate = Buffer.concat([gz.subarray(0, 10), Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 97) & 0xff))]);
  check(
    'IDX images (gzip)',
    await fuzz(gz, reader('idxImages'), {
      boundaries: [2, 3, 10, 20, gz.length - 8, gz.length - 4, gz.length],
      sizeFields: [
        { name: 'gzip CRC32', offset: gz.length - 8, bytes: 4, littleEndian: true },
        { name: 'gzip ISIZE', offset: gz.length - 4, bytes: 4, littleEndian: true },
        { name: 'gzip method', offset: 2, bytes: 1 },
        { name: 'gzip flags', offset: 3, bytes: 1 },
      ],
      mutations: [
        { name: 'gzip bomb (32 MiB behind a 4-pixel header)', bytes: bomb },
        { name: 'header declares 256 MiB', bytes: liar },
        { name: 'gzip header, garbage deflate stream', bytes: garbageDeflate },
      ],
    }),
  );
});

/** A CIFAR file cut at a record boundary is a valid, shorter file. */
const wholeRecords = (record: number) => (variant: string) => {
  const m = /^truncated to (\d+) of/.exec(variant);
  return m !== null && Number(m[1]) > 0 && Number(m[1]) % record === 0;
};

test('CIFAR-10 and CIFAR-100 binary', async () => {
  const c10 = Buffer.concat([0, 1, 2].map((r) => cifarRecord([r * 3], cifarPixel(r))));
  const bad10 = Buffer.from(c10);
  bad10[3073] = 10;
  check('CIFAR-10', await fuzz(c10, reader('cifar10'), { boundaries: [1, 3073, 3074, 6146, 6147, c10.length], sizeFields: [{ name: 'label 0', offset: 0, bytes: 1 }, { name: 'label 1', offset: 3073, bytes: 1 }], mutations: [{ name: 'label 10', bytes: bad10 }] }), 0.2, wholeRecords(3073));
  const c100 = Buffer.concat([0, 1].map((r) => cifarRecord([r * 7, r * 40], cifarPixel(r))));
  check('CIFAR-100', await fuzz(c100, reader('cifar100'), { boundaries: [1, 2, 3074, 3075, 3076, c100.length], sizeFields: [{ name: 'coarse label', offset: 0, bytes: 1 }, { name: 'fine label', offset: 1, bytes: 1 }] }), 0.2, wholeRecords(3074));
});

/** A small real run folder: MetaQuant (FC-Grad, Adam) after one epoch, mid-epoch checkpoint included. */
async function smallRun(): Promise<string> {
  const out = join(mkdtempSync(join(tmpdir(), 'mq-fuzz-')), 'run');
  const t = await Trainer.create({ dataset: 'synthetic:4x4x1:3:32:8', model: 'mlp', hidden: [4], epochs: 1, batchSize: 8, backend: 'cpu', estimator: 'metaquant', meta: 'fcgrad', optimizer: 'adam', metaHidden: 3, out });
  await t.run();
  t.dispose();
  return out;
}

type Json = Record<string, unknown>;
/** Re-encodes a checkpoint after editing its JSON header (the header length stays consistent). */
function editHeader(file: Buffer, edit: (h: Json) => void): Buffer {
  const len = file.readUInt32LE(7);
  const header = JSON.parse(file.toString('utf8', 11, 11 + len)) as Json;
  edit(header);
  const text = Buffer.from(JSON.stringify(header));
  const lenBytes = Buffer.alloc(4);
  lenBytes.writeUInt32LE(text.length);
  return Buffer.concat([file.subarray(0, 7), lenBytes, text, file.subarray(11 + len)]);
}

test('checkpoint.mqc (binary layout, JSON header fields, training state) and config.json', async () => {
  const out = await smallRun();
  const ckpt = readFileSync(join(out, 'checkpoint.mqc'));
  const len = ckpt.readUInt32LE(7);
  const dataStart = 11 + len;
  const p = (h: Json) => h.payload as Json;
  const firstParam = (h: Json) => Object.values(p(h).params as Json)[0] as Json;
  const setFloat = (value: number) => {
    const b = Buffer.from(ckpt);
    b.writeFloatLE(value, dataStart + 8);
    return b;
  };
  const edits: [string, (h: Json) => void][] = [
    ['version 2', (h) => (h.version = 2)],
    ['version "1"', (h) => (h.version = '1')],
    ['other format', (h) => (h.format = 'zip')],
    ['dataBytes + 4', (h) => (h.dataBytes = (h.dataBytes as number) + 4)],
    ['dataBytes 2^40', (h) => (h.dataBytes = 2 ** 40)],
    ['tensor offset 1e12', (h) => (firstParam(h).$tensor = 1e12)],
    ['tensor offset -1', (h) => (firstParam(h).$tensor = -1)],
    ['tensor length huge', (h) => (firstParam(h).length = 2 ** 40)],
    ['tensor shape 65536×65536', (h) => (firstParam(h).shape = [65536, 65536])],
    ['tensor shape [-1]', (h) => (firstParam(h).shape = [-1])],
    ['input shape 4096×4096×64', (h) => ((p(h).modelConfig as Json).inputShape = [4096, 4096, 64])],
    ['input shape 2048×2048×1', (h) => ((p(h).modelConfig as Json).inputShape = [2048, 2048, 1])],
    ['hidden 10^6 × 10^6', (h) => ((p(h).modelConfig as Json).archOptions = { hidden: [1_000_000, 1_000_000] })],
    ['numClasses 10^9', (h) => ((p(h).modelConfig as Json).numClasses = 1e9)],
    ['unknown architecture', (h) => ((p(h).modelConfig as Json).arch = 'nope')],
    ['unknown quantizer', (h) => ((p(h).modelConfig as Json).quantizer = { name: 'nope' })],
    ['config lr -1', (h) => ((p(h).config as Json).lr = -1)],
    ['config metaHidden 10^9', (h) => ((p(h).config as Json).metaHidden = 1e9)],
    ['config meta lstm (state mismatch)', (h) => ((p(h).config as Json).meta = 'lstm')],
    ['config null', (h) => (p(h).config = null)],
    ['stepState null', (h) => (p(h).stepState = null)],
    ['stepState.optimizer 5', (h) => ((p(h).stepState as Json).optimizer = 5)],
    ['stepState.metaParams unknown name', (h) => ((p(h).stepState as Json).metaParams = { nope: firstParam(h) })],
    ['stepState.gHatPrev wrong tensor', (h) => ((p(h).stepState as Json).gHatPrev = { 'fc1/kernel': firstParam(h), x: 1 })],
    ['rng state S of 2 bytes', (h) => (((p(h).rng as Json).order as Json).S = [1, 2])],
    ['position.batch -1', (h) => ((p(h).position as Json).batch = -1)],
    ['globalStep -5', (h) => (p(h).globalStep = -5)],
    ['lrScale 0', (h) => (p(h).lrScale = 0)],
    ['history of strings', (h) => (p(h).history = ['x'])],
    ['params missing', (h) => (p(h).params = {})],
  ];
  const mutations = [
    ...edits.map(([name, edit]) => ({ name: `header: ${name}`, bytes: editHeader(ckpt, edit) })),
    { name: 'NaN weight', bytes: setFloat(Number.NaN) },
    { name: 'Inf weight', bytes: setFloat(Number.POSITIVE_INFINITY) },
    { name: 'header not JSON', bytes: Buffer.concat([ckpt.subarray(0, 11), Buffer.from('['), ckpt.subarray(12)]) },
  ];
  check(
    'checkpoint.mqc',
    await fuzz(ckpt, reader('checkpoint'), {
      boundaries: [7, 11, 12, dataStart - 1, dataStart, dataStart + 4, dataStart + 64, ckpt.length],
      sizeFields: [{ name: 'header length', offset: 7, bytes: 4, littleEndian: true }],
      mutations,
      count: 240,
    }),
  );

  const config = readFileSync(join(out, 'config.json'));
  const json = JSON.parse(config.toString()) as Json;
  const variant = (edit: Json) => Buffer.from(JSON.stringify({ ...json, ...edit }));
  check(
    'config.json',
    await fuzz(config, reader('runConfig'), {
      boundaries: [1, config.indexOf(':'), config.length - 2],
      mutations: [
        { name: 'lr "x"', bytes: variant({ lr: 'x' }) },
        { name: 'epochs -1', bytes: variant({ epochs: -1 }) },
        { name: 'bits 99', bytes: variant({ bits: 99 }) },
        { name: 'quantizer nope', bytes: variant({ quantizer: 'nope' }) },
        { name: 'hidden [10^12]', bytes: variant({ hidden: [1e12] }) },
        { name: 'metaHidden 10^9', bytes: variant({ metaHidden: 1e9 }) },
        { name: 'on-nan nope', bytes: variant({ onNan: 'nope' }) },
        { name: 'array root', bytes: Buffer.from('[1,2,3]') },
        { name: 'nested 100000 deep', bytes: Buffer.from('['.repeat(100_000) + ']'.repeat(100_000)) },
        { name: 'UTF-16 BOM', bytes: Buffer.concat([Buffer.from([0xff, 0xfe]), config]) },
      ],
    }),
    0.5,
    // Dropping the final newline leaves valid JSON.
    (v) => v === `truncated to ${config.length - 1} of ${config.length} bytes`,
  );
});
