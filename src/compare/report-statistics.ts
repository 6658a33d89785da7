/**
 * report.html's statistics sections (issue 17): cells whose seeds split, the selected
 * configurations, the paired differences against the baseline, and the learned c per seed.
 * Separate from report.ts's layout so either can change alone.
 */
import { BOOTSTRAP_MIN_N, BOOTSTRAP_RESAMPLES } from './paired.js';
import { RISING_NOTE, SPLIT_NOTE } from './summary-sections.js';
import type { SummaryFiles } from './summary.js';
import { escapeHtml, formatInterval, percent, signedPercent } from './format.js';

const row = (cells: string[]) => `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
const table = (head: string[], rows: string[]) => `<table><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>\n${rows.join('\n')}</table>`;

function splitCells(summary: SummaryFiles): string {
  const split = summary.rows.filter((r) => r.split);
  const rising = summary.rows.filter((r) => r.lastKRising);
  const parts: string[] = [];
  if (split.length > 0) {
    parts.push(
      `<p class="note">${escapeHtml(SPLIT_NOTE)}</p>`,
      table(['method', 'quantizer', 'optimizer', 'final acc % per seed', 'min – max'], split.map((r) => row([escapeHtml(r.method), escapeHtml(r.quantizer), r.optimizer, r.finals.map((f) => percent(f)).join(', '), `${percent(r.finalMin)} – ${percent(r.finalMax)}`]))),
    );
  }
  if (rising.length > 0) parts.push(`<p class="note">${escapeHtml(RISING_NOTE.replace('↗: ', ''))} Still rising: ${rising.map((r) => escapeHtml(`${r.method} / ${r.quantizer} / ${r.optimizer}`)).join('; ')}.</p>`);
  return parts.join('\n');
}

function selections(summary: SummaryFiles): string {
  if (!summary.selections.some((s) => s.candidates > 1)) return '';
  return (
    '<h2>Selected configurations (on validation)</h2>\n' +
    table(
      ['method', 'quantizer', 'optimizer', 'selected', 'candidates', 'val acc %', 'final test acc %', 'n'],
      summary.selections.map((s) =>
        row([escapeHtml(s.method), escapeHtml(s.quantizer), s.optimizer, escapeHtml(s.sweep ? Object.entries(s.sweep).map(([k, v]) => `${k}=${v}`).join(', ') : '–'), String(s.candidates), s.valFinalMean === null ? '–' : percent(s.valFinalMean, 2), percent(s.finalMean, 2), String(s.n)]),
      ),
    ) +
    '\n<p class="note">The swept values with the highest mean validation accuracy after the last epoch; the test accuracy is that configuration\'s, not used to choose.</p>'
  );
}

function paired(summary: SummaryFiles): string {
  if (summary.paired.length === 0) return '';
  return (
    `<h2>Paired differences against ${escapeHtml(summary.baseline)}</h2>\n` +
    table(
      ['method', 'quantizer', 'optimizer', 'n', 'mean diff (points)', '95 % t interval', '95 % bootstrap', 'verdict'],
      summary.paired.map((p) => row([escapeHtml(p.method), escapeHtml(p.quantizer), p.optimizer, String(p.n), signedPercent(p.meanDiff), formatInterval(p.ci95), formatInterval(p.bootstrap95), p.verdict])),
    ) +
    `\n<p class="note">Final test accuracy minus the baseline's, seed by seed (same initialisation and data order). t interval: mean ± t(0.975, n − 1)·sd/√n; ` +
    `bootstrap (n ≥ ${BOOTSTRAP_MIN_N}): percentiles 2.5–97.5 of ${BOOTSTRAP_RESAMPLES} seeded resampled means. Verdict from the t interval.</p>`
  );
}

function learnedC(summary: SummaryFiles): string {
  const rows = summary.rows.filter((r) => r.metaC !== null);
  if (rows.length === 0) return '';
  return (
    '<h2>Learned c after the last epoch</h2>\n' +
    table(
      ['method', 'quantizer', 'optimizer', 'c per seed', 'mean c', 'mean |c|'],
      rows.map((r) => row([escapeHtml(r.method), escapeHtml(r.quantizer), r.optimizer, r.metaC!.perSeed.map((v) => v.toFixed(3)).join(', '), r.metaC!.mean === null ? 'signs differ' : r.metaC!.mean.toFixed(3), r.metaC!.absMean.toFixed(3)])),
    ) +
    '\n<p class="note">Where seeds learned c of both signs, no mean is given: it would describe no run. The c chart\'s mean line has the same caveat there.</p>'
  );
}

/** Everything above, in order, for report.html (empty sections are left out). */
export function statisticsSections(summary: SummaryFiles): string {
  return [splitCells(summary), selections(summary), paired(summary), learnedC(summary)].filter(Boolean).join('\n');
}
