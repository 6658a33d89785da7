// What the bench runs, shared by the driver (run.ts) and our engine's child process (ours.ts);
// bench/torch_bench.py builds the same shapes in PyTorch from the same JSON request.
import type { SteadyTiming, TimingPlan } from './steady.js';
import type { Interference } from './quiet.js';

export { median } from './steady.js';

export const BENCH_MODELS = ['mlp', 'lenet5', 'resnet20'] as const;
export type BenchModel = (typeof BENCH_MODELS)[number];

export const META_TASKS = ['fcgrad', 'multifc', 'lstm'] as const;
export type MetaTask = (typeof META_TASKS)[number];

/** Training FLOP per image (forward + backward), multiply–adds counted as 2, for GFLOP/s figures. */
export const TRAIN_GFLOP_PER_IMAGE: Record<BenchModel, number> = { mlp: 0.011, lenet5: 0.074, resnet20: 0.243 };

export interface ModelShape {
  /** Architecture name in src/models/architectures.ts. */
  arch: BenchModel;
  inputShape: [number, number, number];
  /** mlp only: hidden widths. */
  hidden?: number[];
}

export const MODEL_SHAPES: Record<BenchModel, ModelShape> = {
  mlp: { arch: 'mlp', inputShape: [28, 28, 1], hidden: [1024, 1024] },
  lenet5: { arch: 'lenet5', inputShape: [28, 28, 1] },
  resnet20: { arch: 'resnet20', inputShape: [32, 32, 3] },
};

/**
 * One child-process job. `task`: 'train' (float model, forward + backward + SGD step) then
 * 'infer' (inference forward) — both sides; 'ste' and 'mq-*' (1-bit DoReFa, STE vs MetaQuant
 * step on the same model) — ours only.
 */
export interface BenchJob {
  task: 'train' | 'ste' | `mq-${MetaTask}`;
  model: BenchModel;
  batch: number;
  /** Warm-up to steady state, then timed steps (bench/steady.ts; mirrored in torch_bench.py). */
  timing: TimingPlan;
  /** 'train' jobs: also time the inference forward. */
  infer: boolean;
  /** LSTM meta network hidden size. */
  metaHidden: number;
  threads: number;
  /** Ours only: false runs the pure wasm kernels (METAQUANT_NATIVE=0), the engine before native kernels. */
  native?: boolean;
}

/** What a child process prints as its last stdout line. */
export interface JobResult {
  /** Median ms of one training step (of the job's task). */
  trainMs: number;
  /** Median ms of one inference forward, when measured. */
  inferMs: number | null;
  /** Peak resident set size of the child process, MB. */
  peakRssMB: number;
  /** The child's own CPU time (user + system, all threads), s: the driver subtracts it from /proc/stat. */
  cpuSeconds: number;
  /** How the training (or MetaQuant) and inference timings were reached. */
  trainTiming: Omit<SteadyTiming, 'ms'>;
  inferTiming?: Omit<SteadyTiming, 'ms'> | null;
  /** MetaQuant jobs: median ms of the STE step on a twin model, alternating with the MetaQuant steps. */
  steMs?: number;
  /** MetaQuant jobs: median ms per step spent in the meta network (forward, φ gradient, split). */
  metaMs?: number | null;
  /** Median GFLOP/s of a forward 3×3 convolution (128×32×32×16 → 16) in the same process. */
  convGflops?: number;
  /** Set by the driver: CPU time other processes used while this child ran. */
  interference?: Interference;
  /** The side's configuration (versions, threads, libraries) and extra notes. */
  info?: Record<string, unknown>;
}
