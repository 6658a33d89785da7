/**
 * Statistics over seeds that a mean ± std hides: the paired difference of two methods (same
 * seeds ⇒ same initialisation and data order), cells whose seeds split into separate modes, and
 * signed quantities whose sign differs between seeds. Pure functions.
 */
import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import { Rng } from '../util/rng.js';
import { mean, sampleStd } from './descriptive.js';

export interface PairedInterval {
  n: number;
  /** The seeds present in both, ascending. */
  seeds: number[];
  /** method − baseline, per seed (same order as seeds). */
  diffs: number[];
  meanDiff: number;
  /** Sample std of the differences (n − 1); null for n = 1. */
  sdDiff: number | null;
  /** meanDiff ± t(0.975, n − 1) · sd / √n; null for n < 2. */
  ci95: [number, number] | null;
  /** Percentile bootstrap of the mean difference (BOOTSTRAP_RESAMPLES resamples, seeded); null for n < BOOTSTRAP_MIN_N. */
  bootstrap95: [number, number] | null;
}

export const BOOTSTRAP_MIN_N = 5;
export const BOOTSTRAP_RESAMPLES = 10_000;

/** The two-sided 95 % t interval of a mean from its sample: mean ± t(0.975, n − 1)·s/√n. */
export function tInterval95(values: readonly number[]): [number, number] | null {
  const sd = sampleStd(values);
  if (sd === null) return null;
  const m = mean(values);
  const half = tQuantile(0.975, values.length - 1) * (sd / Math.sqrt(values.length));
  return [m - half, m + half];
}

/**
 * Percentile bootstrap 95 % interval of the mean: `resamples` resamples with replacement (an Rng
 * seeded with `bootstrap:<seed>`, so the same values give the same interval), the 2.5th and
 * 97.5th percentiles (nearest rank) of their means.
 */
export function bootstrapInterval95(values: readonly number[], seed = 0, resamples = BOOTSTRAP_RESAMPLES): [number, number] {
  if (values.length === 0) throw new RangeError('bootstrap of no values');
  const rng = new Rng(`bootstrap:${seed}`);
  const n = values.length;
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[rng.int(n)]!;
    means[b] = s / n;
  }
  means.sort();
  const at = (q: number) => means[Math.min(resamples - 1, Math.max(0, Math.ceil(q * resamples) - 1))]!;
  return [at(0.025), at(0.975)];
}

/** method − baseline over the seeds both have; `undefined` when they share none. */
export function pairedDifference(method: ReadonlyMap<number, number>, baseline: ReadonlyMap<number, number>): PairedInterval | undefined {
  const seeds = [...method.keys()].filter((s) => baseline.has(s)).sort((a, b) => a - b);
  if (seeds.length === 0) return undefined;
  const diffs = seeds.map((s) => method.get(s)! - baseline.get(s)!);
  return {
    n: seeds.length,
    seeds,
    diffs,
    meanDiff: mean(diffs),
    sdDiff: sampleStd(diffs),
    ci95: tInterval95(diffs),
    bootstrap95: diffs.length >= BOOTSTRAP_MIN_N ? bootstrapInterval95(diffs) : null,
  };
}

/** What an interval says about method − baseline: above zero, below zero, or containing it. */
export function verdict(ci: readonly [number, number] | null): 'beats' | 'loses' | 'ties' | 'unknown' {
  if (!ci) return 'unknown';
  if (ci[0] > 0) return 'beats';
  if (ci[1] < 0) return 'loses';
  return 'ties';
}

/**
 * The split rule: a cell's seeds are not one mode when, sorted, two neighbouring values are more
 * than SPLIT_GAP apart (10 accuracy points: far beyond seed noise of a converged run, e.g. one
 * seed at 9 % and two at 60 %). Such a cell shows its per-seed values, not only mean ± std.
 */
export const SPLIT_GAP = 0.1;

export function largestGap(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < sorted.length; i++) gap = Math.max(gap, sorted[i]! - sorted[i - 1]!);
  return gap;
}

export const isSplit = (values: readonly number[]): boolean => largestGap(values) > SPLIT_GAP;

/**
 * A signed per-seed quantity (the learned c): its mean only when every seed has the same sign;
 * otherwise mean is null and the per-seed values and the mean of |x| are what to report.
 */
export function signedSummary(values: readonly number[]): { perSeed: number[]; mean: number | null; absMean: number; signsDiffer: boolean } | null {
  if (values.length === 0) return null;
  const signsDiffer = values.some((v) => v > 0) && values.some((v) => v < 0);
  return { perSeed: [...values], mean: signsDiffer ? null : mean(values), absMean: mean(values.map(Math.abs)), signsDiffer };
}
