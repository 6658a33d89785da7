import { tf, type Variable } from '../engine/tf.js';
import { Rng } from '../util/rng.js';
import { uniformVariable } from './init.js';
import { chainScalar, linearChain } from './linear-chain.js';
import type { MetaInputs, MetaNetwork, MetaNetworkConfig, MetaOutput } from './types.js';

/**
 * MultiFC: meta-gradient = g_Ŵ^{t−1} ⊙ f_φ(W̃^{t−1}), f = `layers` bias-free linear layers
 * 1→H→…→H→1 with an optional activation between them (default 3 layers, no activation:
 * the reference's runs; then f(x) = c·x).
 */
export class MultiFcMeta implements MetaNetwork {
  readonly params = new Map<string, Variable>();
  readonly stateful = false;

  constructor(readonly config: Required<MetaNetworkConfig>) {
    const rng = new Rng(`meta:${config.seed}`);
    const h = config.hidden;
    const n = config.layers;
    for (let i = 0; i < n; i++) {
      const inF = i === 0 ? 1 : h;
      const outF = i === n - 1 ? 1 : h;
      const name = `network.Linear${i}.weight`;
      this.params.set(name, uniformVariable(rng, [outF, inF], 1 / Math.sqrt(inF), name));
    }
  }

  private weights(): Variable[] {
    return [...this.params.values()];
  }

  forward(inputs: MetaInputs): MetaOutput {
    const raw = linearChain(inputs.wTilde, this.weights(), this.config.activation);
    return { metaGrad: tf.mul(inputs.gHat, raw), raw };
  }

  effectiveScalar(): number | null {
    if (this.config.activation !== 'none') return null;
    return tf.tidy(() => chainScalar(this.weights()).dataSync()[0]!);
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
  }
}
