import { tf, type Tensor } from '../engine/tf.js';
import { Rng } from '../util/rng.js';
import { ParamStore } from './params.js';
import { LayerOps, identityHooks, type ActivationPlan, type WeightHooks } from './layers.js';
import { getArchitecture, type ArchitectureOptions } from './architectures.js';
import type { QuantizedEncoding, QuantizerConfig, WeightQuantizer } from '../quantizers/types.js';
import type { ActQuantizerConfig } from '../quantizers/activation-types.js';
import { createQuantizer } from '../quantizers/registry.js';
import { actQuantizerFromConfig } from '../quantizers/act-registry.js';
import { learnsStep } from '../quantizers/lsq.js';
import { weightStepName } from '../quantizers/learned-scalars.js';
import { nativeModelForward } from './native/native-model.js';
import { UsageError } from '../util/errors.js';
import { quantizedLayerNames, traceArchitecture } from './trace.js';

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
  /** Quantizes the inputs of the quantized layers (absent or null: float activations, the method's setting). */
  actQuantizer?: ActQuantizerConfig | null;
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
  /**
   * Per-channel mean and std (in [0, 1] pixel units) of the training images that `predict`'s
   * input is normalised with; set by Trainer and loadModel (absent in checkpoints of old versions).
   */
  normalisation?: { mean: number[]; std: number[] };
  /** The activation quantizer and the layers whose input it quantizes (null: float activations). */
  readonly activation: ActivationPlan | null;

  /** `maxParameters` bounds what the build may allocate (a model config read from an untrusted file). */
  constructor(readonly config: ModelConfig, options: { maxParameters?: number } = {}) {
    this.quantizer = config.quantizer ? createQuantizer(config.quantizer) : null;
    this.activation = config.actQuantizer
      ? { quantizer: actQuantizerFromConfig(config.actQuantizer), layers: new Set(quantizedLayerNames(traceArchitecture({ ...config, quantizer: null, actQuantizer: null }), config.keepFirstLastFp ?? false)) }
      : null;
    this.params.limit = options.maxParameters;
    // Build: one forward on a single zero image creates every parameter in layer order.
    const initRng = new Rng(`init:${config.seed}`);
    try {
      tf.tidy(() => {
        const ops = new LayerOps(this.params, identityHooks, false, initRng, true, this.activation);
        getArchitecture(config.arch).forward(ops, tf.zeros([1, ...config.inputShape]), config.numClasses, config.archOptions ?? {});
      });
      this.quantizedKernels = this.quantizedKernelNames();
      this.addWeightSteps();
    } catch (err) {
      this.params.dispose();
      throw err;
    }
    this.params.limit = undefined;
  }

  private quantizedKernelNames(): string[] {
    const kernels = this.params.names((p) => p.role === 'kernel');
    const floatKernels = this.config.keepFirstLastFp ? new Set([kernels[0], kernels[kernels.length - 1]]) : new Set<string>();
    return this.quantizer ? kernels.filter((k) => !floatKernels.has(k)) : [];
  }

  /** LSQ weights: one learned step per quantized kernel, `${layer}/weightStep`, from the initial kernel. */
  private addWeightSteps(): void {
    const q = this.quantizer;
    if (!learnsStep(q)) return;
    for (const kernel of this.quantizedKernels) {
      const { layer } = this.params.info(kernel);
      const initial = q.initialStep(this.params.get(kernel).dataSync() as Float32Array);
      this.params.reserve(weightStepName(layer), 1);
      this.params.add({ name: weightStepName(layer), shape: [1], role: 'weight-step', trainable: true, layer }, Float32Array.of(initial));
    }
  }

  /** Ŵ of a quantized kernel with its estimator's gradient (LSQ: also to the layer's step). */
  quantizeKernel(name: string, w: Tensor): Tensor {
    const q = this.quantizer!;
    return learnsStep(q) ? q.quantizeWithStep(w, this.params.get(weightStepName(this.params.info(name).layer))) : q.quantize(w);
  }

  /** A quantized kernel's codes and code book, as deployed. */
  encodeKernel(name: string): QuantizedEncoding {
    const q = this.quantizer!;
    const w = this.params.get(name);
    return learnsStep(q) ? q.encodeWithStep(w, this.params.get(weightStepName(this.params.info(name).layer))) : q.encode(w);
  }

  isQuantized(kernelName: string): boolean {
    return this.quantizedKernels.includes(kernelName);
  }

  /** Logits for NHWC images, computing with whatever tensors `hooks` hand out. */
  forward(x: Tensor, hooks: WeightHooks, training: boolean, opts: { updateStatistics?: boolean } = {}): Tensor {
    // The whole network as one native op where onnxruntime runs it (same function, same hooks).
    const native = nativeModelForward(this, x, hooks, training, opts.updateStatistics ?? true);
    if (native) return native;
    const ops = new LayerOps(this.params, hooks, training, null, opts.updateStatistics ?? true, this.activation);
    return getArchitecture(this.config.arch).forward(ops, x, this.config.numClasses, this.config.archOptions ?? {});
  }

  /** Hooks for STE training and for evaluation: quantized kernels become Q(A(W)) with the estimator's gradient. */
  steHooks(): WeightHooks {
    const q = this.quantizer;
    const quantized = new Set(this.quantizedKernels);
    return {
      kernel: (name, w) => (q && quantized.has(name) ? this.quantizeKernel(name, w) : w),
      bias: (_name, b) => b,
    };
  }

  /**
   * Inference logits (running batch-norm statistics, quantized weights, no look-ahead) for images
   * already normalised as in training: (pixel/255 − mean)/std per channel. For raw images use
   * `predictImages`.
   */
  predict(x: Tensor): Tensor {
    return this.forward(x, this.steHooks(), false);
  }

  /**
   * Logits for raw images: `scale` 255 for pixels 0–255, 1 for [0, 1]. Applies the stored
   * `normalisation` (x/scale − mean)/std per channel, then `predict`. Takes [N, H, W, C], or any
   * shape with N × H·W·C values (e.g. flat [N, D]).
   */
  predictImages(x: Tensor, options: { scale: 1 | 255 }): Tensor {
    const n = this.normalisation;
    if (!n) throw new UsageError('predictImages: this model has no stored input normalisation (a checkpoint of an older version); normalise the images as in training and call predict');
    const scale = options?.scale;
    if (scale !== 1 && scale !== 255) throw new UsageError(`predictImages: options.scale must be 255 (pixels 0–255) or 1 (pixels in [0, 1]); got ${String(scale)}`);
    const [h, w, c] = this.config.inputShape;
    if (n.mean.length !== c || n.std.length !== c) throw new UsageError(`predictImages: the stored normalisation has ${n.mean.length} channel(s), the model ${c}`);
    const perImage = h * w * c;
    if (x.rank < 1 || x.shape[0] === 0 || x.size !== x.shape[0]! * perImage) {
      throw new UsageError(`predictImages: expected images [N, ${h}, ${w}, ${c}] (or N × ${perImage} values); got shape [${x.shape.join(', ')}]`);
    }
    return tf.tidy(() => {
      const images = tf.reshape(tf.cast(x, 'float32'), [x.shape[0]!, h, w, c]);
      const normalised = tf.div(tf.sub(tf.div(images, scale), tf.tensor1d(n.mean)), tf.tensor1d(n.std));
      return this.predict(normalised);
    });
  }

  dispose(): void {
    this.params.dispose();
  }
}
