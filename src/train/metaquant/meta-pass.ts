import { tf, type Tensor } from '../../engine/tf.js';
import { valueAndGrads } from '../../engine/ops.js';
import type { LstmState, MetaInputs, MetaNetwork } from '../../meta/types.js';
import { lstmStateBytes } from '../../meta/lstm.js';
import type { QuantizedModel } from '../../models/model.js';
import { UsageError } from '../../util/errors.js';

/**
 * The quantized kernels as one column (spec §5: one meta call per step, every weight element a
 * row): each kernel flattened row-major, in the model's layer order.
 */
export class KernelLayout {
  readonly kernels: string[];
  readonly sizes: number[];
  readonly total: number;
  private readonly shapes: number[][];

  constructor(model: QuantizedModel) {
    this.kernels = model.quantizedKernels;
    this.shapes = this.kernels.map((k) => model.params.get(k).shape.slice());
    this.sizes = this.kernels.map((k) => model.params.get(k).size);
    this.total = this.sizes.reduce((a, b) => a + b, 0);
  }

  /** One flat [N] tensor of every kernel's `get(kernel)` (the caller owns it). */
  flatten(get: (kernel: string) => Tensor): Tensor {
    return tf.tidy(() => tf.concat(this.kernels.map((k) => tf.reshape(get(k), [-1]))));
  }

  /** A flat [N] tensor back into per-kernel tensors of the kernels' shapes (kept; the caller owns them). */
  split(flat: Tensor): Map<string, Tensor> {
    return tf.tidy(() => {
      const parts = this.kernels.length === 1 ? [flat] : tf.split(flat, this.sizes);
      const out = new Map(this.kernels.map((k, i) => [k, tf.keep(tf.reshape(parts[i]!, this.shapes[i]!))]));
      return out as unknown as tf.TensorContainer;
    }) as unknown as Map<string, Tensor>;
  }
}

/** wasm32's address space: the wasm backend's heap cannot grow past 4 GiB (its module's maximum). */
export const WASM_HEAP_BYTES = 4 * 2 ** 30;

/**
 * The LSTM meta step's peak working set, in [N, 4·hidden] float32 gate tensors. Measured on LeNet-5
 * (1,662,752 quantized weights) with the wasm backend: hidden 50 runs and hidden 100 fails inside
 * wasm ("memory access out of bounds"), so the peak lies between 1.6 and 3.2 gate tensors; 2.5 is
 * in between.
 */
export const LSTM_STEP_GATE_TENSORS = 2.5;

/** Estimated bytes one LSTM meta step holds at once on the backend's heap. */
export const lstmStepBytes = (elements: number, hidden: number): number => LSTM_STEP_GATE_TENSORS * elements * 4 * hidden * 4;

/**
 * Refuses an LSTM meta state (2 × hidden floats per weight element) above `limitBytes`, and, where
 * the backend's heap is bounded (`heapBytes`: wasm's 4 GiB), a step whose working set cannot fit it:
 * before training, with the hidden size that would fit, instead of a wasm crash at the first step.
 */
export function checkLstmMemory(meta: MetaNetwork, elements: number, limitBytes: number, heapBytes?: number): void {
  if (!meta.stateful) return;
  const hidden = meta.config.hidden;
  if (heapBytes !== undefined && lstmStepBytes(elements, hidden) > heapBytes) {
    const fits = Math.floor(heapBytes / lstmStepBytes(elements, 1));
    throw new UsageError(
      `the LSTM meta network (hidden ${hidden}) on ${elements} weights needs about ${(lstmStepBytes(elements, hidden) / 2 ** 30).toFixed(1)} GiB ` +
        `per step (~${LSTM_STEP_GATE_TENSORS} tensors of [weights, 4 × hidden] floats), more than the wasm backend's ${(heapBytes / 2 ** 30).toFixed(0)} GiB heap; ` +
        (fits >= 1 ? `use --meta-hidden ${fits} or less, a smaller model, or --backend cpu` : 'use a smaller model or --backend cpu'),
    );
  }
  const bytes = lstmStateBytes(elements, hidden);
  if (bytes <= limitBytes) return;
  throw new UsageError(
    `the LSTM meta state needs ${(bytes / 2 ** 30).toFixed(2)} GiB (2 × hidden ${meta.config.hidden} floats for each of ` +
      `${elements} weights), above --max-meta-memory ${(limitBytes / 2 ** 30).toFixed(2)} GiB; ` +
      'use a smaller model or --meta-hidden, or raise the bound',
  );
}

export interface MetaPassResult {
  /** m, flat [N]. */
  metaGrad: Tensor;
  /** The LSTM state the call produces (stateful networks). */
  state?: LstmState;
  /** ∂(Σ u ⊙ m)/∂φ for the cotangent u (empty without one). */
  phiGrads: Map<string, Tensor>;
}

/**
 * Evaluates M_φ on every weight element in row chunks (bounded memory for the LSTM's tape),
 * returning m and the new LSTM state; with a cotangent u it also returns ∂(Σ u ⊙ m)/∂φ, the
 * vector–Jacobian product that is φ's gradient. The caller owns every returned tensor.
 */
export function metaPass(meta: MetaNetwork, inputs: MetaInputs, state: LstmState | undefined, cotangent: Tensor | null): MetaPassResult {
  const n = inputs.gHat.size;
  const cheap = !meta.stateful && meta.config.activation === 'none';
  const rows = cheap ? n : Math.max(1024, Math.floor(2 ** 21 / meta.config.hidden));
  const outputs: Tensor[] = [];
  const hs: Tensor[] = [];
  const cs: Tensor[] = [];
  const phiGrads = new Map<string, Tensor>();
  for (let start = 0; start < n; start += rows) {
    const size = Math.min(rows, n - start);
    const chunk = (t: Tensor) => (size === n ? t : tf.slice(t, start, size));
    const chunkState = (s: LstmState) => (size === n ? s : { h: tf.slice(s.h, [start, 0], [size, -1]), c: tf.slice(s.c, [start, 0], [size, -1]) });
    const run = () => {
      const out = meta.forward({ gHat: chunk(inputs.gHat), wTilde: chunk(inputs.wTilde) }, state ? chunkState(state) : undefined);
      outputs.push(tf.keep(out.metaGrad));
      if (out.state) {
        hs.push(tf.keep(out.state.h));
        cs.push(tf.keep(out.state.c));
      }
      return out.metaGrad;
    };
    if (!cotangent) {
      tf.tidy(() => void run());
      continue;
    }
    const { value, grads } = valueAndGrads(() => tf.sum(tf.mul(run(), chunk(cotangent))) as tf.Scalar, new Map(meta.params));
    value.dispose();
    for (const [k, g] of grads) {
      const prev = phiGrads.get(k);
      phiGrads.set(k, prev ? tf.add(prev, g) : g);
      if (prev) tf.dispose([prev, g]);
    }
  }
  // A φ tensor the output did not reach (the LSTM's W_hh while the state is zero) has gradient
  // exactly zero, and its Adam step counter still advances, as in PyTorch.
  if (cotangent) for (const [k, v] of meta.params) if (!phiGrads.has(k)) phiGrads.set(k, tf.zerosLike(v));
  const join = (parts: Tensor[], axis: number) => {
    if (parts.length === 1) return parts[0]!;
    const joined = tf.concat(parts, axis);
    tf.dispose(parts);
    return joined;
  };
  const metaGrad = join(outputs, 0);
  const newState = hs.length ? { h: join(hs, 0), c: join(cs, 0) } : undefined;
  return { metaGrad, state: newState, phiGrads };
}

/**
 * This iteration's call of M_φ: last iteration's inputs (g_Ŵ^{t−1}, W̃^{t−1}) and LSTM state.
 * Its value m and the state it produces are evaluated once; a VJP evaluates the network again
 * under the tape and, when it comes first (code mode), provides the values too.
 */
export class MetaCall {
  private result: { metaGrad: Tensor; state?: LstmState } | null = null;
  private stateTaken = false;

  constructor(
    readonly meta: MetaNetwork,
    /** Owned by the call. */
    readonly inputs: MetaInputs,
    /** The state the call starts from (undefined = zeros); not owned. */
    readonly state: LstmState | undefined,
  ) {}

  /** m (flat) and the LSTM state this call produces. */
  values(): { metaGrad: Tensor; state?: LstmState } {
    if (!this.result) {
      const r = metaPass(this.meta, this.inputs, this.state, null);
      this.result = { metaGrad: r.metaGrad, state: r.state };
    }
    return this.result;
  }

  /** ∂(Σ u ⊙ m)/∂φ (the caller owns the gradients). */
  vjp(u: Tensor): Map<string, Tensor> {
    const r = metaPass(this.meta, this.inputs, this.state, u);
    if (this.result) {
      tf.dispose(r.metaGrad);
      if (r.state) tf.dispose([r.state.h, r.state.c]);
    } else {
      this.result = { metaGrad: r.metaGrad, state: r.state };
    }
    return r.phiGrads;
  }

  /** The state this call produced, handed to the caller (who carries it to the next iteration). */
  takeState(): LstmState | undefined {
    this.stateTaken = true;
    return this.values().state;
  }

  dispose(): void {
    tf.dispose([this.inputs.gHat, this.inputs.wTilde]);
    if (!this.result) return;
    this.result.metaGrad.dispose();
    if (this.result.state && !this.stateTaken) tf.dispose([this.result.state.h, this.result.state.c]);
  }
}
