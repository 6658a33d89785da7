// Where a training step's time goes: `npm run bench:profile -- [--models mlp,lenet5,resnet20] [--steps N]`.
// Per model (batch 128, float, SGD, our STE step as `metaquant train` runs it): the step's wall
// time split into the native forward graph, the native backward graph and everything else (tfjs:
// loss, hooks, optimizer update, NaN checks, dispatch), then onnxruntime's own per-operator
// profile of both graphs. A profile, not a benchmark: no PyTorch, no repeats; under load, say so.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../src/engine/tf.js';
import { useBackend } from '../src/engine/backend.js';
import { QuantizedModel } from '../src/models/model.js';
import { traceModel } from '../src/models/trace.js';
import { BaseOptimizer } from '../src/train/optimizers.js';
import { SteStep } from '../src/train/ste-step.js';
import { encodeOnnxModel } from '../src/engine/onnx/graph.js';
import { ortThreads } from '../src/engine/native/ort.js';
import { nativeModelStats } from '../src/models/native/native-model.js';
import { buildForward } from '../src/models/native/forward-graph.js';
import { buildBackward } from '../src/models/native/backward-graph.js';
import { nchwcBlockSize } from '../src/engine/native/graph/nchwc.js';
import type { GraphSpec } from '../src/engine/native/ort.js';
import { BENCH_MODELS, MODEL_SHAPES, type BenchModel } from './workloads.js';

const BATCH = 128;
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

function buildModel(name: BenchModel): QuantizedModel {
  const shape = MODEL_SHAPES[name];
  return new QuantizedModel({ arch: shape.arch, inputShape: shape.inputShape, numClasses: 10, archOptions: shape.hidden ? { hidden: shape.hidden } : {}, quantizer: null, seed: 1 });
}

/** The step's mean wall time and the native graphs' share of it, over `steps` steps after two. */
function stepSplit(model: QuantizedModel, steps: number) {
  const step = new SteStep(model, new BaseOptimizer({ name: 'sgd' }));
  const x = tf.randomNormal([BATCH, ...model.config.inputShape]);
  const y = tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 10), 'int32');
  const ctx = { epoch: 0, batchIndex: 0, lr: 0.01, lrMultiplier: 1 };
  step.step(x, y, ctx);
  step.step(x, y, ctx);
  const before = nativeModelStats();
  const start = performance.now();
  for (let i = 0; i < steps; i++) step.step(x, y, ctx);
  const total = (performance.now() - start) / steps;
  const after = nativeModelStats();
  step.dispose();
  tf.dispose([x, y]);
  const forward = (after.forwardMs - before.forwardMs) / steps;
  const backward = (after.backwardMs - before.backwardMs) / steps;
  return { total, forward, backward, rest: total - forward - backward };
}

/** onnxruntime's per-operator times for one graph (its profiler, a few runs on random inputs). */
async function operatorProfile(spec: GraphSpec, runs: number): Promise<Array<[string, number, number]>> {
  const require = createRequire(import.meta.url);
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const dir = mkdtempSync(join(tmpdir(), 'mq-profile-'));
  try {
    const session = await ort.InferenceSession.create(encodeOnnxModel(spec), {
      intraOpNumThreads: ortThreads(),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      enableCpuMemArena: false,
      enableProfiling: true,
      profileFilePrefix: join(dir, 'ort'),
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
    for (const [name, dims] of Object.entries(spec.inputs)) {
      feeds[name] = new ort.Tensor("float32", Float32Array.from({ length: (dims as number[]).reduce((a, b) => a * b, 1) }, () => Math.random() - 0.5), dims as number[]);
    }
    for (let i = 0; i < runs + 1; i++) await session.run(feeds);
    session.endProfiling();
    await session.release();
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    const events = JSON.parse(readFileSync(join(dir, file!), 'utf8')) as Array<{ cat: string; name: string; dur: number; args: { op_name?: string } }>;
    const byOp = new Map<string, { us: number; n: number }>();
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      const a = byOp.get(e.args.op_name ?? '?') ?? { us: 0, n: 0 };
      a.us += e.dur;
      a.n++;
      byOp.set(e.args.op_name ?? '?', a);
    }
    const perRun = runs + 1;
    return [...byOp].map(([op, a]) => [op, a.n / perRun, a.us / perRun / 1000] as [string, number, number]).sort((p, q) => q[2] - p[2]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  await useBackend('wasm');
  const models = (arg('--models')?.split(',') ?? [...BENCH_MODELS]) as BenchModel[];
  const steps = Number(arg('--steps') ?? 5);
  const block = nchwcBlockSize();
  console.log(`profile: batch ${BATCH}, ${ortThreads()} onnxruntime threads, NCHWc block ${block || 'off'}`);
  for (const name of models) {
    const model = buildModel(name);
    const split = stepSplit(model, name === 'resnet20' ? Math.max(2, Math.floor(steps / 2)) : steps);
    const pct = (ms: number) => `${ms.toFixed(1)} ms (${((100 * ms) / split.total).toFixed(0)} %)`;
    console.log(`\n${name}: step ${split.total.toFixed(1)} ms = native forward ${pct(split.forward)} + native backward ${pct(split.backward)} + tfjs rest ${pct(split.rest)}`);
    const graph = traceModel(model);
    const fwd = buildForward(graph, { batch: BATCH, training: true, saveForBackward: true, updateStatistics: true, block });
    for (const [label, spec] of [['forward', fwd.spec], ['backward', buildBackward(graph, fwd, BATCH, block).spec]] as const) {
      const ops = await operatorProfile(spec, name === 'resnet20' ? 3 : 10);
      const total = ops.reduce((a, [, , ms]) => a + ms, 0);
      console.log(`  ${label} graph, onnxruntime profile (${total.toFixed(1)} ms of kernels per run): ` + ops.slice(0, 8).map(([op, n, ms]) => `${op}×${n} ${ms.toFixed(1)}`).join(', '));
    }
    model.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(`profile failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
