// The packed model file and the compare folder's files (compare config in JSON and YAML, grid.json)
// against ≥ 200 corrupt variants each (see test/helpers/fuzz.ts): every variant is parsed or
// rejected with our error, within 2 s and 64 MiB, in a worker whose heap is capped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describeReport, fuzz, type FuzzReport } from '../helpers/fuzz.js';
import { useBackend } from '../../src/engine/backend.js';
import { QuantizedModel } from '../../src/models/model.js';
import { deployModel } from '../../src/export/deploy.js';
import { encodePacked, decodePacked, PACKED_MAGIC, type PackedHeader } from '../../src/export/packed-format.js';
import { expandGrid } from '../../src/compare/grid.js';
import { parseMethodSpec } from '../../src/compare/method-spec.js';

const READERS = fileURLToPath(new URL('../helpers/fuzz-readers-exports.js', import.meta.url));
const reader = (name: string) => ({ module: READERS, export: name });

/**
 * No crash, hang or memory blow-up; no caller-built corrupt variant (nor, unless `stillValid` says
 * so, a truncated or extended file) accepted; at least `minRejected` of all variants rejected.
 */
function check(name: string, r: FuzzReport, minRejected: number, stillValid: (v: { kind: string; name: string }) => boolean = () => false): void {
  console.log(`# ${describeReport(name, r)}`);
  console.log(`#   parsed: ${r.acceptedVariants.map((v) => `${v.kind} ${v.name}`).join('; ')}`);
  assert.ok(r.total >= 200, `${name}: only ${r.total} variants`);
  assert.deepEqual(r.failures.slice(0, 5), [], `${name}: ${r.failures.length} variants crashed, hung or used too much memory`);
  const corrupt = r.acceptedVariants.filter((v) => ['mutation', 'truncate', 'extend'].includes(v.kind) && !stillValid(v));
  assert.deepEqual(corrupt, [], `${name}: corrupt variants were accepted`);
  assert.ok(r.rejected >= r.total * minRejected, `${name}: only ${r.rejected} of ${r.total} variants rejected`);
}

type Json = Record<string, unknown>;
const enc = (s: string) => new Uint8Array(Buffer.from(s));

// ---------------------------------------------------------------------------------------------
// Packed low-bit model

const PREAMBLE = PACKED_MAGIC.length + 8;
const align4 = (n: number) => (n + 3) & ~3;

/** A packed file with a different JSON header, the data section kept (header length and padding consistent). */
function withHeader(file: Uint8Array, header: unknown, json = JSON.stringify(header)): Uint8Array {
  const old = Buffer.from(file).readUInt32LE(PACKED_MAGIC.length + 4);
  const data = file.subarray(align4(PREAMBLE + old));
  const text = Buffer.from(json);
  const out = Buffer.alloc(align4(PREAMBLE + text.length) + data.length);
  Buffer.from(file.subarray(0, PREAMBLE)).copy(out);
  out.writeUInt32LE(text.length, PACKED_MAGIC.length + 4);
  text.copy(out, PREAMBLE);
  Buffer.from(data).copy(out, align4(PREAMBLE + text.length));
  return new Uint8Array(out);
}

test('packed model (.mqp): layout, JSON header fields, float sections', async () => {
  await useBackend('cpu');
  // Ternary per channel (2-bit codes, one scale per output channel), first/last layers in float:
  // float32 and quantized blocks both present.
  const model = new QuantizedModel({ arch: 'mlp', inputShape: [2, 2, 3], numClasses: 3, archOptions: { hidden: [8, 5] }, quantizer: { name: 'ternary', perChannel: true }, keepFirstLastFp: true, seed: 3 });
  const file = encodePacked(deployModel(model, { mean: [0.1, 0.2, 0.3], std: [0.5, 0.4, 0.3] }));
  model.dispose();
  const { header } = decodePacked(file, 'valid.mqp');
  const headerLength = Buffer.from(file).readUInt32LE(PACKED_MAGIC.length + 4);
  const dataStart = align4(PREAMBLE + headerLength);
  const boundaries = [PACKED_MAGIC.length, PACKED_MAGIC.length + 4, PREAMBLE, PREAMBLE + headerLength, dataStart];
  for (const t of header.tensors) {
    boundaries.push(dataStart + t.offset);
    if (t.kind === 'quantized') boundaries.push(dataStart + t.offset + 4 * t.levels, dataStart + t.offset + 4 * (t.levels + t.scales));
  }
  const q = header.tensors.find((t) => t.kind === 'quantized')!;
  const f = header.tensors.find((t) => t.kind === 'float32')!;
  assert.ok(q.kind === 'quantized' && q.scales > 1, 'the file has a per-channel quantized tensor');

  const edit = (label: string, change: (h: PackedHeader & Json) => void) => {
    const h = structuredClone(header) as PackedHeader & Json;
    change(h);
    return { name: `header: ${label}`, bytes: withHeader(file, h) };
  };
  const tq = (h: PackedHeader) => h.tensors.find((t) => t.name === q.name)! as unknown as Json;
  const tf0 = (h: PackedHeader) => h.tensors.find((t) => t.name === f.name)! as unknown as Json;
  const cfg = (h: PackedHeader) => h.modelConfig as unknown as Json;
  const odd: [string, unknown][] = [['huge', 2 ** 40], ['2^31', 2 ** 31], ['zero', 0], ['negative', -4], ['non-integer', 2.5], ['string', '4'], ['null', null], ['1e308', 1e308]];
  const mutations: { name: string; bytes: Uint8Array }[] = [];
  for (const [label, v] of odd) {
    mutations.push(
      edit(`quantized shape [${label}, …]`, (h) => ((tq(h).shape as unknown[])[0] = v)),
      edit(`float32 shape [${label}, …]`, (h) => ((tf0(h).shape as unknown[])[0] = v)),
      edit(`bits ${label}`, (h) => (tq(h).bits = v)),
      edit(`levels ${label}`, (h) => (tq(h).levels = v)),
      edit(`scales ${label}`, (h) => (tq(h).scales = v)),
      edit(`offset ${label}`, (h) => (tq(h).offset = v)),
      edit(`dataBytes ${label}`, (h) => (h.dataBytes = v as number)),
      edit(`numClasses ${label}`, (h) => (cfg(h).numClasses = v)),
      edit(`inputShape [${label}, 2, 3]`, (h) => ((cfg(h).inputShape as unknown[])[0] = v)),
      edit(`hidden [${label}, 5]`, (h) => ((cfg(h).archOptions as Json).hidden = [v, 5])),
    );
  }
  mutations.push(
    edit('bits 3 (levels 4)', (h) => (tq(h).bits = 3)),
    edit('bits 1, levels 2 (data for 2 bits)', (h) => Object.assign(tq(h), { bits: 1, levels: 2 })),
    edit('bits 8, levels 256', (h) => Object.assign(tq(h), { bits: 8, levels: 256 })),
    edit('scales 1 (per-channel data)', (h) => (tq(h).scales = 1)),
    edit('quantized shape 65536×65536', (h) => (tq(h).shape = [65536, 65536])),
    edit('quantized shape of 9 axes', (h) => (tq(h).shape = [1, 1, 1, 1, 1, 1, 1, 1, 1])),
    edit('quantized shape []', (h) => (tq(h).shape = [])),
    edit('quantized shape transposed', (h) => (tq(h).shape = [...(tq(h).shape as number[])].reverse())),
    edit('float32 shape doubled, dataBytes too', (h) => {
      (tf0(h).shape as number[])[0]! *= 2;
      h.dataBytes *= 2;
    }),
    edit('kind float16', (h) => (tq(h).kind = 'float16')),
    edit('kind missing', (h) => delete tq(h).kind),
    edit('tensor name missing', (h) => delete tq(h).name),
    edit('tensor listed twice', (h) => h.tensors.push(h.tensors[0]!)),
    edit('tensor dropped', (h) => h.tensors.pop()),
    edit('tensors swapped', (h) => h.tensors.reverse()),
    edit('tensor table empty, dataBytes 0', (h) => Object.assign(h, { tensors: [], dataBytes: 0 })),
    edit('tensors an object', (h) => ((h as Json).tensors = { a: 1 })),
    edit('inputShape 65536×65536×1 (a 2^32-input dense layer)', (h) => (cfg(h).inputShape = [65536, 65536, 1])),
    edit('inputShape 4096×4096×3', (h) => (cfg(h).inputShape = [4096, 4096, 3])),
    edit('inputShape of 2 axes', (h) => (cfg(h).inputShape = [2, 2])),
    edit('numClasses 10^9', (h) => (cfg(h).numClasses = 1e9)),
    edit('numClasses 4', (h) => (cfg(h).numClasses = 4)),
    edit('hidden [10^6, 10^6]', (h) => ((cfg(h).archOptions as Json).hidden = [1e6, 1e6])),
    edit('hidden of 10^4 layers', (h) => ((cfg(h).archOptions as Json).hidden = [8, 5, ...new Array(10_000).fill(7)])),
    edit('hidden "8,5"', (h) => ((cfg(h).archOptions as Json).hidden = '8,5')),
    edit('batchNorm "yes"', (h) => ((cfg(h).archOptions as Json).batchNorm = 'yes')),
    edit('batchNorm false (bn tensors left over)', (h) => ((cfg(h).archOptions as Json).batchNorm = false)),
    edit('arch lenet5', (h) => (cfg(h).arch = 'lenet5')),
    edit('arch resnet20', (h) => (cfg(h).arch = 'resnet20')),
    edit('arch unknown', (h) => (cfg(h).arch = 'transformer')),
    edit('modelConfig missing', (h) => delete (h as Json).modelConfig),
    edit('normalization std 0', (h) => (h.normalization.std[0] = 0)),
    edit('normalization of 1 channel', (h) => (h.normalization = { mean: [0], std: [1] })),
    edit('normalization mean "NaN"', (h) => ((h.normalization.mean as unknown[])[0] = 'NaN')),
    edit('format other', (h) => ((h as Json).format = 'onnx')),
    { name: 'header: JSON array', bytes: withHeader(file, null, '[]') },
    { name: 'header: JSON null', bytes: withHeader(file, null, 'null') },
    { name: 'header: nested 100000 deep', bytes: withHeader(file, null, '['.repeat(100_000) + ']'.repeat(100_000)) },
    { name: 'header: invalid UTF-8', bytes: withHeader(file, null, JSON.stringify(header).replace('metaquant-packed', 'metaquant-pack\udc80d')) },
  );
  const setU32 = (at: number, v: number) => {
    const b = Buffer.from(file);
    b.writeUInt32LE(v, at);
    return new Uint8Array(b);
  };
  const setF32 = (at: number, v: number) => {
    const b = Buffer.from(file);
    b.writeFloatLE(v, at);
    return new Uint8Array(b);
  };
  mutations.push({ name: 'unknown version 99', bytes: setU32(PACKED_MAGIC.length, 99) }, { name: 'version 1 (no trailer expected)', bytes: setU32(PACKED_MAGIC.length, 1) }, { name: 'version 0', bytes: setU32(PACKED_MAGIC.length, 0) });
  for (const [label, v] of [['NaN', Number.NaN], ['+Inf', Infinity], ['-Inf', -Infinity]] as const) {
    const last = (t: { offset: number; shape: number[] }) => dataStart + t.offset + 4 * (t.shape.reduce((a, b) => a * b, 1) - 1);
    mutations.push(
      { name: `${label} in float32 tensor '${f.name}' (first element)`, bytes: setF32(dataStart + f.offset, v) },
      { name: `${label} in float32 tensor '${f.name}' (last element)`, bytes: setF32(last(f), v) },
      { name: `${label} in levels of '${q.name}'`, bytes: setF32(dataStart + q.offset + 4, v) },
      { name: `${label} in scales of '${q.name}'`, bytes: setF32(dataStart + q.offset + 4 * q.levels + 4 * (q.scales - 1), v) },
    );
  }
  const r = await fuzz(file, reader('packedModel'), {
    boundaries: [...boundaries, file.length],
    sizeFields: [
      { name: 'version', offset: PACKED_MAGIC.length, bytes: 4, littleEndian: true },
      { name: 'header length', offset: PACKED_MAGIC.length + 4, bytes: 4, littleEndian: true },
    ],
    mutations,
    count: 320,
    seed: 'packed',
  });
  check('packed model', r, 0.5);
});

// ---------------------------------------------------------------------------------------------
// Compare config (JSON, YAML) and grid.json

const CONFIG = {
  methods: { ste: 'ste', fcgrad: 'metaquant:fcgrad+meta-hidden=4' },
  quantizers: ['dorefa:2', 'bwn'],
  optimizers: ['sgd', 'adam'],
  seeds: [1, 2, 3],
  epochs: 2,
  jobs: 2,
  lastK: 2,
  out: 'runs/fuzz-grid',
  train: { model: 'mlp', hidden: [16], dataset: 'synthetic:4x4x1:3:32:8', batchSize: 8, augment: false },
};

/** Edits to the config, each a corrupt or hostile value the compare command must reject. */
const CONFIG_EDITS: [string, Json][] = [
  ['methods 5', { methods: 5 }],
  ['methods [1, 2]', { methods: [1, 2] }],
  ['methods {a: 5}', { methods: { a: 5 } }],
  ['methods []', { methods: [] }],
  ['methods listed twice', { methods: ['ste', 'ste'] }],
  ['methods unknown', { methods: ['nope'] }],
  ['method spec with 2 colons', { methods: ['metaquant:fcgrad:x'] }],
  ['method sets --epochs', { methods: ['ste+epochs=3'] }],
  ['method with unknown flag', { methods: ['ste+nope=1'] }],
  ['methods: 2000 specs (a 24 000-run grid)', { methods: Array.from({ length: 2000 }, (_, i) => `ste+lr=${i + 1}`) }],
  ['methods missing', { methods: undefined }],
  ['quantizers {}', { quantizers: {} }],
  ['quantizers unknown', { quantizers: ['dorefa:99'] }],
  ['quantizers []', { quantizers: [] }],
  ['optimizers [null]', { optimizers: [null] }],
  ['optimizers unknown', { optimizers: ['lbfgs'] }],
  ['seeds "x"', { seeds: 'x' }],
  ['seeds [1.5]', { seeds: [1.5] }],
  ['seeds [2^53 + 2]', { seeds: [2 ** 53 + 2] }],
  ['seeds 1e308 × 10', { seeds: new Array(10).fill(1e308) }],
  ['seeds 0..4999 (a 40 000-run grid)', { seeds: Array.from({ length: 5000 }, (_, i) => i) }],
  ['epochs 0', { epochs: 0 }],
  ['epochs -1', { epochs: -1 }],
  ['epochs 2.5', { epochs: 2.5 }],
  ['epochs "5"', { epochs: '5' }],
  ['epochs 1e20', { epochs: 1e20 }],
  ['jobs 0', { jobs: 0 }],
  ['jobs 1e300', { jobs: 1e300 }],
  ['lastK -1', { lastK: -1 }],
  ['out 5', { out: 5 }],
  ['out null', { out: null }],
  ['unknown key', { method: ['ste'] }],
  ['train [1]', { train: [1] }],
  ['train "x"', { train: 'x' }],
  ['train null', { train: null }],
  ['train.hidden {a: 1}', { train: { ...CONFIG.train, hidden: { a: 1 } } }],
  ['train.model 5 levels deep', { train: { ...CONFIG.train, model: { a: { b: { c: { d: 1 } } } } } }],
  ['train unknown flag', { train: { ...CONFIG.train, bogus: 1 } }],
  ['train sets epochs', { train: { ...CONFIG.train, epochs: 3 } }],
  ['train sets out', { train: { ...CONFIG.train, out: '/tmp/x' } }],
  ['train.augment "no"', { train: { ...CONFIG.train, augment: 'no' } }],
  ['train.lr true', { train: { ...CONFIG.train, lr: true } }],
  ['train.batchSize "x"', { train: { ...CONFIG.train, batchSize: 'x' } }],
  ['train.model unknown', { train: { ...CONFIG.train, model: 'vgg' } }],
];

/** A small valid config as YAML: comments, block and flow style. */
const YAML_CONFIG = `# a compare grid
methods:
  ste: ste
  fcgrad: "metaquant:fcgrad+meta-hidden=4"
quantizers: ["dorefa:2", bwn]
optimizers: [sgd, adam]
seeds:
  - 1
  - 2
  - 3
epochs: 2
jobs: 2
lastK: 2
out: runs/fuzz-grid
train:
  model: mlp
  hidden: [16]
  dataset: "synthetic:4x4x1:3:32:8"
  batchSize: 8
  augment: false
`;

/** The file is read (InputFileError), then the grid it describes checked (UsageError, naming the file or the value). */
const COMPARE_ERRORS = ['InputFileError', 'UsageError'];

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

test('compare config (JSON): wrong types, huge numbers, deep nesting, huge grids', async () => {
  const text = JSON.stringify(CONFIG, null, 2) + '\n';
  const mutations = [
    ...CONFIG_EDITS.map(([name, e]) => ({ name, bytes: enc(JSON.stringify({ ...CONFIG, ...e }, null, 2)) })),
    { name: 'seeds [1e400] (Infinity)', bytes: enc(text.replace('"seeds": [', '"seeds": [1e400, ')) },
    { name: 'epochs 99999999999999999999', bytes: enc(text.replace('"epochs": 2', '"epochs": 99999999999999999999')) },
    { name: 'train nested 100000 deep', bytes: enc(text.replace('"model": "mlp"', `"model": ${deep(100_000)}`)) },
    { name: 'root nested 100000 deep', bytes: enc(deep(100_000)) },
    { name: 'array root', bytes: enc('[1, 2, 3]') },
    { name: 'string root', bytes: enc('"ste"') },
    { name: 'null root', bytes: enc('null') },
    { name: 'empty object', bytes: enc('{}') },
    { name: '__proto__ key holding methods', bytes: enc('{"__proto__": {"methods": ["ste"]}, "out": "x"}') },
    { name: 'duplicate key overriding to a bad value', bytes: enc(text.replace('"epochs": 2', '"epochs": 2, "epochs": -2')) },
    { name: 'larger than 1 MiB', bytes: enc(text.replace('"out"', `"pad": "${'x'.repeat(1 << 20)}", "out"`)) },
    { name: 'UTF-16 LE', bytes: new Uint8Array(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')])) },
    { name: 'NUL bytes', bytes: enc(text.replace('"ste"', '"st\u0000e"')) },
  ];
  const r = await fuzz(enc(text), reader('compareConfigJson'), {
    boundaries: [1, text.indexOf('"quantizers"'), text.indexOf('"train"'), text.length - 2],
    mutations,
    count: 240,
    seed: 'compare-json',
    expectedErrors: COMPARE_ERRORS,
  });
  // Dropping the final newline leaves valid JSON.
  check('compare config (JSON)', r, 0.5, (v) => v.name === `truncated to ${text.length - 1} of ${text.length} bytes`);
});

test('compare config (YAML): alias bombs, tags, merge keys, deep nesting, wrong types', async () => {
  const yamlOf = (edit: Json) => {
    const c = { ...CONFIG, ...edit };
    // JSON is YAML; keys left out by `undefined` vanish here as in a hand-written file.
    return enc(JSON.stringify(c, null, 2));
  };
  const bomb = (levels: number) => {
    let s = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < levels; i++) s += `a${i}: &a${i} [${new Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
    return s;
  };
  const base = YAML_CONFIG;
  const mutations = [
    ...CONFIG_EDITS.map(([name, e]) => ({ name: `${name} (as YAML)`, bytes: yamlOf(e) })),
    { name: 'billion laughs (9 levels of 10 aliases) under train', bytes: enc(`${bomb(9)}${base.replace('  model: mlp', '  model: *a8')}`.replace(/^a(\d): /gm, 'x$1: ')) },
    { name: 'billion laughs at top level', bytes: enc(bomb(9) + base) },
    { name: 'alias bomb inside train (unknown keys)', bytes: enc(base.replace('train:\n', `train:\n  ${bomb(4).trim().split('\n').join('\n  ')}\n`)) },
    { name: '3-level alias fan-out into train.hidden', bytes: enc(base.replace('  hidden: [16]', `  h0: &h0 [1, 2]\n  h1: &h1 [*h0, *h0, *h0]\n  hidden: [*h1, *h1, *h1]`)) },
    { name: 'alias: optimizers = quantizers', bytes: enc(base.replace('quantizers: ["dorefa:2", bwn]', 'quantizers: &q ["dorefa:2", bwn]').replace('optimizers: [sgd, adam]', 'optimizers: *q')) },
    { name: 'undefined alias', bytes: enc(base.replace('optimizers: [sgd, adam]', 'optimizers: *nope')) },
    { name: 'merge key << into train (unknown flag)', bytes: enc(base.replace('train:\n', 'extra: &e {bogus: 1}\ntrain:\n  <<: *e\n')) },
    { name: 'merge key << at the top', bytes: enc(`defaults: &d {epochs: 2}\n<<: *d\n${base}`) },
    { name: '!!set train', bytes: enc(base.replace(/train:\n[\s\S]*$/, 'train: !!set {model, hidden}\n')) },
    { name: '!!binary seeds', bytes: enc(base.replace(/seeds:\n(  - \d\n)+/, 'seeds: !!binary AAECAw==\n')) },
    { name: '!!omap methods', bytes: enc(base.replace(/methods:\n  ste: ste\n  fcgrad: .*\n/, 'methods: !!omap [ {ste: ste}, {x: 5} ]\n')) },
    { name: '!!timestamp epochs', bytes: enc(base.replace('epochs: 2', 'epochs: !!timestamp 2001-12-14')) },
    { name: '!!js/function out', bytes: enc(base.replace('out: runs/fuzz-grid', 'out: !!js/function "function(){}"\nbad: 1')) },
    { name: '!!float epochs', bytes: enc(base.replace('epochs: 2', 'epochs: !!float 2.5')) },
    { name: 'epochs .inf', bytes: enc(base.replace('epochs: 2', 'epochs: .inf')) },
    { name: 'epochs .nan', bytes: enc(base.replace('epochs: 2', 'epochs: .nan')) },
    { name: 'epochs 0x7fffffffffffffff', bytes: enc(base.replace('epochs: 2', 'epochs: 0x7fffffffffffffff')) },
    { name: 'seeds 1e400', bytes: enc(base.replace('  - 1\n', '  - 1e400\n')) },
    { name: 'seeds 99999999999999999999', bytes: enc(base.replace('  - 1\n', '  - 99999999999999999999\n')) },
    { name: 'seeds "1" (quoted)', bytes: enc(base.replace('  - 1\n', '  - "1"\n')) },
    { name: 'complex mapping key', bytes: enc(base.replace('train:\n', '? [a, b]\n: 1\ntrain:\n')) },
    { name: 'duplicate key', bytes: enc(base.replace('epochs: 2', 'epochs: 2\nepochs: -2')) },
    { name: 'two documents', bytes: enc(`${base}---\nmethods: [ste]\n`) },
    { name: 'tab indentation', bytes: enc(base.replace('  model: mlp', '\tmodel: mlp')) },
    { name: 'unclosed flow sequence', bytes: enc(base.replace('[sgd, adam]', '[sgd, adam')) },
    { name: 'flow nested 100000 deep', bytes: enc(deep(100_000)) },
    { name: 'train nested 100000 deep', bytes: enc(base.replace('  model: mlp', `  model: ${deep(100_000)}`)) },
    { name: 'block mappings 1400 deep (just under 1 MiB)', bytes: enc(Array.from({ length: 1400 }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + ' 1\n') },
    { name: 'scalar root', bytes: enc('ste\n') },
    { name: 'sequence root', bytes: enc('- ste\n- bwn\n') },
    { name: 'empty document', bytes: enc('') },
    { name: 'comment only', bytes: enc('# nothing\n') },
    { name: 'larger than 1 MiB', bytes: enc(`${base}# ${'x'.repeat(1 << 20)}\n`) },
    { name: 'NUL byte', bytes: enc(base.replace('ste: ste', 'ste: st\u0000e')) },
    { name: 'UTF-16 LE', bytes: new Uint8Array(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(base, 'utf16le')])) },
  ];
  const r = await fuzz(enc(base), reader('compareConfigYaml'), {
    boundaries: [1, base.indexOf('quantizers'), base.indexOf('seeds'), base.indexOf('train:'), base.length - 2],
    mutations,
    count: 240,
    seed: 'compare-yaml',
    expectedErrors: COMPARE_ERRORS,
  });
  // A YAML file cut at a line (or in a comment) is often a valid, smaller config.
  check('compare config (YAML)', r, 0.3, (v) => v.kind === 'truncate' || v.kind === 'extend');
});

test('grid.json of a compare folder', async () => {
  const runs = expandGrid({
    methods: ['ste', 'metaquant:fcgrad'].map((m) => parseMethodSpec(m)),
    quantizers: ['dorefa:2', 'bwn'],
    optimizers: ['adam'],
    seeds: [1, 2],
    epochs: 2,
    common: { model: 'mlp', hidden: [16] },
  });
  const grid = { format: 'metaquant-compare-grid', version: 2, runs };
  const text = JSON.stringify(grid, null, 2) + '\n';
  const edit = (name: string, change: (g: { format: unknown; version: unknown; runs: Json[] }) => void) => {
    const g = structuredClone(grid) as unknown as { format: unknown; version: unknown; runs: Json[] };
    change(g);
    return { name, bytes: enc(JSON.stringify(g)) };
  };
  const mutations = [
    edit('format other', (g) => (g.format = 'metaquant-grid')),
    edit('version 3', (g) => (g.version = 3)),
    edit('version 1 (its runs hold args)', (g) => (g.version = 1)),
    edit('version "2"', (g) => (g.version = '2')),
    edit('runs {}', (g) => ((g as Json).runs = {})),
    edit('runs missing', (g) => delete (g as Json).runs),
    edit('run id ".."', (g) => (g.runs[0]!.id = '..')),
    edit('run id "."', (g) => (g.runs[0]!.id = '.')),
    edit('run id "../../etc"', (g) => (g.runs[0]!.id = '../../etc')),
    edit('run id with a space', (g) => (g.runs[0]!.id = 'a b')),
    edit('run id ""', (g) => (g.runs[0]!.id = '')),
    edit('run id 5', (g) => (g.runs[0]!.id = 5)),
    edit('run listed twice', (g) => g.runs.push(g.runs[0]!)),
    edit('two runs with one id', (g) => (g.runs[1]!.id = g.runs[0]!.id)),
    edit('seed 1.5', (g) => (g.runs[0]!.seed = 1.5)),
    edit('seed 1e400 (as null)', (g) => (g.runs[0]!.seed = Infinity)),
    edit('epochs 0', (g) => (g.runs[0]!.epochs = 0)),
    edit('epochs -1', (g) => (g.runs[0]!.epochs = -1)),
    edit('epochs "2"', (g) => (g.runs[0]!.epochs = '2')),
    edit('config [1]', (g) => (g.runs[0]!.config = [1])),
    edit('config "x"', (g) => (g.runs[0]!.config = 'x')),
    edit('config missing', (g) => delete g.runs[0]!.config),
    edit('config with an unknown key', (g) => ((g.runs[0]!.config as Json).lrr = 0.1)),
    edit('config lr -1', (g) => ((g.runs[0]!.config as Json).lr = -1)),
    edit('config quantizer unknown', (g) => ((g.runs[0]!.config as Json).quantizer = 'xnor')),
    edit('method missing', (g) => delete g.runs[0]!.method),
    edit('run null', (g) => ((g.runs as unknown[])[0] = null)),
    { name: 'epochs 99999999999999999999', bytes: enc(text.replace('"epochs": 2', '"epochs": 99999999999999999999')) },
    { name: 'config nested 100000 deep', bytes: enc(text.replace('"config": {', `"config": {"deep": ${deep(100_000)}, `)) },
    { name: 'root nested 100000 deep', bytes: enc(deep(100_000)) },
    { name: 'array root', bytes: enc('[]') },
    { name: 'null root', bytes: enc('null') },
    { name: 'UTF-16 LE', bytes: new Uint8Array(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')])) },
  ];
  const r = await fuzz(enc(text), reader('gridFile'), {
    boundaries: [1, text.indexOf('"runs"'), text.indexOf('"config"'), text.length - 2],
    mutations,
    count: 220,
    seed: 'grid',
  });
  check('grid.json', r, 0.5, (v) => v.name === `truncated to ${text.length - 1} of ${text.length} bytes`);
});
