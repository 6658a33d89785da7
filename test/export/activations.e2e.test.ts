// Exports of activation-quantized models (issue 16): tfjs (stock TensorFlow.js in a separate
// process plus the one custom layer we ship), ONNX (onnxruntime, standard operators only) and the
// packed format (version 3) each predict as the library does.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/run/checkpoint-payload.js';
import { exportTfjs } from '../../src/export/tfjs.js';
import { exportPacked, loadPackedModelFile, readPackedFile } from '../../src/export/packed.js';
import { PACKED_VERSION_ACTIVATIONS, decodePacked } from '../../src/export/packed-format.js';
import { exportOnnx } from '../../src/export/onnx.js';
import type { TrainConfigInput } from '../../src/config/schema.js';
import { argmax, ourPredictions, tempDir, trainTiny, useBackend, type TestImages } from './trained.js';

const LOADER = fileURLToPath(new URL('../../../test/export/load-tfjs-act-model.mjs', import.meta.url));
const SYN8 = { dataset: 'synthetic:8x8x1:4:128:32', model: 'mlp', hidden: [16, 16] };

const CASES: Array<{ label: string; config: TrainConfigInput }> = [
  { label: 'mlp, dorefa 1-bit weights, dorefa 2-bit activations, STE', config: { ...SYN8, quantizer: 'dorefa', actQuantizer: 'dorefa', actBits: 2 } },
  { label: 'mlp, lsq 2-bit weights, pact 3-bit activations, STE', config: { ...SYN8, quantizer: 'lsq', bits: 2, actQuantizer: 'pact', actBits: 3 } },
  { label: 'mlp, BNN (sign weights, sign activations), MetaQuant', config: { ...SYN8, quantizer: 'sign', actQuantizer: 'sign', hiddenActivation: 'identity', method: 'metaquant', metaHidden: 8 } },
  { label: 'lenet5, bwn weights, lsq 2-bit activations, first/last float', config: { dataset: 'synthetic:12x12x1:10:64:32', model: 'lenet5', quantizer: 'bwn', actQuantizer: 'lsq', actBits: 2, keepFirstLastFp: true, batchSize: 8 } },
];

interface Prepared {
  run: string;
  ours: TestImages;
  tfjs: { classes: string[]; logits: number[][] };
  onnx: number[][];
  packed: number[][];
  packedVersion: number;
}
const prepared: Prepared[] = [];

/**
 * Agreement with our logits. A quantizer rounds, so a value within float32 noise of a rounding
 * boundary (the export sums in another order) may land on the neighbouring level and move that
 * image's logits by a level; so all but at most one image must match to 1e-4 of the logit
 * scale, and every predicted class must match.
 */
function assertAgrees(ours: number[][], theirs: number[][], what: string): void {
  assert.equal(theirs.length, ours.length, `${what}: images`);
  let off = 0;
  ours.forEach((row, i) => {
    assert.equal(argmax(theirs[i]!), argmax(row), `${what}: class of image ${i}`);
    const scale = Math.max(1, ...row.map(Math.abs));
    if (row.some((v, j) => Math.abs(v - theirs[i]![j]!) > 1e-4 * scale)) off++;
  });
  assert.ok(off <= 1, `${what}: ${off} of ${ours.length} images have logits off by more than 1e-4 of their scale`);
}

before(async () => {
  const work = tempDir('mq-act-export-');
  const jobs: Array<{ dir: string; input: string; output: string }> = [];
  for (const [i, c] of CASES.entries()) {
    const run = await trainTiny(c.config);
    await useBackend('cpu');
    const ours = await ourPredictions(run);
    const dir = join(work, `tfjs${i}`);
    await exportTfjs(run, dir);
    const input = join(work, `input${i}.json`);
    writeFileSync(input, JSON.stringify({ shape: ours.shape, pixels: Array.from(ours.pixels) }));
    jobs.push({ dir, input, output: join(work, `out${i}.json`) });
    const onnxFile = join(work, `m${i}.onnx`);
    await exportOnnx(run, onnxFile);
    const session = await ort.InferenceSession.create(onnxFile);
    const out = await session.run({ pixels: new ort.Tensor('float32', ours.pixels, ours.shape) });
    await session.release();
    const flat = Array.from(out.logits!.data as Float32Array);
    const classes = ours.logits[0]!.length;
    const onnx = ours.logits.map((_, n) => flat.slice(n * classes, (n + 1) * classes));
    const packedFile = join(work, `m${i}.mqp`);
    await exportPacked(run, packedFile);
    const model = loadPackedModelFile(packedFile);
    const packed = tf.tidy(() => (model.predict(tf.tensor4d(ours.pixels, ours.shape)) as tf.Tensor).arraySync() as number[][]);
    model.dispose();
    const bytes = readFileSync(packedFile);
    prepared.push({ run, ours, tfjs: { classes: [], logits: [] }, onnx, packed, packedVersion: bytes.readUInt32LE(8) });
    await useBackend('wasm');
  }
  writeFileSync(join(work, 'jobs.json'), JSON.stringify(jobs));
  const r = spawnSync(process.execPath, [LOADER, join(work, 'jobs.json')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  prepared.forEach((p, i) => (p.tfjs = JSON.parse(readFileSync(jobs[i]!.output, 'utf8'))));
});

CASES.forEach((c, i) => {
  test(`activation-quantized exports predict as the library: ${c.label}`, () => {
    const p = prepared[i]!;
    assert.ok(p.tfjs.classes.includes('MetaquantActQuant'), 'the tfjs model holds activation quantization layers');
    assertAgrees(p.ours.logits, p.tfjs.logits, 'stock tfjs + registerActQuantLayer');
    assertAgrees(p.ours.logits, p.onnx, 'onnxruntime');
    assertAgrees(p.ours.logits, p.packed, 'packed');
    assert.equal(p.packedVersion, PACKED_VERSION_ACTIVATIONS);
  });
});

test('the packed file stores the activation quantizer and its learned scalars', () => {
  const p = prepared[1]!;
  const { model } = loadModel(p.run);
  const file = join(tempDir('mq-act-packed-'), 'm.mqp');
  return exportPacked(p.run, file).then(() => {
    const { header, network } = decodePacked(readPackedFile(file), file);
    assert.deepEqual(header.modelConfig.actQuantizer, { name: 'pact', bits: 3 });
    for (const name of ['fc1/actAlpha', 'fc2/actAlpha', 'fc3/actAlpha', 'fc1/weightStep']) {
      assert.deepEqual(Array.from(network.weights[name]!.data), Array.from(model.params.get(name).dataSync()), name);
    }
    model.dispose();
  });
});
