import { tf, type Tensor } from '../engine/tf.js';
import { checkActBits, insideGate, maxCodeOf, requireScale, uniformCodes } from './act-uniform.js';
import { actDeploymentOf } from './act-deployment.js';
import type { ActDeployment, ActQuantizerConfig, ActivationQuantizer } from './activation-types.js';

/** PACT's initial clip: inputs follow batch norm (about unit variance), so 3 keeps nearly all of them. */
export const PACT_INITIAL_ALPHA = 3;

/**
 * PACT (Choi et al. 2018): y = clip(x, 0, α) rounded to k bits, y = s·clamp(round(x/s), 0, Q)
 * with s = α/Q, Q = 2^k − 1 and α learned per layer. Backward as in the paper (rounding passed
 * straight through): ∂y/∂x = 1{0 ≤ x/s ≤ Q}, ∂y/∂α = 1{x/s > Q}.
 */
export class PactActQuantizer implements ActivationQuantizer {
  readonly name = 'pact';
  readonly bits: number;
  readonly learned = { suffix: 'actAlpha' as const, initial: PACT_INITIAL_ALPHA };
  private readonly maxCode: number;

  constructor(config: Omit<ActQuantizerConfig, 'name'> = {}) {
    this.bits = checkActBits('pact', config.bits ?? 1);
    this.maxCode = maxCodeOf(this.bits);
  }

  get label(): string {
    return `pact ${this.bits}-bit`;
  }

  getConfig(): ActQuantizerConfig {
    return { name: this.name, bits: this.bits };
  }

  quantize(x: Tensor, alpha?: Tensor): Tensor {
    const op = tf.customGrad((xArg, alphaArg, saveArg) => {
      const a = alphaArg as Tensor;
      const step = tf.div(a, this.maxCode);
      const { v, codes } = uniformCodes(xArg as Tensor, step, this.maxCode);
      (saveArg as tf.GradSaveFunc)([insideGate(v, this.maxCode), tf.cast(tf.greater(v, this.maxCode), 'float32')]);
      return {
        value: tf.mul(codes, step),
        gradFunc: (dy: Tensor, saved: Tensor[]) => [tf.mul(dy, saved[0]!), tf.reshape(tf.sum(tf.mul(dy, saved[1]!)), a.shape)],
      };
    });
    return op(x, requireScale(this.name, alpha));
  }

  deployment(alpha?: number): ActDeployment {
    return actDeploymentOf(this.getConfig(), alpha);
  }

  describe(): string {
    return [
      `pact ${this.bits}-bit activations: y = s*clamp(round(x/s), 0, ${this.maxCode}) with s = alpha/${this.maxCode}, alpha learned per layer (initial ${PACT_INITIAL_ALPHA});`,
      `  backward dL/dx = g * 1{0 <= x/s <= ${this.maxCode}}, dL/dalpha = sum of g * 1{x/s > ${this.maxCode}} (the paper's STE).`,
    ].join('\n');
  }
}
