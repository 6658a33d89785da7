// `npm run bench`: our engine against PyTorch CPU on the same models, shapes, batch and thread
// count, each measurement in its own child process (so peak RSS is per side), repeats interleaved,
// medians reported; then MetaQuant's step against our STE step. Each side warms up to steady
// state before it is timed (bench/steady.ts), and /proc/stat around every child says how much CPU
// other processes took meanwhile (bench/quiet.ts): rows measured under load are marked.
// Prints each side's configuration, tables and, as the last stdout line, one JSON object.
//   node dist/bench/run.js [--quick | --smoke] [--repeats N] [--python PATH] [--models a,b]
//     [--skip-meta] [--skip-wasm-only]
// 'ours' is the engine as `metaquant train` runs it (native kernels where onnxruntime loads);
// 'wasm-only' the same with METAQUANT_NATIVE=0 (the pure wasm kernels): before/after in one run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_MODELS, META_TASKS, type BenchJob, type BenchModel, type JobResult, type MetaTask } from './workloads.js';
import type { TimingPlan } from './steady.js';
import { cpuMark, interference } from './quiet.js';
import { type Samples, emptySamples, record, printReport } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const OURS_CHILD = join(here, 'ours.js');
/** The Python script lives next to the sources (dist/bench → bench). */
const TORCH_CHILD = join(here, '..', '..', 'bench', 'torch_bench.py');
/** The meta networks are compared on the paper's CIFAR model. */
export const META_MODEL: BenchModel = 'resnet20';
const THREADS = 2;

export interface Plan {
  label: string;
  batch: number;
  repeats: number;
  timing: TimingPlan;
  metaHidden: number;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** full: the rule (≥ 2 s warm-up to two medians within 5 %, ≥ 3 s timed); quick shortens both. */
const FULL: TimingPlan = { warmupSeconds: 2, maxWarmupSeconds: 60, windowSteps: 3, windowSeconds: 0.5, tolerance: 0.05, timedSeconds: 3, minTimedSteps: 3 };
const QUICK: TimingPlan = { warmupSeconds: 1, maxWarmupSeconds: 20, windowSteps: 2, windowSeconds: 0.25, tolerance: 0.05, timedSeconds: 1, minTimedSteps: 2 };
const SMOKE: TimingPlan = { warmupSeconds: 0, maxWarmupSeconds: 0, windowSteps: 1, windowSeconds: 0, tolerance: 0.05, timedSeconds: 0, minTimedSteps: 1 };

function makePlan(): Plan {
  const repeats = argValue('--repeats');
  const plan: Plan = process.argv.includes('--smoke')
    ? { label: 'smoke (batch 4, 1 step: checks the plumbing, not speed)', batch: 4, repeats: 1, timing: SMOKE, metaHidden: 8 }
    : process.argv.includes('--quick')
      ? { label: 'quick (≥ 1 s warm-up to steady state, ≥ 1 s timed)', batch: 128, repeats: 1, timing: QUICK, metaHidden: 100 }
      : { label: 'full (≥ 2 s warm-up to steady state, ≥ 3 s timed)', batch: 128, repeats: 3, timing: FULL, metaHidden: 100 };
  if (repeats !== undefined) plan.repeats = Math.max(1, Number.parseInt(repeats, 10) || 1);
  return plan;
}

/** 'wasm': our engine with the native kernels off (pure wasm), for before/after figures. */
export type Side = 'ours' | 'wasm' | 'torch';

/** Runs one child, with /proc/stat read around it; returns its JobResult, or a reason it could not. */
function runChild(side: Side, job: BenchJob, python: string): JobResult | { unavailable: string } {
  const payload = JSON.stringify(job);
  const before = cpuMark();
  const child =
    side !== 'torch'
      ? spawnSync(process.execPath, [OURS_CHILD, payload], {
          encoding: 'utf8',
          maxBuffer: 1 << 24,
          env: { ...process.env, METAQUANT_NATIVE: side === 'wasm' ? '0' : (process.env.METAQUANT_NATIVE ?? '1') },
        })
      : spawnSync(python, [TORCH_CHILD, payload], {
          encoding: 'utf8',
          maxBuffer: 1 << 24,
          // PyTorch's two thread pools otherwise spin against each other on 2 cores.
          env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: String(job.threads) },
        });
  if (child.error) return { unavailable: `${side}: ${child.error.message}` };
  const lines = child.stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  if (child.status !== 0 || !last.startsWith('{')) {
    const why = (child.stderr || child.stdout).trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${side} child for ${job.task} ${job.model} failed (exit ${child.status}): ${why}`);
  }
  const result = JSON.parse(last) as JobResult | { unavailable: string };
  if ('unavailable' in result) return result;
  result.interference = interference(before, result.cpuSeconds);
  return result;
}

async function main(): Promise<void> {
  const plan = makePlan();
  const python = argValue('--python') ?? '/usr/bin/python3';
  const models = (argValue('--models')?.split(',') ?? [...BENCH_MODELS]) as BenchModel[];
  for (const m of models) if (!BENCH_MODELS.includes(m)) throw new Error(`unknown bench model '${m}'; expected: ${BENCH_MODELS.join(', ')}`);
  let torchNote: string | null = existsSync(python) ? null : `${python} not found`;
  const started = new Date();

  const samples: Record<Side, Record<string, Samples>> = { ours: {}, wasm: {}, torch: {} };
  const withWasmOnly = !process.argv.includes('--skip-wasm-only');
  const jobFor = (task: BenchJob['task'], model: BenchModel): BenchJob => ({
    task,
    model,
    batch: plan.batch,
    timing: plan.timing,
    infer: task === 'train',
    metaHidden: plan.metaHidden,
    threads: THREADS,
  });
  const rate = (ms: number) => ((plan.batch * 1000) / ms).toFixed(0);
  const loadNote = (r: JobResult) => {
    const share = r.interference?.share;
    return share == null ? '' : `, others ${(100 * share).toFixed(0)} % of the CPUs${r.interference!.underLoad ? ' (under load)' : ''}`;
  };

  for (let r = 0; r < plan.repeats; r++) {
    for (const model of models) {
      const all: Side[] = ['ours', 'torch', 'wasm'];
      const sides = all.map((_, i) => all[(i + r) % all.length]!);
      for (const side of sides) {
        if (side === 'torch' && torchNote) continue;
        if (side === 'wasm' && !withWasmOnly) continue;
        const result = runChild(side, jobFor('train', model), python);
        if ('unavailable' in result) {
          torchNote = result.unavailable;
          continue;
        }
        record((samples[side][model] ??= emptySamples()), result);
        process.stderr.write(`  repeat ${r + 1}/${plan.repeats} ${model} ${side}: ${rate(result.trainMs)} img/s${loadNote(result)}\n`);
      }
    }
  }
  const metaTasks: MetaTask[] = process.argv.includes('--skip-meta') ? [] : [...META_TASKS];
  for (let r = 0; r < plan.repeats && metaTasks.length > 0; r++) {
    const order = metaTasks.map((_, i) => metaTasks[(i + r) % metaTasks.length]!);
    for (const task of order) {
      const result = runChild('ours', jobFor(`mq-${task}`, META_MODEL), python);
      if ('unavailable' in result) continue;
      record((samples.ours[`meta:${task}`] ??= emptySamples()), result);
      process.stderr.write(`  repeat ${r + 1}/${plan.repeats} ${META_MODEL} ${task}: ${result.trainMs.toFixed(0)} ms/step, STE ${result.steMs?.toFixed(0) ?? '—'}${loadNote(result)}\n`);
    }
  }
  printReport({ plan, models, samples, torchNote, started, threads: THREADS, metaModel: META_MODEL });
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${(err as Error).message}`);
  process.exit(1);
});
