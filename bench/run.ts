// `npm run bench`: our engine against PyTorch CPU on the same models, shapes, batch and thread
// count, each measurement in its own child process (so peak RSS is per side), repeats interleaved,
// medians reported; then MetaQuant's step against our STE step. Prints tables and, as the last
// stdout line, one JSON object (see README, Performance).
//   node dist/bench/run.js [--quick | --smoke] [--repeats N] [--python PATH] [--models a,b]
//     [--skip-meta] [--skip-wasm-only]
// 'ours' is the engine as `metaquant train` runs it (native kernels where onnxruntime loads);
// 'wasm-only' the same with METAQUANT_NATIVE=0 (the pure wasm kernels): before/after in one run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BENCH_MODELS,
  META_TASKS,
  TRAIN_GFLOP_PER_IMAGE,
  median,
  type BenchJob,
  type BenchModel,
  type JobResult,
  type MetaTask,
} from './workloads.js';

const here = dirname(fileURLToPath(import.meta.url));
const OURS_CHILD = join(here, 'ours.js');
/** The Python script lives next to the sources (dist/bench → bench). */
const TORCH_CHILD = join(here, '..', '..', 'bench', 'torch_bench.py');
/** The meta networks are compared on the paper's CIFAR model. */
const META_MODEL: BenchModel = 'resnet20';
const THREADS = 2;

interface Plan {
  label: string;
  batch: number;
  repeats: number;
  warmup: number;
  steps: Record<BenchModel, number>;
  metaSteps: number;
  metaHidden: number;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function makePlan(): Plan {
  const repeats = argValue('--repeats');
  const plan: Plan = process.argv.includes('--smoke')
    ? { label: 'smoke (batch 4, 1 step: checks the plumbing, not speed)', batch: 4, repeats: 1, warmup: 1, steps: { mlp: 1, lenet5: 1, resnet20: 1 }, metaSteps: 1, metaHidden: 8 }
    : process.argv.includes('--quick')
      ? { label: 'quick', batch: 128, repeats: 1, warmup: 1, steps: { mlp: 5, lenet5: 3, resnet20: 2 }, metaSteps: 2, metaHidden: 100 }
      : { label: 'full', batch: 128, repeats: 3, warmup: 2, steps: { mlp: 10, lenet5: 5, resnet20: 3 }, metaSteps: 3, metaHidden: 100 };
  if (repeats !== undefined) plan.repeats = Math.max(1, Number.parseInt(repeats, 10) || 1);
  return plan;
}

/** 'wasm': our engine with the native kernels off (pure wasm), for before/after figures. */
type Side = 'ours' | 'wasm' | 'torch';

/** Runs one child; returns its JobResult, or a reason it could not. */
function runChild(side: Side, job: BenchJob, python: string): JobResult | { unavailable: string } {
  const payload = JSON.stringify(job);
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
  return JSON.parse(last) as JobResult | { unavailable: string };
}

interface Samples {
  trainMs: number[];
  inferMs: number[];
  rss: number[];
  metaMs: number[];
  convGflops: number[];
  quantizedWeights: number[];
  steMs: number[];
  /** Per child: MetaQuant step ÷ STE step, both timed alternately in that child. */
  overhead: number[];
}

const emptySamples = (): Samples => ({ trainMs: [], inferMs: [], rss: [], metaMs: [], convGflops: [], quantizedWeights: [], steMs: [], overhead: [] });

function record(into: Samples, r: JobResult): void {
  into.trainMs.push(r.trainMs);
  if (r.inferMs != null) into.inferMs.push(r.inferMs);
  into.rss.push(r.peakRssMB);
  if (r.metaMs != null) into.metaMs.push(r.metaMs);
  if (r.convGflops != null) into.convGflops.push(r.convGflops);
  if (r.steMs != null) {
    into.steMs.push(r.steMs);
    into.overhead.push(r.trainMs / r.steMs);
  }
  const weights = r.info?.quantizedWeights;
  if (typeof weights === 'number') into.quantizedWeights.push(weights);
}

const medianOrNull = (xs: number[]): number | null => (xs.length ? median(xs) : null);
const perSecond = (batch: number, ms: number | null) => (ms == null ? null : (batch * 1000) / ms);
const round = (x: number | null, digits = 2): number | null => (x == null ? null : Number(x.toFixed(digits)));
const fmt = (x: number | null, digits = 0) => (x == null ? '—' : x.toFixed(digits));

function table(header: string[], rows: Array<Array<string>>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function machine(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const load = os.loadavg()[0]!.toFixed(1);
  return `${cpu}, ${os.cpus().length} logical CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average ${load}`;
}

async function main(): Promise<void> {
  const plan = makePlan();
  const python = argValue('--python') ?? '/usr/bin/python3';
  const models = (argValue('--models')?.split(',') ?? [...BENCH_MODELS]) as BenchModel[];
  for (const m of models) if (!BENCH_MODELS.includes(m)) throw new Error(`unknown bench model '${m}'; expected: ${BENCH_MODELS.join(', ')}`);
  let torchNote: string | null = existsSync(python) ? null : `${python} not found`;
  console.log(`bench: ${plan.label}; ${plan.repeats} interleaved repeat(s), medians; batch ${plan.batch}; ${THREADS} threads for PyTorch`);
  console.log(`machine: ${machine()}\n`);

  const samples: Record<Side, Record<string, Samples>> = { ours: {}, wasm: {}, torch: {} };
  const withWasmOnly = !process.argv.includes('--skip-wasm-only');
  const jobFor = (task: BenchJob['task'], model: BenchModel): BenchJob => ({
    task,
    model,
    batch: plan.batch,
    warmup: task.startsWith('mq-') ? Math.max(2, plan.warmup) : plan.warmup, // MetaQuant's first step has no meta call
    steps: task === 'train' ? plan.steps[model] : plan.metaSteps,
    inferSteps: task === 'train' ? plan.steps[model] : 0,
    metaHidden: plan.metaHidden,
    threads: THREADS,
  });

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
        process.stderr.write(`  repeat ${r + 1}/${plan.repeats} ${model} ${side}: ${fmt(perSecond(plan.batch, result.trainMs))} img/s\n`);
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
      process.stderr.write(`  repeat ${r + 1}/${plan.repeats} ${META_MODEL} ${task}: ${fmt(result.trainMs)} ms/step, STE ${fmt(result.steMs ?? null)}\n`);
    }
  }

  // ---- models: ours vs PyTorch --------------------------------------------------------------
  const json: {
    models: Record<string, Record<string, number | null>>;
    metaquantOverhead: Record<string, number | null>;
    [key: string]: unknown;
  } = { models: {}, metaquantOverhead: {} };
  const rows: string[][] = [];
  for (const model of models) {
    const ours = samples.ours[model] ?? emptySamples();
    const wasmOnly = samples.wasm[model];
    const wasmTrain = wasmOnly ? perSecond(plan.batch, medianOrNull(wasmOnly.trainMs)) : null;
    const torch = samples.torch[model];
    const oursTrain = perSecond(plan.batch, medianOrNull(ours.trainMs));
    const torchTrain = torch ? perSecond(plan.batch, medianOrNull(torch.trainMs)) : null;
    const oursInfer = perSecond(plan.batch, medianOrNull(ours.inferMs));
    const torchInfer = torch ? perSecond(plan.batch, medianOrNull(torch.inferMs)) : null;
    const ratio = (a: number | null, b: number | null) => (a != null && b != null ? a / b : null);
    const oursRss = medianOrNull(ours.rss);
    const torchRss = torch ? medianOrNull(torch.rss) : null;
    json.models[model] = {
      ours: round(oursTrain, 1),
      torch: round(torchTrain, 1),
      ratio: round(ratio(oursTrain, torchTrain), 3),
      oursInfer: round(oursInfer, 1),
      torchInfer: round(torchInfer, 1),
      inferRatio: round(ratio(oursInfer, torchInfer), 3),
      oursPeakRssMB: round(oursRss, 0),
      torchPeakRssMB: round(torchRss, 0),
      oursTrainGflops: round(oursTrain == null ? null : oursTrain * TRAIN_GFLOP_PER_IMAGE[model], 1),
      oursWasmOnly: round(wasmTrain, 1),
      oursWasmOnlyInfer: round(wasmOnly ? perSecond(plan.batch, medianOrNull(wasmOnly.inferMs)) : null, 1),
      oursWasmOnlyPeakRssMB: round(wasmOnly ? medianOrNull(wasmOnly.rss) : null, 0),
    };
    rows.push([
      model,
      fmt(oursTrain),
      fmt(torchTrain),
      fmt(ratio(oursTrain, torchTrain), 3),
      fmt(oursInfer),
      fmt(torchInfer),
      fmt(ratio(oursInfer, torchInfer), 3),
      fmt(oursRss),
      fmt(torchRss),
      fmt(wasmTrain),
      fmt(ratio(oursTrain, wasmTrain), 2),
    ]);
  }
  console.log(`Training (forward + backward + SGD) and inference, images/s, batch ${plan.batch}; peak RSS per process, MB`);
  console.log(
    table(
      ['model', 'ours train', 'torch train', 'ratio', 'ours infer', 'torch infer', 'ratio', 'ours RSS', 'torch RSS', 'wasm-only train', 'native speed-up'],
      rows,
    ),
  );
  if (torchNote) console.log(`\nnote: PyTorch unavailable (${torchNote}); its columns are empty and "torch" is null in the JSON`);

  // ---- MetaQuant vs STE ----------------------------------------------------------------------
  const metaRows: string[][] = [];
  const stepFlopsLstm = (elements: number, hidden: number) => elements * (16 * hidden * hidden + 4 * hidden);
  let lstmGflops: number | null = null;
  const lstmWeights = samples.ours['meta:lstm']?.quantizedWeights[0] ?? 0;
  const convGflops = medianOrNull(samples.ours['meta:lstm']?.convGflops ?? []);
  for (const task of META_TASKS) {
    const s = samples.ours[`meta:${task}`];
    const ms = medianOrNull(s?.trainMs ?? []);
    const steMs = medianOrNull(s?.steMs ?? []);
    const metaMs = medianOrNull(s?.metaMs ?? []);
    const overhead = medianOrNull(s?.overhead ?? []);
    json.metaquantOverhead[task] = round(overhead, 3);
    if (task === 'lstm' && metaMs != null) lstmGflops = stepFlopsLstm(lstmWeights, plan.metaHidden) / metaMs / 1e6;
    metaRows.push([task, fmt(ms), fmt(steMs), fmt(overhead, 2), fmt(metaMs)]);
  }
  console.log(`\nMetaQuant (code mode, φ path ste) vs STE step: ${META_MODEL}, 1-bit DoReFa, batch ${plan.batch}, SGD; ms per step`);
  console.log('(each MetaQuant child also runs an STE step on a twin model, alternating step by step)');
  console.log(table(['meta network', 'MetaQuant ms/step', 'STE ms/step', '× STE', 'meta part ms'], metaRows));
  console.log(
    `LSTM meta network (hidden ${plan.metaHidden}, ${lstmWeights} weights, matmul FLOPs 16H²+4H per weight per step): ` +
      `${fmt(lstmGflops, 1)} GFLOP/s; our forward conv2d (${plan.batch}×32×32×16, 3×3×16→16): ${fmt(convGflops, 1)} GFLOP/s`,
  );
  json.metaquantModel = META_MODEL;
  json.lstmMetaGflops = round(lstmGflops, 1);
  json.convGflops = round(convGflops, 1);
  json.batch = plan.batch;
  json.plan = plan.label.split(' ')[0];
  json.machine = machine();
  console.log(JSON.stringify(json));
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${(err as Error).message}`);
  process.exit(1);
});
