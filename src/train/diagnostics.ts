import { tf, type Tensor } from '../engine/tf.js';
import { loadTensorMap, saveTensorMap, type SavedTensor } from './tensor-state.js';

/** Running means of named per-step scalars, taken once per epoch. */
export class MeanAccumulator {
  private readonly sums = new Map<string, { sum: number; n: number }>();

  add(name: string, value: number): void {
    if (!Number.isFinite(value)) return;
    const s = this.sums.get(name) ?? { sum: 0, n: 0 };
    s.sum += value;
    s.n += 1;
    this.sums.set(name, s);
  }

  take(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, s] of this.sums) out[k] = s.sum / s.n;
    this.sums.clear();
    return out;
  }

  /** The running sums as plain data (checkpoints: resumed epochs report the same means). */
  getState(): Record<string, { sum: number; n: number }> {
    return Object.fromEntries([...this.sums].map(([k, s]) => [k, { ...s }]));
  }

  setState(state: Record<string, { sum: number; n: number }> | undefined): void {
    this.sums.clear();
    for (const [k, s] of Object.entries(state ?? {})) this.sums.set(k, { ...s });
  }
}

/**
 * Fraction of quantized weights whose value changed since the previous step (the "flip ratio"),
 * over all quantized layers together.
 */
export class FlipTracker {
  private readonly previous = new Map<string, Tensor>();

  /** Records this step's Ŵ per layer and returns the flip ratio against the last call (NaN the first time). */
  update(current: Map<string, Tensor>): number {
    let total = 0;
    const counts: Tensor[] = [];
    for (const [name, w] of current) {
      const prev = this.previous.get(name);
      if (prev) {
        counts.push(tf.tidy(() => tf.sum(tf.cast(tf.notEqual(prev, w), 'int32'))));
        total += w.size;
        prev.dispose();
      }
      this.previous.set(name, tf.keep(w.clone()));
    }
    if (counts.length === 0 || total === 0) return Number.NaN;
    // One readback for all layers (integer counts: the sum is exact in any order).
    const changed = tf.tidy(() => tf.stack(counts).dataSync());
    tf.dispose(counts);
    let sum = 0;
    for (const c of changed) sum += c;
    return sum / total;
  }

  /** The last recorded Ŵ per layer, as plain data. */
  getState(): Record<string, SavedTensor> {
    return saveTensorMap(this.previous);
  }

  setState(state: Record<string, SavedTensor> | undefined): void {
    this.dispose();
    for (const [k, v] of loadTensorMap(state ?? {})) this.previous.set(k, v);
  }

  dispose(): void {
    for (const t of this.previous.values()) t.dispose();
    this.previous.clear();
  }
}

/** Cosine similarity of two tensors taken as flat vectors. */
export function cosine(a: Tensor, b: Tensor): number {
  return tf.tidy(() => {
    const dot = tf.sum(tf.mul(a, b));
    const norm = tf.mul(tf.norm(a), tf.norm(b));
    const n = norm.dataSync()[0]!;
    return n === 0 ? Number.NaN : dot.dataSync()[0]! / n;
  });
}

/**
 * Cosine similarity of each pair, as {@link cosine} computes it, with one readback for all
 * pairs (a training step reports one per quantized layer).
 */
export function cosines(pairs: Array<[Tensor, Tensor]>): number[] {
  if (pairs.length === 0) return [];
  const values = tf.tidy(() =>
    tf.stack(pairs.flatMap(([a, b]) => [tf.sum(tf.mul(a, b)), tf.mul(tf.norm(a), tf.norm(b))])).dataSync(),
  );
  return pairs.map((_, i) => {
    const n = values[2 * i + 1]!;
    return n === 0 ? Number.NaN : values[2 * i]! / n;
  });
}
