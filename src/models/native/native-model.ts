// A whole model's forward pass, and its backward pass, as one native call each: the traced
// network (src/models/trace.ts) compiled to two ONNX graphs (forward-graph.ts, backward-graph.ts)
// and run by onnxruntime on all cores. To tfjs it is a single differentiable op whose inputs are
// the tensors the model's hooks hand out (Q(A(W)), MetaQuant's look-ahead weights, …) and the
// batch-norm γ/β, so every training step, quantizer and meta network works unchanged: their
// own gradients flow through the op's. Activations saved for the backward pass live in reused
// buffers outside the wasm heap (which never shrinks). Falls back (returns null) on other
// backends, with METAQUANT_NATIVE=0, without onnxruntime, for small models, and where a graph
// cannot be built or run.
import { tf, type Tensor } from '../../engine/tf.js';
import type { WeightHooks } from '../layers.js';
import type { ParamStore } from '../params.js';
import { traceModel, type ModelGraph, type TraceableModel } from '../trace.js';
import { type OrtKernel, ortKernel } from '../../engine/native/ort.js';
import { nativeKernelsActive } from '../../engine/native/ort-kernels.js';
import { type WasmBackend } from '../../engine/wasm/wasm-kernel-utils.js';
import { type ForwardGraph, buildForward, unsupportedReason } from './forward-graph.js';
import { type BackwardGraph, buildBackward } from './backward-graph.js';
import { BufferPool } from '../../engine/native/graph/buffer-pool.js';
import { nchwcBlockSize } from '../../engine/native/graph/nchwc.js';

/** Below this many multiply–adds per forward pass the op-by-op path is as fast (tests' tiny models). */
let MIN_MODEL_MACS = 1 << 22;
let modelEnabled = true;

/** Turns the native model op off (the op-by-op path runs) or on; for benchmarks and tests. */
export function setNativeModel(on: boolean): void {
  modelEnabled = on;
}

/** Runs `fn` on the op-by-op path (e.g. to measure what a forward pass keeps on the tfjs heap). */
export function withoutNativeModel<T>(fn: () => T): T {
  const was = modelEnabled;
  modelEnabled = false;
  try {
    return fn();
  } finally {
    modelEnabled = was;
  }
}

/** Tests lower the size threshold so that small, checkable models take the native path. */
export function setNativeModelMinMacs(macs: number): void {
  MIN_MODEL_MACS = macs;
}

let runs = 0;
const time = { forwardMs: 0, backwardMs: 0 };
const failures = new Map<string, string>();

/** Native model calls so far, the time spent in their graphs, and the graphs that failed (they stay on the op-by-op path). */
export function nativeModelStats(): { runs: number; forwardMs: number; backwardMs: number; failed: Record<string, string> } {
  return { runs, ...time, failed: Object.fromEntries(failures) };
}

interface Compiled {
  fwd: ForwardGraph;
  forward: OrtKernel;
  bwd?: { graph: BackwardGraph; kernel: OrtKernel };
}

/** What the op needs of a QuantizedModel (a structural type: models/model.ts imports this module). */
export type NativeCapableModel = TraceableModel & { params: ParamStore };

const traces = new WeakMap<NativeCapableModel, { graph: ModelGraph; macs: number; key: string; unsupported: string | null }>();
const pool = new BufferPool();

function traced(model: NativeCapableModel) {
  let t = traces.get(model);
  if (!t) {
    const graph = traceModel(model);
    let macs = 0;
    for (const node of graph.nodes) {
      if (node.op === 'conv2d') {
        const inC = graph.nodes[node.inputs[0]!]!.outputShape[2]!;
        macs += node.outputShape.reduce((a, b) => a * b, 1) * node.kernelSize * node.kernelSize * inC;
      } else if (node.op === 'dense') macs += graph.nodes[node.inputs[0]!]!.outputShape[0]! * node.units;
    }
    const c = model.config;
    t = { graph, macs, key: `${c.arch}|${JSON.stringify(c.archOptions ?? {})}|${c.inputShape}|${c.numClasses}`, unsupported: unsupportedReason(graph) };
    traces.set(model, t);
  }
  return t;
}

function isTapeOn(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

const wasm = () => tf.backend() as unknown as WasmBackend;
const heapView = (t: Tensor) => wasm().typedArrayFromHeap({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }) as Float32Array;

/**
 * The model's logits computed natively, or null where the op-by-op path must run. `training`
 * selects batch statistics; gradients flow to every tensor the hooks return and to γ/β.
 */
export function nativeModelForward(model: NativeCapableModel, x: Tensor, hooks: WeightHooks, training: boolean, updateStatistics: boolean): Tensor | null {
  if (!modelEnabled || tf.getBackend() !== 'wasm' || x.dtype !== 'float32' || x.rank !== 4 || !nativeKernelsActive()) return null;
  const t = traced(model);
  const batch = x.shape[0]!;
  if (t.unsupported || t.macs * batch < MIN_MODEL_MACS) return null;
  const tape = isTapeOn();
  // Inference-mode batch norm has no native backward: gradients through it take the tfjs path.
  if (tape && !training) return null;
  const mode = `${training ? 'train' : 'infer'}|${tape ? 'grad' : 'nograd'}|${training && updateStatistics ? 'stats' : 'nostats'}`;
  const block = nchwcBlockSize();
  const key = `model|${t.key}|${batch}|${mode}|b${block}`;
  if (failures.has(key)) return null;
  let compiled: Compiled;
  try {
    compiled = compile(key, t.graph, { batch, training, saveForBackward: tape, updateStatistics: training && updateStatistics, block });
  } catch (err) {
    failures.set(key, (err as Error).message);
    return null;
  }
  const { fwd } = compiled;
  // The tensors the graph reads, in the order LayerOps would ask the hooks for them.
  const inputs = fwd.params.map((slot) => {
    const v = model.params.get(slot.param);
    return slot.role === 'kernel' ? hooks.kernel(slot.param, v) : slot.role === 'bias' ? hooks.bias(slot.param, v) : v;
  });
  const differentiable = fwd.params.flatMap((slot, i) => (['movingMean', 'movingVariance'].includes(slot.role) ? [] : [i]));
  let statistics: Array<{ param: string; values: Float32Array }> = [];
  const runForward = (saved: Record<string, Float32Array>): Tensor => {
    const logitsDims = fwd.spec.outputs.logits as number[];
    const logits = new Float32Array(logitsDims.reduce((a, b) => a * b, 1));
    const outputs: Record<string, Float32Array> = { ...saved, logits };
    statistics = fwd.statistics.map((s) => ({ param: s.param, values: (outputs[s.output] = new Float32Array((fwd.spec.outputs[s.output] as number[])[0]!)) }));
    const feeds: Record<string, Float32Array> = { x: heapView(x) };
    fwd.params.forEach((slot, i) => (feeds[slot.input] = heapView(inputs[i]!)));
    const start = performance.now();
    compiled.forward.run(feeds, outputs);
    time.forwardMs += performance.now() - start;
    runs++;
    return tf.tensor(logits, logitsDims, 'float32');
  };
  let logits: Tensor;
  try {
    logits = tape ? differentiableForward() : runForward({});
  } catch (err) {
    // A graph that compiled but cannot run (e.g. out of memory) stays on the op-by-op path from
    // now on; the hooks run again there (a hook that keeps what it hands out keeps it twice, once).
    failures.set(key, `run: ${(err as Error).message.split('\n')[0]}`);
    return null;
  }
  function differentiableForward(): Tensor {
    const bwd = compiled.bwd!;
    const op = tf.customGrad(((...args: unknown[]) => {
      // tfjs keeps the op's inputs alive for the backward pass only through save().
      const save = args.pop() as (tensors: Tensor[]) => void;
      save(args as Tensor[]);
      const activations = pool.take(fwd.saved);
      const value = runForward(activations);
      const gradFunc = (dy: Tensor, kept: Tensor[]) => {
        const bySlot: Tensor[] = [];
        differentiable.forEach((slot, k) => (bySlot[slot] = kept[k]!));
        const grads = runBackward(bwd, fwd, activations, dy, bySlot);
        pool.give(activations);
        return differentiable.map((i) => grads[i]!);
      };
      return { value, gradFunc };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...xs: Tensor[]) => Tensor;
    return op(...differentiable.map((i) => inputs[i]!));
  }
  if (statistics.length > 0) {
    tf.tidy(() => {
      for (const s of statistics) model.params.get(s.param).assign(tf.tensor(s.values, [s.values.length], 'float32'));
    });
  }
  return logits;
}

/** `inputs`: the op's differentiable inputs by parameter slot (kept by tfjs for the backward pass). */
function runBackward(bwd: { graph: BackwardGraph; kernel: OrtKernel }, fwd: ForwardGraph, saved: Record<string, Float32Array>, dy: Tensor, inputs: Tensor[]): Array<Tensor | undefined> {
  // Gradient tensors are allocated first: allocating may grow the heap and detach older views.
  const grads: Array<Tensor | undefined> = fwd.params.map(() => undefined);
  for (const { slot } of bwd.graph.grads) grads[slot] = tf.engine().makeTensorFromTensorInfo(wasm().makeOutput(fwd.params[slot]!.dims, 'float32'));
  const outputs: Record<string, Float32Array> = {};
  for (const { output, slot } of bwd.graph.grads) outputs[output] = heapView(grads[slot]!);
  const feeds: Record<string, Float32Array> = { dlogits: heapView(dy) };
  for (const name of Object.keys(bwd.graph.spec.inputs)) {
    if (name in saved) feeds[name] = saved[name]!;
  }
  fwd.params.forEach((slot, i) => {
    if (slot.input in bwd.graph.spec.inputs) feeds[slot.input] = heapView(inputs[i]!);
  });
  const start = performance.now();
  bwd.kernel.run(feeds, outputs);
  time.backwardMs += performance.now() - start;
  // β and γ of a batch norm whose input needs no gradient still get theirs; anything the graph
  // does not reach (an unused parameter) gets zeros.
  return grads.map((g, i) => g ?? tf.zeros(fwd.params[i]!.dims));
}

/** Graph descriptions per key; the sessions themselves are cached (and evicted) by ortKernel. */
const described = new Map<string, { fwd: ForwardGraph; bwd?: BackwardGraph }>();

function compile(key: string, graph: ModelGraph, opts: Parameters<typeof buildForward>[1]): Compiled {
  let d = described.get(key);
  if (!d) {
    const fwd = buildForward(graph, opts);
    d = { fwd, ...(opts.saveForBackward ? { bwd: buildBackward(graph, fwd, opts.batch, opts.block) } : {}) };
    described.set(key, d);
  }
  const { fwd, bwd } = d;
  return {
    fwd,
    forward: ortKernel(`${key}|fwd`, () => fwd.spec),
    ...(bwd ? { bwd: { graph: bwd, kernel: ortKernel(`${key}|bwd`, () => bwd.spec) } } : {}),
  };
}
