import { tf, type Variable } from '../engine/tf.js';
import { Rng } from '../util/rng.js';

let uid = 0;

/** A φ tensor drawn from U(−bound, bound), PyTorch's default-initialisation shape. */
export function uniformVariable(rng: Rng, shape: number[], bound: number, name: string): Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (rng.next() * 2 - 1) * bound;
  return tf.variable(tf.tensor(data, shape), true, `meta/${name}/${uid++}`);
}
