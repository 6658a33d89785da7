import { tf, type Tensor, type Variable } from '../../engine/tf.js';
import type { QuantizedModel } from '../../models/model.js';
import type { WeightHooks } from '../../models/layers.js';
import type { QuantizeCapture, WeightQuantizer } from '../../quantizers/types.js';
import { crossEntropy, lossAndGradients } from '../loss.js';
import type { FiniteCheck } from '../finite-check.js';
import type { CarriedState } from './state.js';
import { record, type MetaQuantTrace } from './trace.js';
import type { MetaQuantMode } from './options.js';

/** A quantized kernel's pre-quantization weight as a function of its Variable W. */
export type KernelWeight = (kernel: string, w: Tensor) => Tensor;

/** What the forward/backward pass of one iteration produced. */
export interface ForwardRecord {
  loss: number;
  correct: number;
  /** Gradients of the base parameters; a quantized kernel's is δ = ∂L/∂W_meta. */
  grads: Map<string, Tensor>;
  /** g_Ŵ^t and W̃^t per quantized kernel. */
  captures: Map<string, QuantizeCapture>;
  wHats: Map<string, Tensor>;
  /** W_meta per kernel, when asked to keep it. */
  wMetas: Map<string, Tensor>;
}

/** The base network as a MetaQuant iteration runs it: quantized kernels from a look-ahead weight (spec §6 step 2). */
export class LookaheadForward {
  private readonly baseVars: Map<string, Variable>;
  /** Biases of quantized layers: code mode gives them the look-ahead b − α·G too (the reference's classifier bias). */
  private readonly lookaheadBiases: Set<string>;

  constructor(
    private readonly model: QuantizedModel,
    private readonly quantizer: WeightQuantizer,
    private readonly mode: MetaQuantMode,
    private readonly carried: CarriedState,
    private readonly finite: FiniteCheck,
  ) {
    const quantizedLayers = new Set(model.quantizedKernels.map((k) => model.params.info(k).layer));
    this.lookaheadBiases = new Set(model.params.names((p) => p.role === 'bias' && quantizedLayers.has(p.layer)));
    this.baseVars = new Map(model.params.trainableNames().map((n) => [n, model.params.get(n)]));
  }

  /** The parameters G is kept for: the quantized kernels and their look-ahead biases. */
  get lookaheadNames(): string[] {
    return [...this.model.quantizedKernels, ...this.lookaheadBiases];
  }

  /**
   * Forward with `lookahead(k, W)` as each quantized kernel's pre-quantization weight, and one
   * backward pass: the loss, δ = ∂L/∂W_meta (as W's gradient), the other parameters' gradients,
   * and, through the quantizer's capture, g_Ŵ and W̃.
   */
  forwardBackward(images: Tensor, labels: Tensor, lookahead: KernelWeight, alpha: number, trace: MetaQuantTrace | null, keepWMeta: boolean): ForwardRecord {
    const captures = new Map<string, QuantizeCapture>(this.model.quantizedKernels.map((k) => [k, {}]));
    const wHats = new Map<string, Tensor>();
    const wMetas = new Map<string, Tensor>();
    const hooks: WeightHooks = {
      kernel: (name, w) => {
        const cap = captures.get(name);
        if (!cap) return w;
        const wMeta = lookahead(name, w);
        if (keepWMeta || trace) wMetas.set(name, tf.keep(wMeta.clone()));
        const q = this.quantizer.quantize(wMeta, cap);
        wHats.set(name, tf.keep(q));
        record(trace, 'wHat', name, q);
        return q;
      },
      bias: (name, b) => {
        const bMeta = this.lookaheadBias(name, b, alpha);
        if (bMeta !== b) record(trace, 'bMeta', name, bMeta);
        return bMeta;
      },
    };
    const { loss, correct, grads } = lossAndGradients(this.model, images, labels, hooks, this.baseVars);
    this.finite.watch('gradient', grads.values());
    for (const [k, v] of wMetas) record(trace, 'wMeta', k, v);
    return { loss, correct, grads, captures, wHats, wMetas };
  }

  /** The batch's loss with `kernel(k, W)` for the quantized kernels and this iteration's biases; statistics untouched. */
  loss(images: Tensor, labels: Tensor, kernel: KernelWeight, alpha: number): number {
    return tf.tidy(() => {
      const hooks: WeightHooks = { kernel: (name, w) => (this.model.isQuantized(name) ? kernel(name, w) : w), bias: (name, b) => this.lookaheadBias(name, b, alpha) };
      return crossEntropy(this.model.forward(images, hooks, true, { updateStatistics: false }), labels).dataSync()[0]!;
    });
  }

  /** Code mode, after iteration 0: the value-only look-ahead b − α·G_b. */
  private lookaheadBias(name: string, b: Variable, alpha: number): Tensor {
    if (this.mode !== 'code' || !this.carried.started || !this.lookaheadBiases.has(name)) return b;
    return tf.sub(b, tf.mul(this.carried.lookahead.get(name)!, alpha));
  }
}
