// The bench's output: a header with the machine, the plan and each side's configuration, the
// tables (rows measured under load or without steady state marked), and the last-line JSON.
import os from 'node:os';
import { type BenchModel, type JobResult, META_TASKS, TRAIN_GFLOP_PER_IMAGE } from './workloads.js';
import { median } from './steady.js';
import { LOAD_THRESHOLD } from './quiet.js';
import type { Plan, Side } from './run.js';

export interface Samples {
  trainMs: number[];
  inferMs: number[];
  rss: number[];
  metaMs: number[];
  convGflops: number[];
  quantizedWeights: number[];
  steMs: number[];
  /** Per child: MetaQuant step ÷ STE step, both timed alternately in that child. */
  overhead: number[];
  /** Per child: the share of all CPUs other processes used while it ran. */
  loadShares: number[];
  underLoad: boolean;
  /** Some child never reached two agreeing warm-up medians. */
  unsteady: boolean;
  info: Record<string, unknown> | null;
}

export const emptySamples = (): Samples => ({
  trainMs: [], inferMs: [], rss: [], metaMs: [], convGflops: [], quantizedWeights: [], steMs: [], overhead: [], loadShares: [], underLoad: false, unsteady: false, info: null,
});

export function record(into: Samples, r: JobResult): void {
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
  if (r.interference?.share != null) into.loadShares.push(r.interference.share);
  into.underLoad ||= r.interference?.underLoad ?? false;
  into.unsteady ||= !r.trainTiming.steady || r.inferTiming?.steady === false;
  into.info ??= r.info ?? null;
}

const medianOrNull = (xs: number[]): number | null => (xs.length ? median(xs) : null);
const maxOrNull = (xs: number[]): number | null => (xs.length ? Math.max(...xs) : null);
const round = (x: number | null, digits = 2): number | null => (x == null ? null : Number(x.toFixed(digits)));
const fmt = (x: number | null, digits = 0) => (x == null ? '—' : x.toFixed(digits));
const ratio = (a: number | null, b: number | null) => (a != null && b != null ? a / b : null);

function table(header: string[], rows: Array<Array<string>>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function machine(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${cpu}, ${os.cpus().length} logical CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average ${os.loadavg()[0]!.toFixed(1)}`;
}

function describe(info: Record<string, unknown> | null | undefined, keys: string[]): string {
  if (!info) return 'not run';
  return keys.filter((k) => info[k] !== undefined && info[k] !== null).map((k) => `${k} ${String(info[k])}`).join(', ');
}

/** Markers after a row's name: * measured under load, † some side never reached steady state. */
function marks(...sides: Array<Samples | undefined>): string {
  const load = sides.some((s) => s?.underLoad) ? '*' : '';
  const unsteady = sides.some((s) => s?.unsteady) ? '†' : '';
  return load + unsteady;
}

export interface ReportInput {
  plan: Plan;
  models: BenchModel[];
  samples: Record<Side, Record<string, Samples>>;
  torchNote: string | null;
  started: Date;
  threads: number;
  metaModel: BenchModel;
}

export function printReport({ plan, models, samples, torchNote, started, threads, metaModel }: ReportInput): void {
  const perSecond = (ms: number | null) => (ms == null ? null : (plan.batch * 1000) / ms);
  const all = Object.values(samples).flatMap((bySide) => Object.values(bySide));
  const anyLoad = all.some((s) => s.underLoad);
  const firstInfo = (side: Side) => Object.values(samples[side]).find((s) => s.info)?.info;
  const oursInfo = firstInfo('ours');
  const torchInfo = firstInfo('torch');
  console.log(`bench: ${plan.label}; ${plan.repeats} interleaved repeat(s), medians; batch ${plan.batch}; started ${started.toISOString()}`);
  console.log(`machine: ${machine()}`);
  console.log(`ours: ${describe(oursInfo, ['backend', 'native', 'threads', 'onnxruntime', 'tfjs'])}`);
  console.log(`torch: ${torchNote ? `unavailable (${torchNote})` : describe(torchInfo, ['torch', 'threads', 'blas', 'onednn', 'cpuCapability', 'parallel'])}`);
  const shares = all.flatMap((s) => s.loadShares);
  console.log(
    `quietness: other processes used up to ${fmt(maxOrNull(shares) == null ? null : 100 * maxOrNull(shares)!, 0)} % of the CPUs while a child ran ` +
      `(rows over ${100 * LOAD_THRESHOLD} % are marked *: ${anyLoad ? 'this run was measured UNDER LOAD' : 'none'})\n`,
  );

  const json: { models: Record<string, Record<string, unknown>>; metaquantOverhead: Record<string, number | null>; [key: string]: unknown } = { models: {}, metaquantOverhead: {} };
  const rows: string[][] = [];
  for (const model of models) {
    const ours = samples.ours[model] ?? emptySamples();
    const wasmOnly = samples.wasm[model];
    const torch = samples.torch[model];
    const wasmTrain = wasmOnly ? perSecond(medianOrNull(wasmOnly.trainMs)) : null;
    const oursTrain = perSecond(medianOrNull(ours.trainMs));
    const torchTrain = torch ? perSecond(medianOrNull(torch.trainMs)) : null;
    const oursInfer = perSecond(medianOrNull(ours.inferMs));
    const torchInfer = torch ? perSecond(medianOrNull(torch.inferMs)) : null;
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
      rssRatio: round(ratio(oursRss, torchRss), 3),
      oursTrainGflops: round(oursTrain == null ? null : oursTrain * TRAIN_GFLOP_PER_IMAGE[model], 1),
      oursWasmOnly: round(wasmTrain, 1),
      oursWasmOnlyInfer: round(wasmOnly ? perSecond(medianOrNull(wasmOnly.inferMs)) : null, 1),
      oursWasmOnlyPeakRssMB: round(wasmOnly ? medianOrNull(wasmOnly.rss) : null, 0),
      otherCpuShare: round(maxOrNull([...ours.loadShares, ...(torch?.loadShares ?? [])]), 3),
      underLoad: ours.underLoad || (torch?.underLoad ?? false),
      steady: !(ours.unsteady || (torch?.unsteady ?? false)),
    };
    rows.push([
      model + marks(ours, torch),
      fmt(oursTrain),
      fmt(torchTrain),
      fmt(ratio(oursTrain, torchTrain), 3),
      fmt(oursInfer),
      fmt(torchInfer),
      fmt(ratio(oursInfer, torchInfer), 3),
      fmt(oursRss),
      fmt(torchRss),
      fmt(ratio(oursRss, torchRss), 2),
      fmt(wasmTrain),
      fmt(ratio(oursTrain, wasmTrain), 2),
    ]);
  }
  console.log(`Training (forward + backward + SGD) and inference, images/s, batch ${plan.batch}; peak RSS per process, MB\n`);
  console.log(
    table(
      ['model', 'ours train', 'torch train', 'ratio', 'ours infer', 'torch infer', 'ratio', 'ours RSS', 'torch RSS', 'RSS ratio', 'wasm-only train', 'native speed-up'],
      rows,
    ),
  );
  console.log('\n* measured under load (other processes used over 5 % of the CPUs); † a side never reached two warm-up medians within 5 %');
  if (torchNote) console.log(`\nnote: PyTorch unavailable (${torchNote}); its columns are empty and "torch" is null in the JSON`);

  // ---- MetaQuant vs STE ----------------------------------------------------------------------
  const metaRows: string[][] = [];
  const stepFlopsLstm = (elements: number, hidden: number) => elements * (16 * hidden * hidden + 4 * hidden);
  let lstmGflops: number | null = null;
  const lstmWeights = samples.ours['meta:lstm']?.quantizedWeights[0] ?? 0;
  const convGflops = medianOrNull(samples.ours['meta:lstm']?.convGflops ?? []);
  for (const task of META_TASKS) {
    const s = samples.ours[`meta:${task}`];
    const metaMs = medianOrNull(s?.metaMs ?? []);
    const overhead = medianOrNull(s?.overhead ?? []);
    json.metaquantOverhead[task] = round(overhead, 3);
    if (task === 'lstm' && metaMs != null) lstmGflops = stepFlopsLstm(lstmWeights, plan.metaHidden) / metaMs / 1e6;
    metaRows.push([task + marks(s), fmt(medianOrNull(s?.trainMs ?? [])), fmt(medianOrNull(s?.steMs ?? [])), fmt(overhead, 2), fmt(metaMs)]);
  }
  console.log(`\nMetaQuant (code mode, φ path ste) vs STE step: ${metaModel}, 1-bit DoReFa, batch ${plan.batch}, SGD; ms per step`);
  console.log('(each MetaQuant child also runs an STE step on a twin model, alternating step by step)\n');
  console.log(table(['meta network', 'MetaQuant ms/step', 'STE ms/step', '× STE', 'meta part ms'], metaRows));
  console.log(
    `\nLSTM meta network (hidden ${plan.metaHidden}, ${lstmWeights} weights, matmul FLOPs 16H²+4H per weight per step): ` +
      `${fmt(lstmGflops, 1)} GFLOP/s; our forward conv2d (${plan.batch}×32×32×16, 3×3×16→16): ${fmt(convGflops, 1)} GFLOP/s` +
      (lstmGflops != null && convGflops != null ? ` (${fmt((100 * lstmGflops) / convGflops, 0)} %)` : ''),
  );
  json.metaquantModel = metaModel;
  json.lstmMetaGflops = round(lstmGflops, 1);
  json.convGflops = round(convGflops, 1);
  json.batch = plan.batch;
  json.plan = plan.label.split(' ')[0];
  json.underLoad = anyLoad;
  json.started = started.toISOString();
  json.machine = machine();
  json.config = { ours: oursInfo ?? null, torch: torchInfo ?? null, threads };
  console.log(JSON.stringify(json));
}
