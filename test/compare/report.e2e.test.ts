// report.html from a compare folder with fixed metrics: the charts' data, the files, and the page
// rendered offline in headless Chromium (table values, every chart's SVG with marks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { browserSkip, launchChromium } from '../helpers/browser.js';
import { expandGrid, writeGridFile } from '../../src/compare/grid.js';
import { argsForConfig } from '../../src/config/flags.js';
import { parseMethodSpec } from '../../src/compare/method-spec.js';
import { RESULT_FILE, ERROR_LOG, runDir, type RunResult } from '../../src/compare/runner.js';
import { rebuildReport } from '../../src/compare/report.js';
import { writeFileAtomic } from '../../src/util/atomic-write.js';

/**
 * A grid folder as compare leaves it: ste and metaquant:fcgrad × dorefa, bwn × sgd × seeds 1, 2,
 * three epochs each; fcgrad/bwn/seed 2 failed. Accuracies are fixed so the table can be checked by hand.
 */
function fixtureGrid(): { dir: string; cells: number } {
  const dir = mkdtempSync(join(tmpdir(), 'mq-report-'));
  const runs = expandGrid({
    methods: ['ste', 'metaquant:fcgrad'].map((m) => parseMethodSpec(m)),
    quantizers: ['dorefa', 'bwn'],
    optimizers: ['sgd'],
    seeds: [1, 2],
    epochs: 3,
    common: { model: 'mlp' },
  });
  writeGridFile(dir, runs);
  runs.forEach((run, i) => {
    const folder = runDir(dir, run.id);
    if (run.method === 'metaquant:fcgrad' && run.quantizer === 'bwn' && run.seed === 2) {
      writeFileAtomic(join(folder, ERROR_LOG), 'metaquant train ...\nexit code 1\n');
      return;
    }
    // ste/dorefa: seed 1 [0.5, 0.7, 0.6], seed 2 [0.4, 0.8, 0.9]; other cells shifted.
    const base = run.seed === 1 ? [0.5, 0.7, 0.6] : [0.4, 0.8, 0.9];
    const acc = base.map((a) => a - 0.05 * Math.floor(i / 2));
    const history = acc.map((a, e) => ({
      epoch: e + 1,
      trainLoss: 2 - a - 0.1 * e,
      trainAccuracy: a,
      testLoss: 1 - a,
      testAccuracy: a,
      lr: 0.01,
      seconds: 1,
      imagesPerSecond: 100,
      flipRatio: 0.01,
      ...(run.method.startsWith('metaquant') ? { metaC: 0.5 + 0.1 * e + 0.01 * run.seed, cosMetaSte: 0.9 - 0.05 * e } : {}),
    }));
    writeFileAtomic(join(folder, 'metrics.jsonl'), history.map((h) => JSON.stringify(h)).join('\n') + '\n');
    const result: RunResult = {
      format: 'metaquant-compare-result',
      id: run.id,
      method: run.method,
      quantizer: run.quantizer,
      optimizer: run.optimizer,
      seed: run.seed,
      args: argsForConfig(run.config),
      train: { testAccuracy: acc[2]!, testLoss: 1 - acc[2]!, epochs: 3, seconds: 3, imagesPerSecond: 100, out: folder },
      wallSeconds: run.seed === 1 ? 10 : 20,
      resumed: false,
      finishedAt: '2026-01-01T00:00:00.000Z',
    };
    writeFileAtomic(join(folder, RESULT_FILE), JSON.stringify(result));
  });
  return { dir, cells: 4 };
}

const EXPECTED_CHARTS = ['test-accuracy', 'train-loss', 'final-accuracy', 'meta-c', 'cos-meta-ste'];

test('report: summary files, one SVG and spec per chart, and a self-contained report.html', async () => {
  const { dir } = fixtureGrid();
  const { summary, report } = await rebuildReport(dir);
  assert.deepEqual(report.charts, EXPECTED_CHARTS);
  assert.equal(summary.rows.length, 4);
  const first = summary.rows[0]!;
  assert.deepEqual([first.method, first.quantizer, first.optimizer, first.n], ['ste', 'dorefa', 'sgd', 2]);
  assert.ok(Math.abs(first.finalMean - 0.75) < 1e-12 && Math.abs(first.lastKMean - 0.65) < 1e-12);
  const failedCell = summary.rows.find((r) => r.method === 'metaquant:fcgrad' && r.quantizer === 'bwn')!;
  assert.deepEqual([failedCell.n, failedCell.failed, failedCell.finalStd], [1, 1, null]);
  for (const name of EXPECTED_CHARTS) {
    const svg = readFileSync(join(dir, 'plots', `${name}.svg`), 'utf8');
    assert.match(svg, /^<svg[^>]* width="\d+" height="\d+"/);
    JSON.parse(readFileSync(join(dir, 'plots', `${name}.vl.json`), 'utf8'));
  }
  const html = readFileSync(report.file, 'utf8');
  assert.doesNotMatch(html, /<script|<link|src="http|href="http|@import/i, 'no external resources');
  assert.equal((html.match(/<svg/g) ?? []).length, EXPECTED_CHARTS.length);
  for (const f of ['summary.csv', 'summary.json', 'summary.md']) assert.ok(existsSync(join(dir, f)), f);
});

test('report.html renders in headless Chromium: the table and every chart with marks', { skip: browserSkip }, async () => {
  const { dir, cells } = fixtureGrid();
  const { report } = await rebuildReport(dir);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const external: string[] = [];
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      external.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(report.file).href);
    assert.deepEqual(external, [], 'the report loads nothing from the network');

    const rows = await page.$$eval('#summary tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent!.trim())));
    assert.equal(rows.length, cells);
    // ste/dorefa/sgd: finals 0.6, 0.9; last-3 over both runs 3.9/6; bests 0.7, 0.9; times 10, 20.
    assert.deepEqual(rows[0], ['ste', 'dorefa', 'sgd', '2', '75.00 ± 21.21', '65.00', '80.00 ± 14.14', '15.0']);
    const failedRow = rows.find((r) => r[0] === 'metaquant:fcgrad' && r[1] === 'bwn')!;
    assert.equal(failedRow[3], '1 (1 failed)');
    assert.doesNotMatch(failedRow[4]!, /±/, 'no std for a single seed');
    assert.equal(await page.$$eval('#runs tbody tr', (trs) => trs.length), 8);

    const charts = await page.$$eval('figure[data-chart]', (figures) =>
      figures.map((f) => {
        const svg = f.querySelector('svg')!;
        const box = svg.getBoundingClientRect();
        const marks = [...svg.querySelectorAll('g.role-mark path')].filter((p) => (p.getAttribute('d') ?? '').length > 0);
        const markBox = marks.reduce((area, p) => {
          const b = p.getBoundingClientRect();
          return area + b.width * b.height;
        }, 0);
        return {
          name: f.getAttribute('data-chart'),
          width: box.width,
          height: box.height,
          marks: marks.length,
          markArea: markBox,
          lines: svg.querySelectorAll('g.mark-line.role-mark path').length,
          bands: svg.querySelectorAll('g.mark-area.role-mark path').length,
          bars: svg.querySelectorAll('g.mark-rect.role-mark.child_layer_0_marks path').length,
        };
      }),
    );
    assert.deepEqual(charts.map((c) => c.name), EXPECTED_CHARTS);
    for (const c of charts) {
      assert.ok(c.width > 100 && c.height > 100, `${c.name}: rendered size ${c.width}×${c.height}`);
      assert.ok(c.marks > 0 && c.markArea > 0, `${c.name}: has visible marks`);
    }
    const byName = Object.fromEntries(charts.map((c) => [c.name, c]));
    // One mean line and one band per method per panel (2 methods × 2 panels); MetaQuant charts: 1 method × 2 panels.
    assert.equal(byName['test-accuracy']!.lines, 4);
    assert.equal(byName['test-accuracy']!.bands, 4);
    assert.equal(byName['train-loss']!.lines, 4);
    assert.equal(byName['meta-c']!.lines, 2);
    assert.equal(byName['cos-meta-ste']!.lines, 2);
    assert.equal(byName['final-accuracy']!.bars, cells, 'one bar per cell');
  } finally {
    await browser.close();
  }
});
