import { tf, type Tensor } from '../engine/tf.js';
import { checkActBits, insideGate, maxCodeOf, uniformCodes } from './act-uniform.js';
import { actDeploymentOf } from './act-deployment.js';
import type { ActDeployment, ActQuantizerConfig, ActivationQuantizer } from './activation-types.js';

/**
 * DoReFa-Net's k-bit activations: clip x to [0, 1], round to the grid {i/(2^k − 1)}; the
 * straight-through gradient passes inside the clip range, ∂y/∂x = 1{0 ≤ x ≤ 1}.
 */
export class DorefaActQuantizer implements ActivationQuantizer {
  readonly name = 'dorefa';
  readonly bits: number;
  readonly learned = null;
  private readonly maxCode: number;
  /** The grid step 1/(2^k − 1) as float32, the value exports store. */
  private readonly step: number;

  constructor(config: Omit<ActQuantizerConfig, 'name'> = {}) {
    this.bits = checkActBits('dorefa', config.bits ?? 1);
    this.maxCode = maxCodeOf(this.bits);
    this.step = Math.fround(1 / this.maxCode);
  }

  get label(): string {
    return `dorefa ${this.bits}-bit`;
  }

  getConfig(): ActQuantizerConfig {
    return { name: this.name, bits: this.bits };
  }

  quantize(x: Tensor): Tensor {
    const op = tf.customGrad((xArg, saveArg) => {
      const { v, codes } = uniformCodes(xArg as Tensor, this.step, this.maxCode);
      (saveArg as tf.GradSaveFunc)([insideGate(v, this.maxCode)]);
      return { value: tf.mul(codes, this.step), gradFunc: (dy: Tensor, saved: Tensor[]) => tf.mul(dy, saved[0]!) };
    });
    return op(x);
  }

  deployment(): ActDeployment {
    return actDeploymentOf(this.getConfig());
  }

  describe(): string {
    return [
      `dorefa ${this.bits}-bit activations: y = s*clamp(round(x/s), 0, ${this.maxCode}) with s = 1/${this.maxCode} (clip to [0, 1], round half to even);`,
      `  backward dL/dx = g * 1{0 <= x/s <= ${this.maxCode}} (straight-through inside the clip range).`,
    ].join('\n');
  }
}
