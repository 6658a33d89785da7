import type { Tensor } from '../engine/tf.js';
import { checkActBits, maxCodeOf, requireScale } from './act-uniform.js';
import { actDeploymentOf } from './act-deployment.js';
import { lsqQuantize } from './lsq-grid.js';
import type { ActDeployment, ActQuantizerConfig, ActivationQuantizer } from './activation-types.js';

/**
 * LSQ's initial step 2·E|x|/√Q_P (the paper's data-based rule) evaluated for the inputs it sees
 * here, batch-normalised pre-activations through ReLU, whose E|x| is 1/√(2π) ≈ 0.4.
 */
export const lsqInitialActStep = (bits: number): number => (2 * 0.4) / Math.sqrt(maxCodeOf(bits));

/**
 * LSQ on activations (unsigned, as the paper does after ReLU): y = s·clamp(round(x/s), 0, Q_P),
 * Q_P = 2^k − 1, s learned per layer; its gradient is scaled by 1/√(N·Q_P) with N the features
 * per example.
 */
export class LsqActQuantizer implements ActivationQuantizer {
  readonly name = 'lsq';
  readonly bits: number;
  readonly learned: { suffix: 'actStep'; initial: number };
  private readonly maxCode: number;

  constructor(config: Omit<ActQuantizerConfig, 'name'> = {}) {
    this.bits = checkActBits('lsq', config.bits ?? 1);
    this.maxCode = maxCodeOf(this.bits);
    this.learned = { suffix: 'actStep', initial: lsqInitialActStep(this.bits) };
  }

  get label(): string {
    return `lsq ${this.bits}-bit`;
  }

  getConfig(): ActQuantizerConfig {
    return { name: this.name, bits: this.bits };
  }

  quantize(x: Tensor, step?: Tensor): Tensor {
    const features = x.size / Math.max(x.shape[0] ?? 1, 1);
    return lsqQuantize(x, requireScale(this.name, step), { qn: 0, qp: this.maxCode, binary: false }, features);
  }

  deployment(step?: number): ActDeployment {
    return actDeploymentOf(this.getConfig(), step);
  }

  describe(): string {
    return [
      `lsq ${this.bits}-bit activations: y = s*clamp(round(x/s), 0, ${this.maxCode}), s learned per layer (initial ${lsqInitialActStep(this.bits).toPrecision(3)});`,
      `  backward dL/dx = g * 1{0 <= x/s <= ${this.maxCode}}; dL/ds = sum of g * (q(x/s) - x/s * 1{inside}) / sqrt(N*${this.maxCode}), N = features per example.`,
    ].join('\n');
  }
}
