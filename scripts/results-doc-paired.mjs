// The second edition's generated sections (issue 17): for a grid whose summary.json is committed
// under docs/results/data/<grid>/, each method at its configuration selected on validation, and
// its paired difference against the baseline (tuned STE) with the 95 % intervals. Every number in
// these sections, the sentences included, comes from that summary.json.
import { formatInterval as interval, percent as pct, signedPercent as signed } from '../dist/src/compare/format.js';

const sweepText = (s) => (s ? Object.entries(s).map(([k, v]) => `${k} ${v}`).join(', ') : '–');

/**
 * The swept values a selection is at the end of (lr 0.1, the largest tried): the optimum may lie
 * beyond. Each as {key, value, side}, side 'largest' or 'smallest'.
 */
export function edges(summary, s) {
  if (!s.sweep) return [];
  const cells = summary.cells.filter((c) => c.baseMethod === s.method && c.quantizer === s.quantizer && c.optimizer === s.optimizer && c.sweep);
  return Object.entries(s.sweep).flatMap(([key, value]) => {
    const tried = [...new Set(cells.map((c) => Number(c.sweep[key])))].sort((a, b) => a - b);
    if (tried.length < 2) return [];
    if (Number(value) === tried[tried.length - 1]) return [{ key, value, side: 'largest' }];
    if (Number(value) === tried[0]) return [{ key, value, side: 'smallest' }];
    return [];
  });
}

/** A note on every selection at the edge of its sweep. */
function edgeNotes(summary) {
  const notes = summary.selection.flatMap((s) =>
    edges(summary, s).map((e) => `${s.method} (${s.quantizer} ${s.optimizer.toUpperCase()}): ${e.key} ${e.value} is the ${e.side} value tried`),
  );
  return notes.length === 0 ? '' : `At the edge of the sweep, so the best setting may lie beyond it: ${notes.join('; ')}.`;
}

function selectionTable(summary) {
  const rows = summary.selection.map((s) => {
    const cell = summary.cells.find((c) => c.method === s.selected && c.quantizer === s.quantizer && c.optimizer === s.optimizer);
    const finals = cell?.split ? ` ⚠ split: ${cell.finals.map((f) => pct(f)).join(', ')}` : '';
    const std = s.finalStd === null ? '' : ` ± ${pct(s.finalStd)}`;
    return `| ${s.method} | ${s.quantizer} ${s.optimizer.toUpperCase()} | ${s.candidates > 1 ? `${sweepText(s.sweep)} (of ${s.candidates})` : 'fixed (nothing swept)'} | ${s.valFinalMean === null ? '–' : pct(s.valFinalMean)} | ${pct(s.finalMean)}${std}${finals} | ${s.n} |`;
  });
  return ['| method | column | selected on validation | val acc % | final test acc % | seeds |', '|---|---|---|---:|---:|---:|', ...rows].join('\n');
}

/** A paired table: one row per pair, `pick` choosing which of its comparisons (final or last-k) to show. */
function pairedTable(summary, rows, pick) {
  return [
    `| method vs ${summary.baseline} | column | seeds | mean diff (points) | 95 % t interval | 95 % bootstrap | verdict |`,
    '|---|---|---:|---:|---:|---:|---|',
    ...rows.map((p) => {
      const c = pick(p);
      return `| ${p.method} | ${p.quantizer} ${p.optimizer.toUpperCase()} | ${c.n} | ${signed(c.meanDiff)} | ${interval(c.ci95)} | ${interval(c.bootstrap95)} | ${c.verdict} |`;
    }),
  ].join('\n');
}

/** The paper's statistic: the mean over the last 10 epochs. Grids run that long also get it paired. */
const PAPER_LAST_K = 10;

function lastKTable(summary) {
  const rows = summary.paired.filter((p) => p.lastK && p.lastK.k >= PAPER_LAST_K);
  if (rows.length === 0) return [];
  return [
    `The paper's statistic, paired the same way: each seed's mean test accuracy over its last ${rows[0].lastK.k} epochs, method minus ${summary.baseline}.`,
    '',
    pairedTable(summary, rows, (p) => p.lastK),
    '',
  ];
}

/** Half-width (accuracy fraction) above which a tie is called inconclusive in the generated sentence. */
const WIDE = 0.02;

const VERB = { beats: 'beats', loses: 'loses to', ties: 'ties with', unknown: 'cannot be compared with (one seed)' };

/** One generated sentence per paired row: the verdict only as far as the t interval says. */
function conclusions(summary) {
  return summary.paired.map((p) => {
    const base = summary.selection.find((s) => s.method === p.baseline && s.quantizer === p.quantizer && s.optimizer === p.optimizer);
    const mine = summary.selection.find((s) => s.method === p.method && s.quantizer === p.quantizer && s.optimizer === p.optimizer);
    const at = (s) => (s?.sweep ? ` (${sweepText(s.sweep)})` : '');
    return (
      `- ${p.quantizer} ${p.optimizer.toUpperCase()}: ${p.method}${at(mine)} **${VERB[p.verdict]}** ${p.baseline}${at(base)}: ` +
      `${signed(p.meanDiff)} points over ${p.n} seeds, 95 % interval ${interval(p.ci95)}` +
      (p.bootstrap95 ? `, bootstrap ${interval(p.bootstrap95)}` : '') +
      (p.verdict === 'ties' && p.ci95[1] - p.ci95[0] > 2 * WIDE ? `. The interval is wider than ±${pct(WIDE, 0)} points: it rules out no difference of that size.` : '.')
    );
  });
}

/** The whole generated section of one committed grid summary. */
export function pairedSection(summary) {
  const runs = summary.runs.length;
  const wall = summary.runs.reduce((s, r) => s + r.wallSeconds, 0);
  const epochs = [...new Set(summary.runs.map((r) => r.epochs))].join(', ');
  const seeds = [...new Set(summary.runs.map((r) => r.seed))].sort((a, b) => a - b).join(', ');
  const rising = summary.cells.some((c) => c.lastKRising);
  return [
    `${runs} runs of ${epochs} epochs, seeds ${seeds}; ${(wall / 60).toFixed(0)} min of summed run time. ` +
      `Selection: ${summary.selectedOn}.`,
    '',
    selectionTable(summary),
    '',
    ...(edgeNotes(summary) ? [edgeNotes(summary), ''] : []),
    pairedTable(summary, summary.paired, (p) => p),
    '',
    ...lastKTable(summary),
    `Paired by seed (same initialisation and data order): final test accuracy of the method minus ${summary.baseline}'s, each at its selected setting. ` +
      `t interval: mean ± t(0.975, n − 1)·sd/√n; bootstrap only from 5 seeds. "beats"/"loses" only when the t interval excludes zero.` +
      (rising && lastKTable(summary).length > 0
        ? ` Some curves still rose over their last ${summary.lastK} epochs, so the last-${summary.lastK} statistic measures speed as well as level; the final accuracies are the primary comparison.`
        : rising
          ? ` The curves were still rising at the last epoch (last-k would measure speed, not a plateau), so only final accuracies are compared.`
          : ''),
    '',
    ...conclusions(summary),
  ].join('\n');
}
