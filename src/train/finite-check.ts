import { tf, type Tensor } from '../engine/tf.js';

/** What the NaN/Inf check watches every step. */
export const NON_FINITE_QUANTITIES = ['loss', 'meta output', 'gradient'] as const;
export type NonFiniteQuantity = (typeof NON_FINITE_QUANTITIES)[number];

/**
 * Per-step NaN/Inf detection without a readback per tensor: each watched tensor t contributes
 * Σ(t·0), which is 0 when every element is finite and NaN otherwise (0·Inf = NaN); the sums of
 * all quantities are read back together once per step.
 */
export class FiniteCheck {
  private readonly probes = new Map<NonFiniteQuantity, Tensor>();

  watch(quantity: NonFiniteQuantity, tensors: Tensor | Iterable<Tensor>): void {
    const list = tensors instanceof tf.Tensor ? [tensors] : [...tensors];
    if (list.length === 0) return;
    const prev = this.probes.get(quantity);
    const probe = tf.tidy(() => list.reduce<Tensor>((acc, t) => tf.add(acc, tf.sum(tf.mul(t, 0))), prev ?? tf.scalar(0)));
    this.probes.set(quantity, tf.keep(probe));
    prev?.dispose();
  }

  /** The quantities that held NaN or Inf since the last call (one readback); resets. */
  take(): NonFiniteQuantity[] {
    if (this.probes.size === 0) return [];
    const names = [...this.probes.keys()];
    const values = tf.tidy(() => tf.stack([...this.probes.values()]).dataSync());
    this.dispose();
    return names.filter((_, i) => !Number.isFinite(values[i]!));
  }

  dispose(): void {
    tf.dispose([...this.probes.values()]);
    this.probes.clear();
  }
}
