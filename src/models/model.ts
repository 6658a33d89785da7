import { tf, type Tensor } from '../engine/tf.js';
import { Rng } from '../util/rng.js';
import { ParamStore } from './params.js';
import { LayerOps, identityHooks, type WeightHooks } from './layers.js';
import { getArchitecture, type ArchitectureOptions } from './architectures.js';
import type { QuantizerConfig, WeightQuantizer } from '../quantizers/types.js';
import { createQuantizer } from '../quantizers/registry.js';
import { nativeModelForward } from './native/native-model.js';

/** Everything needed to rebuild a model (stored in checkpoints and exports). */
export interface ModelConfig {
  arch: string;
  /** [height, width, channels] of one input image. */
  inputShape: [number, number, number];
  numClasses: number;
  archOptions?: ArchitectureOptions;
  /** null trains in float. */
  quantizer: QuantizerConfig | null;
  /** Keep the first and last weight layers in float (common elsewhere; off in the method). */
  keepFirstLastFp?: boolean;
  /** Seed of the weight initialisation. */
  seed: number;
}

/**
 * A network whose conv/dense kernels are quantized: named parameters plus a pure forward pass
 * that asks `WeightHooks` for the tensors to compute with.
 */
export class QuantizedModel {
  readonly params = new ParamStore();
  readonly quantizer: WeightQuantizer | null;
  /** Kernel names whose forward uses Q(A(W)), in layer order. */
  readonly quantizedKernels: string[];

  /** `maxParameters` bounds what the build may allocate (a model config read from an untrusted file). */
  constructor(readonly config: ModelConfig, options: { maxParameters?: number } = {}) {
    this.quantizer = config.quantizer ? createQuantizer(config.quantizer) : null;
    this.params.limit = options.maxParameters;
    // Build: one forward on a single zero image creates every parameter in layer order.
    const initRng = new Rng(`init:${config.seed}`);
    try {
      tf.tidy(() => {
        const ops = new LayerOps(this.params, identityHooks, false, initRng);
        getArchitecture(config.arch).forward(ops, tf.zeros([1, ...config.inputShape]), config.numClasses, config.archOptions ?? {});
      });
    } catch (err) {
      this.params.dispose();
      throw err;
    }
    this.params.limit = undefined;
    const kernels = this.params.names((p) => p.role === 'kernel');
    const floatKernels = config.keepFirstLastFp ? new Set([kernels[0], kernels[kernels.length - 1]]) : new Set<string>();
    this.quantizedKernels = this.quantizer ? kernels.filter((k) => !floatKernels.has(k)) : [];
  }

  isQuantized(kernelName: string): boolean {
    return this.quantizedKernels.includes(kernelName);
  }

  /** Logits for NHWC images, computing with whatever tensors `hooks` hand out. */
  forward(x: Tensor, hooks: WeightHooks, training: boolean, opts: { updateStatistics?: boolean } = {}): Tensor {
    // The whole network as one native op where onnxruntime runs it (same function, same hooks).
    const native = nativeModelForward(this, x, hooks, training, opts.updateStatistics ?? true);
    if (native) return native;
    const ops = new LayerOps(this.params, hooks, training, null, opts.updateStatistics ?? true);
    return getArchitecture(this.config.arch).forward(ops, x, this.config.numClasses, this.config.archOptions ?? {});
  }

  /** Hooks for STE training and for evaluation: quantized kernels become Q(A(W)) with the estimator's gradient. */
  steHooks(): WeightHooks {
    const q = this.quantizer;
    const quantized = new Set(this.quantizedKernels);
    return {
      kernel: (name, w) => (q && quantized.has(name) ? q.quantize(w) : w),
      bias: (_name, b) => b,
    };
  }

  /** Inference logits (running batch-norm statistics, quantized weights, no look-ahead). */
  predict(x: Tensor): Tensor {
    return this.forward(x, this.steHooks(), false);
  }

  dispose(): void {
    this.params.dispose();
  }
}
