// Tiny trained checkpoints shared by the export tests, and our own predictions for them.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { Trainer } from '../../src/train/trainer.js';
import { loadModel } from '../../src/run/checkpoint-payload.js';
import { loadDataset } from '../../src/data/index.js';
import { makeBatch } from '../../src/data/pipeline.js';
import type { TrainConfigInput } from '../../src/config/schema.js';

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

/** Trains `config` (wasm backend, seeded) into a fresh run folder and returns its path. */
export async function trainTiny(config: TrainConfigInput): Promise<string> {
  const trainer = await Trainer.create({ epochs: 1, batchSize: 32, lr: 0.01, backend: 'wasm', seed: 1, ...config, out: join(tempDir('mq-export-'), 'run') });
  await trainer.run();
  trainer.dispose();
  return trainer.out;
}

export interface TestImages {
  /** Raw pixel values (the exported models' input): the data set's [0,1] images × 255. */
  pixels: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array;
  /** Our logits: QuantizedModel.predict on the data pipeline's normalised batch. */
  logits: number[][];
}

/** The run's test split (first `limit` images) and our model's logits on them, on the current backend. */
export async function ourPredictions(runDir: string, limit = 32): Promise<TestImages> {
  const { model, payload } = loadModel(runDir);
  const ds = await loadDataset({ dataset: payload.config.dataset, dataDir: payload.config.dataDir, trainLimit: payload.config.trainLimit, testLimit: payload.config.testLimit });
  const count = Math.min(limit, ds.test.count);
  const indices = Int32Array.from({ length: count }, (_, i) => i);
  const batch = makeBatch(ds, 'test', indices);
  const shape: TestImages['shape'] = [count, ds.height, ds.width, ds.channels];
  const logits = tf.tidy(() => model.predict(tf.tensor4d(batch.images, shape)).arraySync() as number[][]);
  model.dispose();
  const pixels = ds.test.images.slice(0, count * ds.height * ds.width * ds.channels).map((v) => v * 255);
  return { pixels, shape, labels: batch.labels, logits };
}

export const argmax = (row: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
};

/** Largest |a − b| over two logit matrices of the same shape. */
export function maxAbsDiff(a: number[][], b: number[][]): number {
  let m = 0;
  a.forEach((row, i) => row.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i]![j]!)))));
  return m;
}

export { useBackend };
