import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { gridCharts, renderSvg } from './charts.js';
import { setupSection } from './report-setup.js';
import { writeSummary, type SummaryFiles, type SummaryRow } from './summary.js';
import { statisticsSections } from './report-statistics.js';
import { escapeHtml } from './format.js';

/**
 * report.html: the summary table, the runs, and every chart as inline SVG — one file that opens
 * offline. The charts are also written to plots/NAME.svg with their vega-lite specs (NAME.vl.json).
 */

const pct = (x: number | null) => (x === null ? '–' : (x * 100).toFixed(2));
const pm = (m: number, s: number | null) => (s === null ? pct(m) : `${pct(m)} ± ${pct(s)}`);

function summaryTable(rows: readonly SummaryRow[], empty: SummaryFiles['empty'], lastK: number): string {
  const head =
    '<tr><th>method</th><th>quantizer</th><th>optimizer</th><th>n</th><th>final acc % (mean ± std)</th>' +
    `<th>last-${lastK} acc %</th><th>best-epoch acc % (mean ± std)</th><th>time / run (s)</th></tr>`;
  const body = rows.map((r) => {
    const notes = [r.failed ? `${r.failed} failed` : '', r.unfinished ? `${r.unfinished} unfinished` : ''].filter(Boolean).join(', ');
    return (
      `<tr><td>${escapeHtml(r.method)}</td><td>${escapeHtml(r.quantizer)}</td><td>${escapeHtml(r.optimizer)}</td>` +
      `<td class="num">${r.n}${notes ? ` <span class="warn">(${notes})</span>` : ''}</td><td class="num">${pm(r.finalMean, r.finalStd)}</td>` +
      `<td class="num">${pct(r.lastKMean)}${r.lastK !== lastK ? ` (k=${r.lastK})` : ''}</td><td class="num">${pm(r.bestMean, r.bestStd)}</td><td class="num">${r.wallSecondsMean.toFixed(1)}</td></tr>`
    );
  });
  const gaps = empty.map(
    (e) =>
      `<tr><td>${escapeHtml(e.method)}</td><td>${escapeHtml(e.quantizer)}</td><td>${escapeHtml(e.optimizer)}</td>` +
      `<td class="num">0 <span class="warn">(${e.failed} failed, ${e.unfinished} unfinished)</span></td><td>–</td><td>–</td><td>–</td><td>–</td></tr>`,
  );
  return `<table id="summary"><thead>${head}</thead><tbody>${[...body, ...gaps].join('\n')}</tbody></table>`;
}

function runsTable(summary: SummaryFiles): string {
  const rows = summary.data.finished.map((r) => {
    const accs = r.history.map((h) => h.testAccuracy);
    return (
      `<tr><td>${escapeHtml(r.id)}</td><td class="num">${r.seed}</td><td class="num">${r.history.length}</td>` +
      `<td class="num">${pct(accs[accs.length - 1]!)}</td><td class="num">${pct(Math.max(...accs))}</td><td class="num">${r.wallSeconds.toFixed(1)}</td><td>finished${r.result.resumed ? ' (resumed)' : ''}</td></tr>`
    );
  });
  const missing = summary.data.unfinished.map(
    (u) => `<tr><td>${escapeHtml(u.run.id)}</td><td class="num">${u.run.seed}</td><td>–</td><td>–</td><td>–</td><td>–</td><td class="warn">${u.failed ? 'failed (see error.log)' : 'not finished'}</td></tr>`,
  );
  return (
    '<table id="runs"><thead><tr><th>run</th><th>seed</th><th>epochs</th><th>final acc %</th><th>best acc %</th><th>time (s)</th><th>state</th></tr></thead>' +
    `<tbody>${[...rows, ...missing].join('\n')}</tbody></table>`
  );
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.warn { color: #a33; }
figure { margin: 2em 0; }
figcaption { font-size: 0.9em; color: #555; max-width: 800px; }
/* Charts take the page's width (vega's SVG has a viewBox, so it scales). */
figure svg { width: 100%; height: auto; }
pre.command { background: #f6f6f6; padding: 0.5em; overflow-x: auto; white-space: pre-wrap; font-size: 0.85em; }
#setup-table th { width: 10em; }
.note { font-size: 0.9em; color: #555; max-width: 800px; }
`;

export interface ReportResult {
  file: string;
  charts: string[];
}

/** Renders every chart and writes plots/*.svg, plots/*.vl.json and report.html into the grid folder. */
export async function writeReport(dir: string, summary: SummaryFiles): Promise<ReportResult> {
  const charts = gridCharts(summary.data, summary.rows);
  const figures: string[] = [];
  for (const chart of charts) {
    const svg = await renderSvg(chart.spec);
    writeFileAtomic(join(dir, 'plots', `${chart.name}.svg`), svg);
    writeFileAtomic(join(dir, 'plots', `${chart.name}.vl.json`), JSON.stringify(chart.spec, null, 2) + '\n');
    figures.push(`<figure data-chart="${chart.name}"><h3>${escapeHtml(chart.title)}</h3>\n${svg}\n<figcaption>${escapeHtml(chart.caption)}</figcaption></figure>`);
  }
  const d = summary.data;
  const failed = d.unfinished.filter((u) => u.failed).length;
  const metaNote = charts.some((c) => c.name === 'meta-c' || c.name === 'cos-meta-ste') ? '' : '<p class="note">No finished run logged MetaQuant diagnostics, so there are no MetaQuant charts.</p>';
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>metaquant compare report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body>
<h1>metaquant compare</h1>
<p>${d.runs.length} runs in the grid: ${d.finished.length} finished, ${failed} failed, ${d.unfinished.length - failed} not finished. Generated ${new Date().toISOString()}.</p>
${setupSection(d.runs, d.commands)}
<h2>Summary</h2>
${summaryTable(summary.rows, summary.empty, summary.lastK)}
<p class="note">Test accuracy in percent over seeds; ± is the sample standard deviation (n − 1; none for one seed).
Last-${summary.lastK}: the reference code's statistic, the mean of test accuracy over all runs × their last ${summary.lastK} epochs
(fewer when a run has fewer epochs). Best-epoch: the mean over seeds of the test accuracy at each run's best epoch,
${summary.rows.length > 0 && summary.rows.every((r) => r.bestSelectedOn === 'validation') ? 'picked on validation accuracy' : 'picked on test accuracy (optimistic; --val-split picks it on validation)'}.
Time: mean wall-clock seconds of a run's training process (for a resumed run, its last part).</p>
${statisticsSections(summary)}
<h2>Charts</h2>
${metaNote}
${figures.join('\n')}
<h2>Runs</h2>
${runsTable(summary)}
</body></html>
`;
  const file = join(dir, 'report.html');
  writeFileAtomic(file, html);
  return { file, charts: charts.map((c) => c.name) };
}

/** `metaquant report DIR`: rebuilds the summary files and the report from a grid folder. */
export async function rebuildReport(dir: string, lastK?: number, baseline?: string): Promise<{ summary: SummaryFiles; report: ReportResult }> {
  const summary = writeSummary(dir, lastK, baseline);
  return { summary, report: await writeReport(dir, summary) };
}
