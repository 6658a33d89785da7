/**
 * The parts of summary.md (and report.html) that the issue-17 statistics add: the selected
 * configurations, the paired differences against the baseline, the learned c per seed, and the
 * notes on split cells and on last-k over a rising curve. Kept apart from the main table.
 */
import { BOOTSTRAP_MIN_N, BOOTSTRAP_RESAMPLES, SPLIT_GAP, type PairedInterval } from './paired.js';
import { RISING_POINTS, type CellSummary } from './statistics.js';
import type { PairedRow, Selection } from './selection.js';
import { escapeTableCell, formatInterval, percent, signedPercent } from './format.js';


/** The final-accuracy cell: mean ± std, and for a split cell the per-seed values and a flag. */
export function finalCell(c: Pick<CellSummary, 'finalMean' | 'finalStd' | 'split' | 'finals'>, digits = 2): string {
  const base = c.finalStd === null ? percent(c.finalMean, digits) : `${percent(c.finalMean, digits)} ± ${percent(c.finalStd, digits)}`;
  return c.split ? `${base} ⚠ split: ${c.finals.map((f) => percent(f, 1)).join(', ')}` : base;
}

export const SPLIT_NOTE =
  `⚠ split: the seeds are not one mode (sorted, two neighbouring final accuracies more than ${percent(SPLIT_GAP, 0)} points apart); ` +
  `mean ± std describes no run there, so the per-seed values follow.`;
export const RISING_NOTE =
  `↗: the mean curve still rose by more than ${percent(RISING_POINTS, 0)} point over the last k epochs, so last-k measures how fast a run learns, not a plateau; ` +
  `prefer it only for runs long enough to plateau.`;

export function selectionMarkdown(selections: readonly Selection[]): string {
  if (!selections.some((s) => s.candidates > 1)) return '';
  const lines = [
    '## Selected configurations (on validation)',
    '',
    '| method | quantizer | optimizer | selected | candidates | val acc % | final test acc % (mean ± std) | n |',
    '|---|---|---|---|---:|---:|---:|---:|',
    ...selections.map(
      (s) =>
        `| ${escapeTableCell(s.method)} | ${escapeTableCell(s.quantizer)} | ${s.optimizer} | ${s.sweep ? Object.entries(s.sweep).map(([k, v]) => `${k}=${v}`).join(', ') : '–'} | ${s.candidates} | ` +
        `${s.valFinalMean === null ? '–' : percent(s.valFinalMean, 2)} | ${s.finalStd === null ? percent(s.finalMean, 2) : `${percent(s.finalMean, 2)} ± ${percent(s.finalStd, 2)}`} | ${s.n} |`,
    ),
    '',
    'Each method × quantizer × optimizer keeps the swept values with the highest validation accuracy after the last epoch (mean over seeds); ' +
      'the test accuracy shown is that configuration\'s, read once: no test accuracy takes part in the choice.',
    '',
  ];
  return lines.join('\n');
}

export function pairedMarkdown(paired: readonly PairedRow[], baseline: string): string {
  if (paired.length === 0) return '';
  return [
    `## Paired differences against ${escapeTableCell(baseline)}`,
    '',
    ...pairedRows(paired, (p) => p),
    '',
    `Final test accuracy of the method minus the baseline's, seed by seed (same seed: same initialisation and data order), ` +
      `in accuracy points; with sweeps, each side at its selected configuration. The t interval is mean ± t(0.975, n − 1)·sd/√n; ` +
      `the bootstrap interval (n ≥ ${BOOTSTRAP_MIN_N}) is the 2.5–97.5 percentile of ${BOOTSTRAP_RESAMPLES.toLocaleString('en')} seeded resampled means. ` +
      `Verdict from the t interval: beats (above 0), loses (below 0), ties (contains 0).`,
    '',
    ...lastKPairedMarkdown(paired),
  ].join('\n');
}

/** The same pairs on the reference's statistic (each seed's mean over its last k epochs), where k > 1. */
function lastKPairedMarkdown(paired: readonly PairedRow[]): string[] {
  const rows = paired.filter((p) => p.lastK);
  if (rows.length === 0) return [];
  return [
    `Paired on the last-k mean (each seed's mean test accuracy over its last ${rows[0]!.lastK!.k} epochs; a plateau statistic only where the curves have flattened):`,
    '',
    ...pairedRows(rows, (p) => p.lastK!),
    '',
  ];
}

/** A paired table's header and rows; `pick` chooses which comparison of each pair (final or last-k) to show. */
function pairedRows(rows: readonly PairedRow[], pick: (p: PairedRow) => PairedInterval & { verdict: string }): string[] {
  return [
    '| method | quantizer | optimizer | n | mean diff (points) | 95 % t interval | 95 % bootstrap | verdict |',
    '|---|---|---|---:|---:|---:|---:|---|',
    ...rows.map((p) => {
      const c = pick(p);
      return `| ${escapeTableCell(p.method)} | ${escapeTableCell(p.quantizer)} | ${p.optimizer} | ${c.n} | ${signedPercent(c.meanDiff)} | ${formatInterval(c.ci95)} | ${formatInterval(c.bootstrap95)} | ${c.verdict} |`;
    }),
  ];
}

/** The learned c after the last epoch: its mean only where every seed has the same sign. */
export function metaCMarkdown(rows: readonly CellSummary[]): string {
  const withC = rows.filter((r) => r.metaC !== null);
  if (withC.length === 0) return '';
  return [
    '## Learned c (MetaQuant) after the last epoch',
    '',
    '| method | quantizer | optimizer | c per seed | mean c | mean abs(c) |',
    '|---|---|---|---|---:|---:|',
    ...withC.map((r) => {
      const c = r.metaC!;
      return `| ${escapeTableCell(r.method)} | ${escapeTableCell(r.quantizer)} | ${r.optimizer} | ${c.perSeed.map((v) => v.toFixed(3)).join(', ')} | ${c.mean === null ? 'signs differ' : c.mean.toFixed(3)} | ${c.absMean.toFixed(3)} |`;
    }),
    '',
    'Where the seeds learned c of both signs, its mean would describe no run: only the per-seed values and mean |c| are given.',
    '',
  ].join('\n');
}
