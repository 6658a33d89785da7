// Child process of the bench: times one job on our engine (the wasm backend with our kernels,
// our model and step code: what `metaquant train` runs) and prints a JobResult as its last line.
// Usage: node dist/bench/ours.js '<BenchJob JSON>'
import { tf, type Tensor } from '../src/engine/tf.js';
import { useBackend } from '../src/engine/backend.js';
import { QuantizedModel } from '../src/models/model.js';
import { BaseOptimizer } from '../src/train/optimizers.js';
import { SteStep } from '../src/train/ste-step.js';
import { MetaQuantStep } from '../src/train/metaquant/step.js';
import { createMetaNetwork } from '../src/meta/registry.js';
import type { MetaKind } from '../src/meta/types.js';
import type { TrainStep } from '../src/train/step.js';
import { Rng } from '../src/util/rng.js';
import { nativeKernelsActive } from '../src/engine/native/ort-kernels.js';
import { ortThreads, ortVersion } from '../src/engine/native/ort.js';
import { MODEL_SHAPES, type BenchJob, type JobResult } from './workloads.js';
import { median, timeSteady, type SteadyTiming } from './steady.js';

const LR = 0.01;

function randomBatch(job: BenchJob): { x: Tensor; y: Tensor } {
  const rng = new Rng('bench-data');
  const [h, w, c] = MODEL_SHAPES[job.model].inputShape;
  const images = new Float32Array(job.batch * h * w * c).map(() => rng.normal());
  const labels = new Int32Array(job.batch).map(() => Math.floor(rng.next() * 10));
  return { x: tf.tensor4d(images, [job.batch, h, w, c]), y: tf.tensor1d(labels, 'int32') };
}

function buildModel(job: BenchJob, quantized: boolean): QuantizedModel {
  const shape = MODEL_SHAPES[job.model];
  return new QuantizedModel({
    arch: shape.arch,
    inputShape: shape.inputShape,
    numClasses: 10,
    archOptions: shape.hidden ? { hidden: shape.hidden } : {},
    quantizer: quantized ? { name: 'dorefa', bits: 1 } : null,
    seed: 1,
  });
}

function buildStep(job: BenchJob, model: QuantizedModel): TrainStep {
  const optimizer = new BaseOptimizer({ name: 'sgd' });
  if (!job.task.startsWith('mq-')) return new SteStep(model, optimizer);
  const kind = job.task.slice(3) as MetaKind;
  const meta = createMetaNetwork({ kind, hidden: kind === 'lstm' ? job.metaHidden : 100, layers: 3, activation: 'none', seed: 1 });
  return new MetaQuantStep(model, meta, optimizer, { mode: 'code', phiPath: 'ste', metaLr: 1e-3 });
}

const withoutMs = ({ ms: _ms, ...rest }: SteadyTiming) => rest;

/** Median ms of a few calls after one warm-up call (the conv GFLOP/s probe only). */
function timeFew(steps: number, run: () => void): number {
  run();
  const samples: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    run();
    samples.push(performance.now() - start);
  }
  return median(samples);
}

/** GFLOP/s of a forward ResNet-20 stage-1 convolution (batch × 32×32×16, 3×3×16→16), the base network's typical kernel. */
function convGflops(batch: number): number {
  const x = tf.randomNormal([batch, 32, 32, 16], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 16, 16], 0, 0.1, 'float32', 2) as tf.Tensor4D;
  const ms = timeFew(5, () => tf.tidy(() => void tf.conv2d(x, w, 1, 'same').dataSync()));
  tf.dispose([x, w]);
  return (2 * batch * 32 * 32 * 16 * 9 * 16) / ms / 1e6;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '') as BenchJob;
  await useBackend('wasm');
  const { x, y } = randomBatch(job);
  const model = buildModel(job, job.task !== 'train');
  const step = buildStep(job, model);
  const metaMs: number[] = [];
  let iteration = 0;
  const runStep = () => {
    step.step(x, y, { epoch: 0, batchIndex: iteration++, lr: LR, lrMultiplier: 1 });
    const seconds = step.takeDiagnostics().metaSeconds;
    if (seconds !== undefined) metaMs.push(seconds * 1000);
  };
  let trainMs: number;
  let trainTiming: SteadyTiming;
  let steMs: number | undefined;
  if (job.task.startsWith('mq-')) {
    // MetaQuant and STE steps on twin models, alternating step by step in this one process, so
    // that a shared machine's load affects both alike; the overhead is the ratio of the medians.
    // MetaQuant's first step has no meta call: one step each before the steady-state timing.
    const steModel = buildModel(job, true);
    const ste = buildStep({ ...job, task: 'ste' }, steModel);
    let steIteration = 0;
    const runSte = () => void ste.step(x, y, { epoch: 0, batchIndex: steIteration++, lr: LR, lrMultiplier: 1 });
    runStep();
    runSte();
    let mqSamples: number[] = [];
    let steSamples: number[] = [];
    const timed = (run: () => void, into: number[]) => {
      const start = performance.now();
      run();
      into.push(performance.now() - start);
    };
    let pair = 0;
    trainTiming = timeSteady(job.timing, () => {
      if (pair++ % 2 === 0) {
        timed(runStep, mqSamples);
        timed(runSte, steSamples);
      } else {
        timed(runSte, steSamples);
        timed(runStep, mqSamples);
      }
    }, () => {
      // Only the timed pairs count.
      mqSamples = [];
      steSamples = [];
      metaMs.length = 0;
    });
    trainMs = median(mqSamples);
    steMs = median(steSamples);
    ste.dispose();
    steModel.dispose();
  } else {
    trainTiming = timeSteady(job.timing, runStep);
    trainMs = trainTiming.ms;
  }
  const inferTiming = job.task === 'train' && job.infer ? timeSteady(job.timing, () => tf.tidy(() => void model.predict(x).dataSync())) : null;
  const inferMs = inferTiming?.ms ?? null;
  const result: JobResult = {
    trainMs,
    inferMs,
    peakRssMB: 0,
    cpuSeconds: 0,
    trainTiming: withoutMs(trainTiming),
    inferTiming: inferTiming ? withoutMs(inferTiming) : null,
    ...(job.task.startsWith('mq-') ? { metaMs: metaMs.length ? median(metaMs) : null, steMs } : {}),
    ...(job.task === 'mq-lstm' ? { convGflops: convGflops(job.batch) } : {}),
    info: {
      backend: tf.getBackend(),
      tfjs: tf.version.tfjs,
      native: nativeKernelsActive(),
      onnxruntime: ortVersion(),
      threads: nativeKernelsActive() ? ortThreads() : 1,
      quantizedWeights: model.quantizedKernels.reduce((n, k) => n + model.params.get(k).size, 0),
    },
  };
  step.dispose();
  model.dispose();
  tf.dispose([x, y]);
  const usage = process.resourceUsage();
  result.peakRssMB = usage.maxRSS / 1024;
  result.cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
  console.log(JSON.stringify(result));
}

main().catch((err: unknown) => {
  console.error(`bench child failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
