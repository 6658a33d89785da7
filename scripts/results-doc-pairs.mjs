// Paired comparisons that a grid's own summary does not hold (it pairs every method with one
// baseline only): a method against another method of the same grid (Eq. 8 against the code mode
// of the same meta network), and against the best of several fixed STE settings, chosen on
// validation (the LSTM-edge grid's "tuned STE"). Every number comes from a committed summary.json's
// per-run values, through the same paired statistics `metaquant compare` uses (dist/).
import { pairedDifference, verdict } from '../dist/src/compare/paired.js';
import { formatInterval as interval, signedPercent as signed } from '../dist/src/compare/format.js';

/** Grid → the extra pairs its section shows: [method, against]; `against` may be a STE_CHOICE. */
export const EXTRA_PAIRS = {
  'lstm-edge': [
    ['lstm', 'tuned-ste'],
    ['lstm', 'ste-hypergrad'],
    ['lstm', 'ste-decay'],
    ['lstm-no-decay', 'lstm'],
    ['ste-decay', 'ste'],
  ],
  'eq8-paper-mode': [
    ['multifc-phi-meta', 'multifc'],
    ['lstm-phi-meta', 'lstm'],
    ['fcgrad-paper', 'fcgrad'],
    ['multifc-paper', 'multifc'],
    ['lstm-paper', 'lstm'],
  ],
};

/** "tuned-ste": of these fixed STE settings, the one with the best mean validation accuracy per column. */
export const STE_CHOICE = { 'tuned-ste': ['ste', 'ste-lr-x4', 'ste-lr-x30', 'ste-lr-x100'] };

/** The quantizer × optimizer columns of a grid, in grid order. */
export const columnsOf = (summary) => [...new Map(summary.cells.map((c) => [`${c.quantizer} ${c.optimizer}`, [c.quantizer, c.optimizer]])).values()];

/** The method a name stands for in one column: itself, or the STE setting chosen on validation. */
export function resolve(summary, name, quantizer, optimizer) {
  const choices = STE_CHOICE[name];
  if (!choices) return name;
  const cells = summary.cells.filter((c) => choices.includes(c.method) && c.quantizer === quantizer && c.optimizer === optimizer && c.valFinalMean !== null);
  if (cells.length === 0) throw new Error(`${name}: no ${choices.join('/')} cell with validation accuracy in ${quantizer} ${optimizer}`);
  return cells.reduce((best, c) => (c.valFinalMean > best.valFinalMean ? c : best)).method;
}

/** Per-seed values of one method in one column: final test accuracy or the per-run last-k mean. */
const bySeed = (summary, method, quantizer, optimizer, key) =>
  new Map(summary.runs.filter((r) => r.method === method && r.quantizer === quantizer && r.optimizer === optimizer).map((r) => [r.seed, r[key]]));

/** One paired row: method − against (resolved), per column, on final accuracy. */
export function extraPair(summary, method, against, quantizer, optimizer, key = 'finalAccuracy') {
  const other = resolve(summary, against, quantizer, optimizer);
  const p = pairedDifference(bySeed(summary, method, quantizer, optimizer, key), bySeed(summary, other, quantizer, optimizer, key));
  return p ? { method, against, resolved: other, quantizer, optimizer, ...p, verdict: verdict(p.ci95) } : undefined;
}

/** The Markdown table of a grid's extra pairs ('' when it has none). */
export function extraPairsSection(name, summary) {
  const pairs = EXTRA_PAIRS[name];
  if (!pairs) return '';
  const rows = [];
  for (const [q, o] of columnsOf(summary)) {
    for (const [m, a] of pairs) {
      const p = extraPair(summary, m, a, q, o);
      if (!p) continue;
      const shown = p.resolved === a ? a : `${a} (${p.resolved}, chosen on validation)`;
      rows.push(`| ${m} | ${shown} | ${q} ${o.toUpperCase()} | ${p.n} | ${signed(p.meanDiff)} | ${interval(p.ci95)} | ${interval(p.bootstrap95)} | ${p.verdict} |`);
    }
  }
  if (rows.length === 0) return '';
  const choice = Object.entries(STE_CHOICE).map(([k, v]) => `${k} is the one of ${v.join(', ')} with the best mean validation accuracy in that column`).join('; ');
  return [
    'Other pairs in the same grid (same seeds, so the same pairing):',
    '',
    '| method | against | column | seeds | mean diff (points) | 95 % t interval | 95 % bootstrap | verdict |',
    '|---|---|---|---:|---:|---:|---:|---|',
    ...rows,
    '',
    pairs.some(([, a]) => STE_CHOICE[a]) ? `Final test accuracy, method minus the other; ${choice}.` : 'Final test accuracy, method minus the other.',
  ].join('\n');
}
