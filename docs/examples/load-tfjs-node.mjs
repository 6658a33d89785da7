// Load a `metaquant export --format tfjs` folder in Node with plain @tensorflow/tfjs.
// tf.loadLayersModel('file://…') only works with @tensorflow/tfjs-node; without it, read the files:
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

async function loadLayersModelFromFolder(dir) {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const weightSpecs = json.weightsManifest.flatMap((group) => group.weights);
  const shards = json.weightsManifest.flatMap((group) => group.paths.map((p) => readFileSync(join(dir, p))));
  const weightData = new Uint8Array(Buffer.concat(shards)).buffer; // a copy: its own ArrayBuffer
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
}

const model = await loadLayersModelFromFolder(process.argv[2] ?? 'runs/l1/tfjs');
const images = tf.fill([2, ...model.inputs[0].shape.slice(1)], 128); // raw pixels 0–255, [N, H, W, C]
const logits = model.predict(images);
console.log('classes:', Array.from(logits.argMax(-1).dataSync()));
