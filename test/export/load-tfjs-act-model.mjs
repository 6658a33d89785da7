// Like load-tfjs-model.mjs (stock @tensorflow/tfjs, nothing else of metaquant), but first registers
// the one custom layer an activation-quantized export needs, from the tiny module metaquant ships
// (dist/src/export/tfjs-act-layer.js, which imports no tfjs of its own), the way a user would.
//   node load-tfjs-act-model.mjs JOBS.json
import * as tf from '@tensorflow/tfjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerActQuantLayer } from '../../dist/src/export/tfjs-act-layer.js';

registerActQuantLayer(tf);
await tf.setBackend('cpu');
for (const job of JSON.parse(readFileSync(process.argv[2], 'utf8'))) {
  const json = JSON.parse(readFileSync(join(job.dir, 'model.json'), 'utf8'));
  const weightData = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(job.dir, p)))));
  const handler = tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.length),
  });
  const model = await tf.loadLayersModel(handler);
  const input = JSON.parse(readFileSync(job.input, 'utf8'));
  const x = tf.tensor(input.pixels, input.shape, 'float32');
  const y = model.predict(x);
  writeFileSync(job.output, JSON.stringify({ classes: model.layers.map((l) => l.getClassName()), logits: y.arraySync() }));
  tf.dispose([x, y]);
  model.dispose();
}
