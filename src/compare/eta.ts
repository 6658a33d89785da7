/**
 * The time a grid has left, from what each run costs: the measured seconds per epoch of each
 * method (the runs' metrics.jsonl, grouped by method and meta network), times the epochs its
 * unfinished runs still have, divided by the runs that train at once. A method with no measured
 * epoch yet borrows a prior: its relative cost (below) times the seconds per unit of cost of the
 * methods already measured, and the estimate says so. Finished runs count only through their
 * measured epochs, never through a mean of run times (a grid's cheap runs often finish first).
 */

/**
 * Rough cost of one epoch relative to STE, by method key (`method` or `metaquant:META`), for
 * methods not yet measured in this grid. Measured on the README's MLP (hidden 32, batch 64; see
 * README, "Progress and ETA"): the LSTM meta network is ~48× slower than STE; ste-hypergrad's 1.2
 * is a guess (one extra dot product per step), not a measurement.
 */
export const PRIOR_RELATIVE_COST: Readonly<Record<string, number>> = {
  ste: 1,
  'clipped-ste': 1,
  'ste-hypergrad': 1.2,
  'metaquant:fcgrad': 1.1,
  'metaquant:multifc': 2.4,
  'metaquant:lstm': 48,
};
/** The prior of a method the table does not name (e.g. a registered meta network). */
export const UNKNOWN_PRIOR_COST = 2;

export interface RunCost {
  /** The method key: `ste`, `metaquant:lstm`, … (see methodCostKey). */
  key: string;
  /** Epochs the run trains in all. */
  epochs: number;
  /** Seconds of each epoch it finished (from its metrics.jsonl), in order. */
  epochSeconds: readonly number[];
  /** Whether the run is finished (its result.json exists) or failed: nothing left to train. */
  done: boolean;
  /**
   * A finished run's seconds outside its epochs' training (process start, data, evaluations):
   * its wall time − Σ epochSeconds. Undefined when unknown (unfinished, or resumed).
   */
  overheadSeconds?: number;
}

export interface EtaEstimate {
  /** Seconds left, or undefined before any epoch of any method was measured. */
  seconds?: number;
  /** The method keys whose cost is a prior, not a measurement (empty: all measured). */
  priorKeys: string[];
}

/** The cost key of a run: its method, with the meta network for MetaQuant. */
export function methodCostKey(config: { method: string; meta?: string }): string {
  return config.method === 'metaquant' ? `metaquant:${config.meta ?? 'fcgrad'}` : config.method;
}

const priorOf = (key: string) => PRIOR_RELATIVE_COST[key] ?? UNKNOWN_PRIOR_COST;

/**
 * Seconds left for `runs` with `jobs` training at once: Σ over unfinished runs of (epochs left ×
 * seconds per epoch of its method), plus the mean overhead of the finished runs for each run not
 * started yet, / min(jobs, unfinished runs).
 */
export function estimateRemaining(runs: readonly RunCost[], jobs: number): EtaEstimate {
  const measured = new Map<string, { sum: number; n: number }>();
  for (const r of runs) {
    const m = measured.get(r.key) ?? { sum: 0, n: 0 };
    for (const s of r.epochSeconds) if (Number.isFinite(s) && s > 0) (m.sum += s), m.n++;
    if (m.n > 0) measured.set(r.key, m);
  }
  const perEpoch = new Map([...measured].map(([k, m]) => [k, m.sum / m.n]));
  // Seconds per unit of prior cost: the mean over the measured methods.
  const units = [...perEpoch].map(([k, s]) => s / priorOf(k));
  const perUnit = units.length > 0 ? units.reduce((a, b) => a + b, 0) / units.length : undefined;
  const unfinished = runs.filter((r) => !r.done && r.epochSeconds.length < r.epochs);
  const priorKeys = [...new Set(unfinished.map((r) => r.key).filter((k) => !perEpoch.has(k)))].sort();
  if (unfinished.length === 0) return { seconds: 0, priorKeys: [] };
  if (perUnit === undefined) return { seconds: undefined, priorKeys };
  const overheads = runs.map((r) => r.overheadSeconds).filter((s): s is number => s !== undefined && Number.isFinite(s) && s >= 0);
  const overhead = overheads.length > 0 ? overheads.reduce((a, b) => a + b, 0) / overheads.length : 0;
  let total = 0;
  for (const r of unfinished) {
    total += (r.epochs - r.epochSeconds.length) * (perEpoch.get(r.key) ?? perUnit * priorOf(r.key));
    if (r.epochSeconds.length === 0) total += overhead;
  }
  return { seconds: total / Math.max(1, Math.min(jobs, unfinished.length)), priorKeys };
}

/** `1h 02m`, `12m 05s`, `40s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h ${pad(m)}m`;
  if (m > 0) return `${m}m ${pad(s % 60)}s`;
  return `${s}s`;
}

/** The ETA as the progress bar shows it: `~12m 05s`, with the methods estimated from a prior. */
export function describeEta(e: EtaEstimate): string {
  if (e.seconds === undefined) return 'ETA: measuring the first epoch…';
  const base = `ETA ~${formatDuration(e.seconds)}`;
  return e.priorKeys.length > 0 ? `${base} (estimate: prior cost for ${e.priorKeys.join(', ')})` : base;
}
