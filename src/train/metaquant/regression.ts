import { tf, type Tensor } from '../../engine/tf.js';
import type { MeanAccumulator } from '../diagnostics.js';
import type { ForwardRecord } from './forward.js';
import type { KernelLayout, MetaCall } from './meta-pass.js';

/**
 * `--phi-objective ste-regression` (and `--meta-warmup`): φ is trained to make the meta network's
 * calibrated output reproduce the STE gradient, instead of by the task loss. In the spec's
 * notation (§2, §6), with m = M_φ(g_Ŵ^{t−1}, W̃^{t−1}) this iteration's meta output, cal = cal(W_t)
 * and δ = ∂L/∂W_meta the STE gradient this iteration's backward computes (the gradient STE would
 * apply, and the one the `cosMetaSte` diagnostic compares cal ⊙ m with):
 *
 *   J(φ) = ‖cal ⊙ m(φ) − δ‖² / ‖δ‖²     (all quantized kernels together; ‖δ‖² a constant)
 *
 * the squared error relative to the target's energy: J = 1 at m = 0, 0 for a perfect fit. The
 * normalisation makes J scale-free (gradients are ~1e-4, so a plain mean square would be ~1e-8 and
 * its φ-gradient would sit below Adam's ε = 1e-8). φ's gradient is the VJP of M_φ with cotangent
 *
 *   u = ∂J/∂m = 2·cal ⊙ (cal ⊙ m − δ) / ‖δ‖².
 *
 * Nothing crosses the quantizer on this path (δ is a constant here), so it needs no φ-path
 * (phi-path.ts wraps it as the strategy `steRegressionPath`). Returns φ's gradient (the caller owns it).
 */
export function steRegressionGradient({ layout, calibration, call, forward, diag }: { layout: KernelLayout; calibration: Map<string, Tensor>; call: MetaCall; forward: ForwardRecord; diag: MeanAccumulator }): Map<string, Tensor> {
  const m = call.values().metaGrad;
  const { u, error } = tf.tidy(() => {
    const cal = layout.flatten((k) => calibration.get(k)!);
    const delta = layout.flatten((k) => forward.grads.get(k)!);
    const residual = tf.sub(tf.mul(cal, m), delta);
    // An all-zero δ (no signal at all) would divide by zero; the floor leaves every real case alone.
    const energy = tf.maximum(tf.sum(tf.square(delta)), 1e-30);
    return { u: tf.div(tf.mul(tf.mul(cal, residual), 2), energy), error: tf.div(tf.sum(tf.square(residual)), energy) };
  });
  diag.add('phiRegressionError', error.dataSync()[0]!);
  error.dispose();
  const grads = call.vjp(u);
  u.dispose();
  return grads;
}
