// Loads TensorFlow.js LayersModel folders with stock @tensorflow/tfjs and nothing of metaquant,
// the way a user's program would, and writes their logits on given inputs.
//   node load-tfjs-model.mjs JOBS.json
// JOBS.json: [{ "dir": model folder, "input": file {"shape": [...], "pixels": [...]}, "output": file }]
// Each output file gets {"inputShape": [...as model.json declares], "logits": [[...], ...]}.
import * as tf from '@tensorflow/tfjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** An IOHandler over the files of a folder: model.json plus the shards its manifest lists. */
function folderHandler(dir) {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const shards = json.weightsManifest.flatMap((group) => group.paths.map((p) => readFileSync(join(dir, p))));
  const weightData = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of shards) {
    weightData.set(s, at);
    at += s.length;
  }
  return tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
    weightData: weightData.buffer,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
  });
}

await tf.setBackend('cpu');
const jobs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
for (const job of jobs) {
  const model = await tf.loadLayersModel(folderHandler(job.dir));
  const input = JSON.parse(readFileSync(job.input, 'utf8'));
  const x = tf.tensor(input.pixels, input.shape, 'float32');
  const y = model.predict(x);
  writeFileSync(job.output, JSON.stringify({ inputShape: model.inputs[0].shape, logits: y.arraySync() }));
  tf.dispose([x, y]);
  model.dispose();
}
