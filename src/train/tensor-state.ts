import { tf, type Tensor } from '../engine/tf.js';

/** A tensor as plain data, for checkpoints. */
export interface SavedTensor {
  shape: number[];
  data: Float32Array;
}

export function saveTensor(t: Tensor): SavedTensor {
  return { shape: t.shape.slice(), data: Float32Array.from(t.dataSync() as Float32Array) };
}

export function loadTensor(s: SavedTensor): Tensor {
  return tf.keep(tf.tensor(s.data, s.shape, 'float32'));
}

export function saveTensorMap(m: Map<string, Tensor>): Record<string, SavedTensor> {
  const out: Record<string, SavedTensor> = {};
  for (const [k, v] of m) out[k] = saveTensor(v);
  return out;
}

export function loadTensorMap(r: Record<string, SavedTensor>): Map<string, Tensor> {
  const m = new Map<string, Tensor>();
  for (const [k, v] of Object.entries(r)) m.set(k, loadTensor(v));
  return m;
}

/** Replaces `map[key]` with `value`, disposing the tensor it held. `value` is kept. */
export function replaceKept(map: Map<string, Tensor>, key: string, value: Tensor): void {
  const old = map.get(key);
  map.set(key, tf.keep(value));
  if (old && old !== value) old.dispose();
}

export function disposeMap(m: Map<string, Tensor>): void {
  for (const t of m.values()) t.dispose();
  m.clear();
}
