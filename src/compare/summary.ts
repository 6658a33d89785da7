import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { InputFileError, UsageError } from '../util/errors.js';
import { readGridFile, GRID_FILE, type RunSpec } from './grid.js';
import { readRunResult, runDir, ERROR_LOG, type RunResult } from './runner.js';
import { cellKey, summarize, testAtBestEpoch, type CellSummary, type RunMetrics } from './statistics.js';
import { lastKAccuracy, pairedComparisons, selectConfigurations, type PairedRow, type Selection } from './selection.js';
import { finalCell, metaCMarkdown, pairedMarkdown, RISING_NOTE, selectionMarkdown, SPLIT_NOTE } from './summary-sections.js';
import { escapeTableCell } from './format.js';

/** A grid folder read back: its runs, and for the finished ones their result and per-epoch metrics. */
export interface GridData {
  dir: string;
  runs: RunSpec[];
  finished: Array<RunMetrics & { id: string; result: RunResult }>;
  /** Runs without a result.json: failed (error.log present) or not run/interrupted; history: the epochs they finished. */
  unfinished: Array<{ run: RunSpec; failed: boolean; history: RunMetrics['history'] }>;
  /** The compare command lines recorded in grid.json (none in folders of earlier versions). */
  commands: string[];
}

function readHistory(file: string): RunMetrics['history'] {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  return lines.map((line, i) => {
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new InputFileError(file, `line ${i + 1} is not JSON`);
    }
    const r = row as Record<string, unknown>;
    if (typeof r.epoch !== 'number' || typeof r.testAccuracy !== 'number' || typeof r.trainLoss !== 'number') {
      throw new InputFileError(file, `line ${i + 1} lacks numeric epoch/testAccuracy/trainLoss`);
    }
    return r as RunMetrics['history'][number];
  });
}

/** An unfinished run's epochs so far (none when it has no readable metrics yet: it may be writing them). */
function partialHistory(file: string): RunMetrics['history'] {
  try {
    return existsSync(file) ? readHistory(file) : [];
  } catch {
    return [];
  }
}

export function loadGrid(dir: string): GridData {
  const grid = readGridFile(dir);
  if (!grid) throw new UsageError(`${dir} is not a compare folder (no ${GRID_FILE}); run metaquant compare --out ${dir} first`);
  const data: GridData = { dir, runs: grid.runs, finished: [], unfinished: [], commands: grid.commands ?? [] };
  for (const run of grid.runs) {
    const result = readRunResult(dir, run.id);
    const folder = runDir(dir, run.id);
    if (!result) {
      data.unfinished.push({ run, failed: existsSync(join(folder, ERROR_LOG)), history: partialHistory(join(folder, 'metrics.jsonl')) });
      continue;
    }
    const history = readHistory(join(folder, 'metrics.jsonl'));
    data.finished.push({ id: run.id, method: run.method, quantizer: run.quantizer, optimizer: run.optimizer, seed: run.seed, history, wallSeconds: result.wallSeconds, result, ...(run.baseMethod !== undefined ? { baseMethod: run.baseMethod, sweep: run.sweep } : {}) });
  }
  return data;
}

/** The default k of the reference statistic: 3, or the number of epochs when fewer. */
export function defaultLastK(runs: readonly RunSpec[]): number {
  return Math.max(1, Math.min(3, ...runs.map((r) => r.epochs)));
}

export interface SummaryRow extends CellSummary {
  failed: number;
  unfinished: number;
}

/** Cells in grid order; a cell with no finished run still appears (n = 0) so gaps are visible. */
export function summaryRows(data: GridData, lastK: number): { rows: SummaryRow[]; empty: Array<{ method: string; quantizer: string; optimizer: string; failed: number; unfinished: number }> } {
  const cells = summarize(data.finished, lastK);
  const byKey = new Map(cells.map((c) => [cellKey(c), c]));
  const rows: SummaryRow[] = [];
  const empty: Array<{ method: string; quantizer: string; optimizer: string; failed: number; unfinished: number }> = [];
  const seen = new Set<string>();
  for (const run of data.runs) {
    const key = cellKey(run);
    if (seen.has(key)) continue;
    seen.add(key);
    const missing = data.unfinished.filter((u) => cellKey(u.run) === key);
    const failed = missing.filter((u) => u.failed).length;
    const cell = byKey.get(key);
    if (cell) rows.push({ ...cell, failed, unfinished: missing.length - failed });
    else empty.push({ method: run.method, quantizer: run.quantizer, optimizer: run.optimizer, failed, unfinished: missing.length - failed });
  }
  return { rows, empty };
}

const pct = (x: number | null, digits = 2) => (x === null ? '' : (x * 100).toFixed(digits));

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const SUMMARY_COLUMNS = [
  'method',
  'quantizer',
  'optimizer',
  'n',
  'final_acc_mean_pct',
  'final_acc_std_pct',
  'lastk_acc_mean_pct',
  'last_k',
  'best_acc_mean_pct',
  'best_acc_std_pct',
  'time_mean_s',
  'failed',
  'unfinished',
] as const;

export function summaryCsv(rows: readonly SummaryRow[]): string {
  const lines = [SUMMARY_COLUMNS.join(',')];
  for (const r of rows) {
    lines.push(
      [r.method, r.quantizer, r.optimizer, r.n, pct(r.finalMean, 4), pct(r.finalStd, 4), pct(r.lastKMean, 4), r.lastK, pct(r.bestMean, 4), pct(r.bestStd, 4), r.wallSecondsMean.toFixed(2), r.failed, r.unfinished]
        .map(csvField)
        .join(','),
    );
  }
  return lines.join('\n') + '\n';
}

const pm = (m: number, s: number | null) => (s === null ? `${pct(m)}` : `${pct(m)} ± ${pct(s)}`);

export function summaryMarkdown(rows: readonly SummaryRow[], empty: ReturnType<typeof summaryRows>['empty'], lastK: number): string {
  const onVal = rows.length > 0 && rows.every((r) => r.bestSelectedOn === 'validation');
  const out = [
    `| method | quantizer | optimizer | n | final acc % (mean ± std) | last-k acc % | best-epoch acc % (mean ± std${onVal ? ', epoch picked on validation' : ''}) | time / run (s) |`,
    '|---|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const notes = [r.failed ? `${r.failed} failed` : '', r.unfinished ? `${r.unfinished} unfinished` : ''].filter(Boolean).join(', ');
    out.push(
      `| ${escapeTableCell(r.method)} | ${escapeTableCell(r.quantizer)} | ${r.optimizer} | ${r.n}${notes ? ` (${notes})` : ''} | ${r.split === undefined ? pm(r.finalMean, r.finalStd) : finalCell(r)} | ${pct(r.lastKMean)} (k=${r.lastK})${r.lastKRising ? ' ↗' : ''} | ${pm(r.bestMean, r.bestStd)} | ${r.wallSecondsMean.toFixed(1)} |`,
    );
  }
  for (const e of empty) out.push(`| ${escapeTableCell(e.method)} | ${escapeTableCell(e.quantizer)} | ${e.optimizer} | 0 (${e.failed} failed, ${e.unfinished} unfinished) | – | – | – | – |`);
  out.push(
    '',
    `Test accuracy in percent over seeds. ± is the sample standard deviation (n − 1; none for n = 1). ` +
      `Last-k: the reference code's statistic, the mean of test accuracy over all runs × their last k epochs (k = ${lastK}, or fewer when a run has fewer epochs). ` +
      (onVal
        ? `Best-epoch: the mean over seeds of the test accuracy at the epoch where each run's validation accuracy was highest. `
        : `Best-epoch: the mean over seeds of each run's highest test accuracy (picked on the test set, so optimistic; --val-split picks it on validation). `) +
      `Time: mean wall-clock seconds of a run's training process.`,
  );
  if (rows.some((r) => r.split)) out.push('', SPLIT_NOTE);
  if (rows.some((r) => r.lastKRising)) out.push('', RISING_NOTE);
  return out.join('\n') + '\n';
}

export interface SummaryFiles {
  rows: SummaryRow[];
  selections: Selection[];
  paired: PairedRow[];
  baseline: string;
  empty: ReturnType<typeof summaryRows>['empty'];
  lastK: number;
  data: GridData;
}

/** The baseline of the paired comparison: the one asked for (checked), else the grid's first method. */
function baselineOf(data: GridData, asked: string | undefined): string {
  const methods = [...new Set(data.runs.map((r) => r.baseMethod ?? r.method))];
  if (asked === undefined) return methods[0] ?? '';
  if (!methods.includes(asked)) throw new UsageError(`--baseline '${asked}' is not a method of ${data.dir}; expected one of: ${methods.join(', ')}`);
  return asked;
}

/** Selections on validation (a sweep without a validation split is a usage error naming the cell). */
function selectionsOf(rows: readonly SummaryRow[]): Selection[] {
  try {
    return selectConfigurations(rows);
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  }
}

/** Writes summary.csv, summary.json and summary.md into the grid folder (atomically) and returns what they hold. */
export function writeSummary(dir: string, lastK?: number, baselineMethod?: string): SummaryFiles {
  const data = loadGrid(dir);
  if (lastK !== undefined && (!Number.isInteger(lastK) || lastK < 1)) throw new UsageError(`--last-k must be a positive integer, got ${lastK}`);
  const k = lastK ?? defaultLastK(data.runs);
  const { rows, empty } = summaryRows(data, k);
  const baseline = baselineOf(data, baselineMethod);
  const selections = selectionsOf(rows);
  const paired = pairedComparisons(selections, data.finished, baseline, k);
  writeFileAtomic(join(dir, 'summary.csv'), summaryCsv(rows));
  writeFileAtomic(join(dir, 'summary.md'), [summaryMarkdown(rows, empty, k), selectionMarkdown(selections), pairedMarkdown(paired, baseline), metaCMarkdown(rows)].filter(Boolean).join('\n'));
  const json = {
    format: 'metaquant-compare-summary',
    lastK: k,
    baseline,
    selectedOn: 'validation accuracy after the last epoch, mean over seeds (selection); test accuracy is only reported',
    selection: selections,
    paired,
    std: 'sample standard deviation (n - 1), as a fraction; null when n = 1',
    accuracy: 'fraction of the test set (0..1)',
    cells: rows,
    emptyCells: empty,
    runs: data.finished.map((r) => ({
      id: r.id,
      method: r.method,
      quantizer: r.quantizer,
      optimizer: r.optimizer,
      seed: r.seed,
      ...(r.baseMethod !== undefined ? { baseMethod: r.baseMethod, sweep: r.sweep } : {}),
      finalAccuracy: r.history[r.history.length - 1]!.testAccuracy,
      ...(typeof r.history[r.history.length - 1]!.valAccuracy === 'number' ? { finalValAccuracy: r.history[r.history.length - 1]!.valAccuracy } : {}),
      // The test accuracy at the best epoch, picked on validation when the run has it (else on test: optimistic).
      bestAccuracy: testAtBestEpoch(r.history, r.history.every((h) => typeof h.valAccuracy === 'number') ? 'valAccuracy' : 'testAccuracy'),
      // The reference's statistic for this one run: mean test accuracy over its last k epochs.
      lastKAccuracy: lastKAccuracy(r, k),
      epochs: r.history.length,
      wallSeconds: r.wallSeconds,
    })),
    unfinished: data.unfinished.map((u) => ({ id: u.run.id, failed: u.failed })),
  };
  writeFileAtomic(join(dir, 'summary.json'), JSON.stringify(json, null, 2) + '\n');
  return { rows, selections, paired, baseline, empty, lastK: k, data };
}
