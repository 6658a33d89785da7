/**
 * Summary statistics of a grid, pure functions of the runs' metrics (no files, no clocks).
 *
 * Per cell (method × quantizer × optimizer), over its seeds:
 *  - final accuracy: each run's test accuracy after its last epoch; mean and sample std (n − 1).
 *  - the reference's statistic: the mean of test accuracy over all runs × their last k epochs
 *    (k = min(lastK, the run's epochs)), as the MetaQuant reference code reports it.
 *  - best-epoch accuracy: the mean (and sample std) over runs of the test accuracy at each run's best
 *    epoch, the best epoch picked on validation accuracy when the runs have a validation split
 *    (`--val-split`); without one, on test accuracy (optimistic; `bestSelectedOn: 'test'` says so).
 *  - validation accuracy after the last epoch (mean, std): what sweeps select on.
 *  - per-seed final accuracies, and `split` when they are not one mode (paired.ts, SPLIT_GAP).
 *  - `lastKRising`: the mean curve still rose by more than RISING_POINTS over the last k epochs,
 *    so the last-k statistic measures speed, not a plateau.
 *  - metaC: the learned c after the last epoch per seed; its mean only when all signs agree.
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
  /** With `--sweep`: the method's label without the swept values, and those values (flag → text). */
  baseMethod?: string;
  sweep?: Record<string, string>;
}

/** Accuracy points (as a fraction) by which the mean curve must rise over the last k epochs to count as still rising. */
export const RISING_POINTS = 0.01;

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
  /** Where each run's best epoch was picked: 'validation' (runs with --val-split) or 'test' (optimistic). */
  bestSelectedOn: 'validation' | 'test';
  wallSecondsMean: number;
  /** The method without its swept values (= method when nothing is swept) and the swept values. */
  baseMethod: string;
  sweep: Record<string, string> | null;
  /** Final test accuracy per seed, in the order of `seeds`. */
  finals: number[];
  finalMin: number;
  finalMax: number;
  /** The seeds are not one mode (a gap larger than SPLIT_GAP between sorted finals). */
  split: boolean;
  /** Validation accuracy after the last epoch (null without a validation split). */
  valFinalMean: number | null;
  valFinalStd: number | null;
  /** The mean test curve rose by more than RISING_POINTS over the last k epochs: last-k measures speed. */
  lastKRising: boolean;
  /** The learned c (metaC) after the last epoch per seed; mean null when signs differ. Null for runs without c. */
  metaC: ReturnType<typeof signedSummary>;
}

import { mean, sampleStd } from './descriptive.js';
import { isSplit, signedSummary } from './paired.js';

export { mean, sampleStd } from './descriptive.js';

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
  const hasVal = runs.every((r) => r.history.every((h) => typeof h.valAccuracy === 'number'));
  const bests = runs.map((r) => testAtBestEpoch(r.history, hasVal ? 'valAccuracy' : 'testAccuracy'));
  const k = Math.min(lastK, ...runs.map((r) => r.history.length));
  const lastKValues = runs.flatMap((r) => r.history.slice(-k).map((h) => h.testAccuracy));
  const vals = hasVal ? runs.map((r) => r.history[r.history.length - 1]!.valAccuracy!) : null;
  const cs = runs.map((r) => r.history[r.history.length - 1]!.metaC).filter((c): c is number => typeof c === 'number' && Number.isFinite(c));
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
    bestSelectedOn: hasVal ? 'validation' : 'test',
    wallSecondsMean: mean(runs.map((r) => r.wallSeconds)),
    baseMethod: first.baseMethod ?? first.method,
    sweep: first.sweep ?? null,
    finals,
    finalMin: Math.min(...finals),
    finalMax: Math.max(...finals),
    split: isSplit(finals),
    valFinalMean: vals ? mean(vals) : null,
    valFinalStd: vals ? sampleStd(vals) : null,
    lastKRising: k > 1 && meanAtEpochFromEnd(runs, 0) - meanAtEpochFromEnd(runs, k - 1) > RISING_POINTS,
    metaC: cs.length === runs.length ? signedSummary(cs) : null,
  };
}

/** Test accuracy at the epoch where `selectOn` is highest (the first such epoch). */
export function testAtBestEpoch(history: RunMetrics['history'], selectOn: 'valAccuracy' | 'testAccuracy'): number {
  let best = history[0]!;
  for (const h of history) if (h[selectOn]! > best[selectOn]!) best = h;
  return best.testAccuracy;
}

/** Mean over runs of test accuracy `back` epochs before each run's last. */
function meanAtEpochFromEnd(runs: readonly RunMetrics[], back: number): number {
  return mean(runs.map((r) => r.history[r.history.length - 1 - back]!.testAccuracy));
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
