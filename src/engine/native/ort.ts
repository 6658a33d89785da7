// onnxruntime-node as a synchronous compute library for tfjs kernels. Its public
// InferenceSession.run is async, but only because it wraps the native binding's run in
// setImmediate: the binding itself (dist/binding.js) loads and runs models synchronously, which
// is what a tfjs kernelFunc needs. Inputs are read and outputs written in place, straight from and
// into the wasm backend's heap (pre-allocated outputs), so no tensor is copied. Each distinct op
// signature gets a one-node (or few-node) ONNX model (engine/onnx/graph.ts) and a cached session.
import { createRequire } from 'node:module';
import os from 'node:os';
import { encodeOnnxModel, type OnnxGraph } from '../onnx/graph.js';

interface OrtTensor {
  readonly data: Float32Array;
}
type OrtTensorCtor = new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: Record<string, unknown>): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor | null>, options: Record<string, unknown>): Record<string, OrtTensor>;
  dispose(): void;
}

interface OrtModules {
  Session: new () => NativeSession;
  Tensor: OrtTensorCtor;
}

let modules: OrtModules | null | undefined;
let loadError = '';

/** Loads onnxruntime-node's native binding; null (with `ortLoadError()`) where it cannot. */
function load(): OrtModules | null {
  if (modules !== undefined) return modules;
  try {
    const require = createRequire(import.meta.url);
    const ortMain = require.resolve('onnxruntime-node');
    const fromOrt = createRequire(ortMain);
    const { binding, initOrt } = fromOrt('./binding.js') as { binding: { InferenceSession: new () => NativeSession }; initOrt: () => void };
    const common = fromOrt('onnxruntime-common') as { Tensor: OrtTensorCtor; env: { logLevel?: string } };
    const { Tensor } = common;
    // Only errors: ORT's graph-optimizer warnings would otherwise interleave with training output.
    common.env.logLevel = 'error';
    initOrt();
    modules = { Session: binding.InferenceSession, Tensor };
  } catch (err) {
    loadError = (err as Error).message.split('\n')[0] ?? String(err);
    modules = null;
  }
  return modules;
}

export function ortAvailable(): boolean {
  return load() !== null;
}

/** onnxruntime-node's version, or null where it does not load. */
export function ortVersion(): string | null {
  if (!load()) return null;
  const require = createRequire(import.meta.url);
  return (require('onnxruntime-node/package.json') as { version: string }).version;
}

export function ortLoadError(): string {
  return loadError;
}

/** Threads ORT may use inside one kernel (both cores on the target machines). */
export function ortThreads(): number {
  const fromEnv = Number.parseInt(process.env.METAQUANT_THREADS ?? '', 10);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 8));
}

/** A kernel's graph: an ONNX graph whose inputs and outputs have concrete shapes (float32). */
export type GraphSpec = OnnxGraph & { inputs: Record<string, number[]>; outputs: Record<string, number[]> };

/** A compiled graph run synchronously on float32 views (inputs read, outputs written in place). */
export interface OrtKernel {
  run(inputs: Record<string, Float32Array>, outputs: Record<string, Float32Array>): void;
}

const MAX_SESSIONS = 256;
const sessions = new Map<string, { kernel: OrtKernel; session: NativeSession }>();

/** The cached session for `key`, compiling `spec()` the first time. Throws if ORT is unavailable. */
export function ortKernel(key: string, spec: () => GraphSpec): OrtKernel {
  const cached = sessions.get(key);
  if (cached) return cached.kernel;
  const m = load();
  if (!m) throw new Error(`onnxruntime-node is unavailable: ${loadError}`);
  const graph = spec();
  const bytes = encodeOnnxModel({ name: 'kernel', ...graph });
  const session = new m.Session();
  session.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {
    intraOpNumThreads: ortThreads(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // No arena: it would keep every intermediate's peak allocated on top of the wasm heap.
    enableCpuMemArena: false,
    // Idle pool threads sleep instead of spinning: the wasm backend runs between ORT calls.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const kernel: OrtKernel = {
    run(inputs, outputs) {
      const feeds: Record<string, OrtTensor> = {};
      for (const [name, dims] of Object.entries(graph.inputs)) feeds[name] = new m.Tensor('float32', inputs[name]!, dims);
      const fetches: Record<string, OrtTensor> = {};
      for (const [name, dims] of Object.entries(graph.outputs)) fetches[name] = new m.Tensor('float32', outputs[name]!, dims);
      session.run(feeds, fetches, {});
    },
  };
  if (sessions.size >= MAX_SESSIONS) {
    // Oldest first: Map iteration order is insertion order.
    const [oldest, entry] = sessions.entries().next().value as [string, { session: NativeSession }];
    sessions.delete(oldest);
    entry.session.dispose();
  }
  sessions.set(key, { kernel, session });
  return kernel;
}
