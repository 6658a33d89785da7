/**
 * Summary statistics of a grid, pure functions of the runs' metrics (no files, no clocks).
 *
 * Per cell (method × quantizer × optimizer), over its seeds:
 *  - final accuracy: each run's test accuracy after its last epoch; mean and sample std (n − 1).
 *  - the reference's statistic: the mean of test accuracy over all runs × their last k epochs
 *    (k = min(lastK, the run's epochs)), as the MetaQuant reference code reports it.
 *  - best-epoch accuracy: the mean (and sample std) over runs of each run's maximum test accuracy.
 *  - run time: the mean wall-clock seconds.
 */

export interface RunMetrics {
  method: string;
  quantizer: string;
  optimizer: string;
  seed: number;
  /** One entry per epoch, in order (metrics.jsonl). */
  history: Array<{ epoch: number; testAccuracy: number; trainLoss: number; [k: string]: number }>;
  wallSeconds: number;
}

export interface CellSummary {
  method: string;
  quantizer: string;
  optimizer: string;
  n: number;
  seeds: number[];
  finalMean: number;
  /** Sample standard deviation (n − 1); null for a single run. */
  finalStd: number | null;
  /** Mean over runs × last-k epochs of test accuracy. */
  lastKMean: number;
  lastK: number;
  bestMean: number;
  bestStd: number | null;
  wallSecondsMean: number;
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('mean of no values');
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Sample standard deviation (Bessel's n − 1); null when there are fewer than two values. */
export function sampleStd(values: readonly number[]): number | null {
  if (values.length < 2) return null;
  const m = mean(values);
  let ss = 0;
  for (const v of values) ss += (v - m) ** 2;
  return Math.sqrt(ss / (values.length - 1));
}

export const cellKey = (r: { method: string; quantizer: string; optimizer: string }) => `${r.method}\u0000${r.quantizer}\u0000${r.optimizer}`;

/** Groups runs by cell, keeping the first-seen order of cells. */
export function groupByCell<T extends { method: string; quantizer: string; optimizer: string }>(runs: readonly T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const r of runs) {
    const k = cellKey(r);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  return [...groups.values()];
}

export function summarizeCell(runs: readonly RunMetrics[], lastK: number): CellSummary {
  if (runs.length === 0) throw new RangeError('a cell needs at least one run');
  if (!Number.isInteger(lastK) || lastK < 1) throw new RangeError(`lastK must be a positive integer, got ${lastK}`);
  for (const r of runs) if (r.history.length === 0) throw new RangeError(`run ${r.method}/${r.quantizer}/${r.optimizer}/seed ${r.seed} has no epochs`);
  const finals = runs.map((r) => r.history[r.history.length - 1]!.testAccuracy);
  const bests = runs.map((r) => Math.max(...r.history.map((h) => h.testAccuracy)));
  const k = Math.min(lastK, ...runs.map((r) => r.history.length));
  const lastKValues = runs.flatMap((r) => r.history.slice(-k).map((h) => h.testAccuracy));
  const first = runs[0]!;
  return {
    method: first.method,
    quantizer: first.quantizer,
    optimizer: first.optimizer,
    n: runs.length,
    seeds: runs.map((r) => r.seed),
    finalMean: mean(finals),
    finalStd: sampleStd(finals),
    lastKMean: mean(lastKValues),
    lastK: k,
    bestMean: mean(bests),
    bestStd: sampleStd(bests),
    wallSecondsMean: mean(runs.map((r) => r.wallSeconds)),
  };
}

export function summarize(runs: readonly RunMetrics[], lastK: number): CellSummary[] {
  return groupByCell(runs).map((g) => summarizeCell(g, lastK));
}

export interface CurvePoint {
  epoch: number;
  n: number;
  mean: number;
  std: number | null;
  min: number;
  max: number;
}

/** Per-epoch mean / sample std / min / max of one metric over a cell's runs (epochs where some run has it). */
export function curve(runs: readonly RunMetrics[], metric: string): CurvePoint[] {
  const byEpoch = new Map<number, number[]>();
  for (const r of runs) {
    for (const h of r.history) {
      const v = h[metric];
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      const list = byEpoch.get(h.epoch);
      if (list) list.push(v);
      else byEpoch.set(h.epoch, [v]);
    }
  }
  return [...byEpoch.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([epoch, values]) => ({ epoch, n: values.length, mean: mean(values), std: sampleStd(values), min: Math.min(...values), max: Math.max(...values) }));
}
