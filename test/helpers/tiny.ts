import { tf, type Tensor } from '../../src/engine/tf.js';
import { QuantizedModel } from '../../src/models/model.js';
import { Rng } from '../../src/util/rng.js';
import type { QuantizerConfig } from '../../src/quantizers/types.js';

/** A seeded, learnable toy batch: labels are the argmax of a fixed random linear map of x. */
export function toyBatch(seed: number, n = 16, features = 6, classes = 3): { x: Tensor; y: Tensor } {
  const rng = new Rng(`toy:${seed}`);
  const x = new Float32Array(n * features).map(() => rng.normal());
  const proj = new Float32Array(features * classes).map(() => rng.normal());
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -Infinity;
    for (let c = 0; c < classes; c++) {
      let s = 0;
      for (let f = 0; f < features; f++) s += x[i * features + f]! * proj[f * classes + c]!;
      if (s > best) {
        best = s;
        y[i] = c;
      }
    }
  }
  return { x: tf.keep(tf.tensor4d(x, [n, 1, 1, features])), y: tf.keep(tf.tensor1d(y, 'int32')) };
}

export function tinyModel(quantizer: QuantizerConfig | null = { name: 'dorefa', bits: 1 }, opts: { batchNorm?: boolean; hidden?: number[]; features?: number; classes?: number; seed?: number } = {}): QuantizedModel {
  return new QuantizedModel({
    arch: 'mlp',
    inputShape: [1, 1, opts.features ?? 6],
    numClasses: opts.classes ?? 3,
    archOptions: { hidden: opts.hidden ?? [8], batchNorm: opts.batchNorm ?? true },
    quantizer,
    seed: opts.seed ?? 3,
  });
}
