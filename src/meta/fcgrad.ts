import { tf, type Variable } from '../engine/tf.js';
import { Rng } from '../util/rng.js';
import { uniformVariable } from './init.js';
import { chainScalar, linearChain } from './linear-chain.js';
import type { MetaInputs, MetaNetwork, MetaNetworkConfig, MetaOutput } from './types.js';

/**
 * FC-Grad: meta-gradient = f_φ(g_Ŵ^{t−1}), f = Linear(1→H) → [activation] → Linear(H→1), no biases.
 * Without activation this is c·g with c = w2·w1: a learned global step-size multiplier.
 */
export class FcGradMeta implements MetaNetwork {
  readonly params = new Map<string, Variable>();
  readonly stateful = false;

  constructor(readonly config: Required<MetaNetworkConfig>) {
    const rng = new Rng(`meta:${config.seed}`);
    const h = config.hidden;
    // PyTorch Linear default: U(±1/√fan_in).
    this.params.set('linear1.weight', uniformVariable(rng, [h, 1], 1, 'linear1.weight'));
    this.params.set('linear2.weight', uniformVariable(rng, [1, h], 1 / Math.sqrt(h), 'linear2.weight'));
  }

  private weights(): Variable[] {
    return [this.params.get('linear1.weight')!, this.params.get('linear2.weight')!];
  }

  forward(inputs: MetaInputs): MetaOutput {
    const out = linearChain(inputs.gHat, this.weights(), this.config.activation);
    return { metaGrad: out, raw: out };
  }

  effectiveScalar(): number | null {
    if (this.config.activation !== 'none') return null;
    return tf.tidy(() => chainScalar(this.weights()).dataSync()[0]!);
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
  }
}
