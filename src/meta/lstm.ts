import { tf, type Tensor, type Variable } from '../engine/tf.js';
import { Rng } from '../util/rng.js';
import { uniformVariable } from './init.js';
import type { LstmState, MetaInputs, MetaNetwork, MetaNetworkConfig, MetaOutput } from './types.js';

/**
 * LSTMFC: meta-gradient = g_Ŵ^{t−1} ⊙ fc(h'), where (h', c') = LSTMCell(W̃^{t−1}; h, c) with input
 * size 1 and hidden H (gate order i, f, g, o, both bias vectors, as PyTorch's nn.LSTM), and fc a
 * Linear(H→1) with bias. Every weight element has its own (h, c); the caller carries it across
 * steps without gradient through time.
 */
export class LstmMeta implements MetaNetwork {
  readonly params = new Map<string, Variable>();
  readonly stateful = true;

  constructor(readonly config: Required<MetaNetworkConfig>) {
    const rng = new Rng(`meta:${config.seed}`);
    const h = config.hidden;
    const bound = 1 / Math.sqrt(h);
    const add = (name: string, shape: number[], b: number) => this.params.set(name, uniformVariable(rng, shape, b, name));
    add('lstm1.weight_ih_l0', [4 * h, 1], bound);
    add('lstm1.weight_hh_l0', [4 * h, h], bound);
    add('lstm1.bias_ih_l0', [4 * h], bound);
    add('lstm1.bias_hh_l0', [4 * h], bound);
    add('fc1.weight', [1, h], bound);
    add('fc1.bias', [1], bound);
  }

  private p(name: string): Variable {
    return this.params.get(name)!;
  }

  forward(inputs: MetaInputs, state?: LstmState): MetaOutput {
    const x = tf.reshape(inputs.wTilde, [-1, 1]);
    // All four gates in one [N, 4H] tensor: input size 1 makes x·W_ihᵀ an outer product.
    let gates: Tensor = tf.add(tf.mul(x, tf.reshape(this.p('lstm1.weight_ih_l0'), [1, -1])), tf.add(this.p('lstm1.bias_ih_l0'), this.p('lstm1.bias_hh_l0')));
    if (state) gates = tf.add(gates, tf.matMul(state.h as tf.Tensor2D, tf.transpose(this.p('lstm1.weight_hh_l0')) as tf.Tensor2D));
    const [i, f, g, o] = tf.split(gates, 4, 1) as [Tensor, Tensor, Tensor, Tensor];
    const inputPart = tf.mul(tf.sigmoid(i), tf.tanh(g));
    const c = state ? tf.add(tf.mul(tf.sigmoid(f), state.c), inputPart) : inputPart;
    const h = tf.mul(tf.sigmoid(o), tf.tanh(c));
    const raw = tf.reshape(tf.add(tf.matMul(h as tf.Tensor2D, tf.transpose(this.p('fc1.weight')) as tf.Tensor2D), this.p('fc1.bias')), [-1]);
    return { metaGrad: tf.mul(inputs.gHat, raw), raw, state: { h, c } };
  }

  effectiveScalar(): number | null {
    return null;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
  }
}

/** Bytes the LSTM state needs: h and c, `hidden` float32 each, per weight element. */
export function lstmStateBytes(weightElements: number, hidden: number): number {
  return weightElements * hidden * 2 * 4;
}
