import { tf, type Tensor } from '../engine/tf.js';
import { checkFixedBits } from './base.js';
import { hardtanhGate, signZeroIsPlusOne } from './estimators.js';
import type { ActDeployment, ActQuantizerConfig, ActivationQuantizer } from './activation-types.js';

/**
 * Larq's `ste_sign` on activations: y = sign(x) ∈ {−1, +1} with sign(0) = +1, and the clipped
 * straight-through estimator ∂y/∂x = 1{|x| ≤ 1}. Needs inputs that can be negative (a ReLU
 * before it would make every activation +1: use `--hidden-activation identity`).
 */
export class SignActQuantizer implements ActivationQuantizer {
  readonly name = 'sign';
  readonly bits = 1;
  readonly label = 'sign';
  readonly learned = null;

  constructor(config: Omit<ActQuantizerConfig, 'name'> = {}) {
    checkFixedBits('sign activation', config.bits, 1);
  }

  getConfig(): ActQuantizerConfig {
    return { name: this.name, bits: 1 };
  }

  quantize(x: Tensor): Tensor {
    const op = tf.customGrad((xArg, saveArg) => {
      const input = xArg as Tensor;
      (saveArg as tf.GradSaveFunc)([hardtanhGate(input)]);
      return { value: signZeroIsPlusOne(input), gradFunc: (dy: Tensor, saved: Tensor[]) => tf.mul(dy, saved[0]!) };
    });
    return op(x);
  }

  deployment(): ActDeployment {
    return { kind: 'sign' };
  }

  describe(): string {
    return 'sign activations: y = sign(x) in {-1, +1} with sign(0) = +1; backward dL/dx = g * 1{|x| <= 1} (clipped STE).';
  }
}
