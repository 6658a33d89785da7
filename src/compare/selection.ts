/**
 * Choosing what to compare, on validation only, and comparing it paired.
 *
 * Selection: within each method × quantizer × optimizer, the swept configuration with the highest
 * validation accuracy after the last epoch (mean over seeds; ties go to the first in grid order).
 * Nothing here reads a test accuracy to choose. Paired comparison: each method's selected
 * configuration against the baseline's, seed by seed, on final test accuracy, and on the
 * reference's statistic (each seed's mean test accuracy over its last k epochs).
 */
import { pairedDifference, verdict, type PairedInterval } from './paired.js';
import type { CellSummary, RunMetrics } from './statistics.js';

export interface Selection {
  /** The method without swept values. */
  method: string;
  quantizer: string;
  optimizer: string;
  /** The selected configuration's cell label (its method). */
  selected: string;
  /** Its swept values (flag → text), null when nothing was swept. */
  sweep: Record<string, string> | null;
  /** How many configurations competed. */
  candidates: number;
  valFinalMean: number | null;
  finalMean: number;
  finalStd: number | null;
  n: number;
}

const groupKey = (c: { baseMethod: string; quantizer: string; optimizer: string }) => `${c.baseMethod}\u0000${c.quantizer}\u0000${c.optimizer}`;

/**
 * One selection per method × quantizer × optimizer, in grid order. A group of more than one
 * configuration needs validation accuracy in every candidate (otherwise `selected` would be
 * chosen blind): such a group throws, naming it.
 */
export function selectConfigurations(cells: readonly CellSummary[]): Selection[] {
  const groups = new Map<string, CellSummary[]>();
  for (const c of cells) {
    const g = groups.get(groupKey(c));
    if (g) g.push(c);
    else groups.set(groupKey(c), [c]);
  }
  return [...groups.values()].map((group) => {
    if (group.length > 1 && group.some((c) => c.valFinalMean === null)) {
      const c = group[0]!;
      throw new RangeError(`${c.baseMethod} / ${c.quantizer} / ${c.optimizer}: a sweep needs a validation split to select on (train option valSplit, compare --val-split)`);
    }
    let best = group[0]!;
    for (const c of group) if (c.valFinalMean! > best.valFinalMean!) best = c;
    return {
      method: best.baseMethod,
      quantizer: best.quantizer,
      optimizer: best.optimizer,
      selected: best.method,
      sweep: best.sweep,
      candidates: group.length,
      valFinalMean: best.valFinalMean,
      finalMean: best.finalMean,
      finalStd: best.finalStd,
      n: best.n,
    };
  });
}

export interface PairedRow extends PairedInterval {
  method: string;
  baseline: string;
  quantizer: string;
  optimizer: string;
  /** The selected configurations compared (cell labels). */
  methodConfig: string;
  baselineConfig: string;
  /** What the t interval says: beats (above 0), loses (below 0), ties (contains 0), unknown (n < 2). */
  verdict: ReturnType<typeof verdict>;
  /** The same comparison on each seed's mean test accuracy over its last k epochs (k > 1 only). */
  lastK?: LastKPaired;
}

export interface LastKPaired extends PairedInterval {
  k: number;
  verdict: ReturnType<typeof verdict>;
}

/** Mean test accuracy over the last k epochs of one run (all of them when it has fewer). */
export const lastKAccuracy = (run: RunMetrics, k: number): number => {
  const tail = run.history.slice(-k);
  return tail.reduce((s, h) => s + h.testAccuracy, 0) / tail.length;
};

const bySeed = (runs: readonly RunMetrics[], cell: string, q: string, o: string, value: (r: RunMetrics) => number) =>
  new Map(runs.filter((r) => r.method === cell && r.quantizer === q && r.optimizer === o).map((r) => [r.seed, value(r)]));

const finalAccuracy = (r: RunMetrics) => r.history[r.history.length - 1]!.testAccuracy;

/**
 * Every method's selected configuration against the baseline's, per quantizer × optimizer, paired
 * by seed; with lastK > 1 also on the last-k mean (k = lastK, or the shortest run's epochs).
 */
export function pairedComparisons(selections: readonly Selection[], runs: readonly RunMetrics[], baseline: string, lastK = 1): PairedRow[] {
  const rows: PairedRow[] = [];
  for (const s of selections) {
    if (s.method === baseline) continue;
    const base = selections.find((b) => b.method === baseline && b.quantizer === s.quantizer && b.optimizer === s.optimizer);
    if (!base) continue;
    const pair = (value: (r: RunMetrics) => number) =>
      pairedDifference(bySeed(runs, s.selected, s.quantizer, s.optimizer, value), bySeed(runs, base.selected, s.quantizer, s.optimizer, value));
    const paired = pair(finalAccuracy);
    if (!paired) continue;
    const row: PairedRow = { method: s.method, baseline, quantizer: s.quantizer, optimizer: s.optimizer, methodConfig: s.selected, baselineConfig: base.selected, ...paired, verdict: verdict(paired.ci95) };
    const compared = runs.filter((r) => r.quantizer === s.quantizer && r.optimizer === s.optimizer && (r.method === s.selected || r.method === base.selected));
    const k = Math.min(lastK, ...compared.map((r) => r.history.length));
    const last = k > 1 ? pair((r) => lastKAccuracy(r, k)) : undefined;
    if (last) row.lastK = { k, ...last, verdict: verdict(last.ci95) };
    rows.push(row);
  }
  return rows;
}
