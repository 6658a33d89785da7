// The second edition's headline (issue 17): every MetaQuant variant and hypergradient STE at its
// tuned setting against the tuned STE, paired by seed, gathered from the grids that tune (the lr
// sweeps of the tuned-baselines grids and the paper setting; the LSTM-edge grid's STE chosen on
// validation among its fixed learning rates). Every number comes from committed summary.json files.
import { columnsOf, extraPair } from './results-doc-pairs.mjs';
import { edges } from './results-doc-paired.mjs';
import { formatInterval as interval, signedPercent as signed } from '../dist/src/compare/format.js';
const settingOf = (selection) => (selection?.sweep ? Object.entries(selection.sweep).map(([k, v]) => `${k} ${v}`).join(', ') : 'fixed');
/** The selected setting, marked where it is the largest or smallest value swept (the optimum may lie beyond). */
const setting = (summary, selection) => {
  const sides = new Set((selection ? edges(summary, selection) : []).map((e) => e.side));
  return `${settingOf(selection)}${sides.has('largest') ? ', top of sweep' : ''}${sides.has('smallest') ? ', bottom of sweep' : ''}`;
};

/** Which grids feed the headline, in order, and how each says what it is. */
const SOURCES = [
  { grid: 'tuned-baselines-12k-sgd', what: 'MLP, 12,800 images, 6 epochs' },
  { grid: 'tuned-baselines-12k-adam', what: 'MLP, 12,800 images, 6 epochs' },
  { grid: 'lstm-edge', what: 'MLP, 3,200 images, 5 epochs', pairs: [['lstm', 'tuned-ste'], ['lstm-no-decay', 'tuned-ste'], ['ste-hypergrad', 'tuned-ste']] },
  { grid: 'paper-setting', what: 'LeNet-5 fine-tuned from float, 12 epochs', lastK: true },
];

function rowsOf(source, summary) {
  const sel = (m, q, o) => summary.selection.find((s) => s.method === m && s.quantizer === q && s.optimizer === o);
  const lead = (q, o) => `| ${source.grid} (${source.what}) | ${q} ${o.toUpperCase()} |`;
  if (source.pairs) {
    return columnsOf(summary).flatMap(([q, o]) =>
      source.pairs.flatMap(([m, a]) => {
        const p = extraPair(summary, m, a, q, o);
        return p ? [`${lead(q, o)} ${m} (fixed) | ${p.resolved} (chosen on validation) | ${p.n} | ${signed(p.meanDiff)} | ${interval(p.ci95)} | ${p.verdict} |`] : [];
      }),
    );
  }
  return summary.paired.flatMap((p) => {
    const mine = setting(summary, sel(p.method, p.quantizer, p.optimizer));
    const base = setting(summary, sel(p.baseline, p.quantizer, p.optimizer));
    const rows = [`${lead(p.quantizer, p.optimizer)} ${p.method} (${mine}) | ${p.baseline} (${base}) | ${p.n} | ${signed(p.meanDiff)} | ${interval(p.ci95)} | ${p.verdict} |`];
    if (source.lastK && p.lastK) {
      const l = p.lastK;
      rows.push(`${lead(p.quantizer, p.optimizer)} ${p.method} (${mine}), mean of last ${l.k} epochs | ${p.baseline} (${base}) | ${l.n} | ${signed(l.meanDiff)} | ${interval(l.ci95)} | ${l.verdict} |`);
    }
    return rows;
  });
}

/** The headline table, or null when none of its grids has a committed summary yet. */
export function headline(summaries) {
  const rows = SOURCES.flatMap((s) => (summaries.has(s.grid) ? rowsOf(s, summaries.get(s.grid)) : []));
  if (rows.length === 0) return null;
  const missing = SOURCES.filter((s) => !summaries.has(s.grid)).map((s) => s.grid);
  return [
    '| grid | column | method (setting) | against (setting) | seeds | mean diff (points) | 95 % t interval | verdict |',
    '|---|---|---|---|---:|---:|---:|---|',
    ...rows,
    '',
    'Final test accuracy (and, for the paper setting, the paper\'s statistic) of the method minus the tuned STE\'s, seed by seed; ' +
      'every setting chosen on validation ("top of sweep": the largest value tried, so that side may be under-tuned). "beats"/"loses" only where the 95 % t interval excludes zero; no correction for the number of comparisons.' +
      (missing.length ? ` Not yet run: ${missing.join(', ')}.` : ''),
  ].join('\n');
}
