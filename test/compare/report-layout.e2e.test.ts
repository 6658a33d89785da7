// report.html as a newcomer reads it, rendered in headless Chromium: the setup block (data set,
// model, epochs, limits, batch, learning rates, the command), legend swatches in the lines'
// colours, MetaQuant-only charts without ste in their legend, charts as wide as the page, and the
// epochs of an unfinished run plotted (dashed). Saves a screenshot (METAQUANT_SCREENSHOT=FILE to keep it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { browserSkip, launchChromium } from '../helpers/browser.js';
import { expandGrid, readGridFile, writeGridFile } from '../../src/compare/grid.js';
import { parseMethodSpec } from '../../src/compare/method-spec.js';
import { RESULT_FILE, runDir, type RunResult } from '../../src/compare/runner.js';
import { rebuildReport } from '../../src/compare/report.js';
import { writeFileAtomic } from '../../src/util/atomic-write.js';

const COMMAND = "metaquant compare --methods ste,metaquant:fcgrad --quantizers dorefa,bwn --seeds 1,2 --epochs 3 --out 'my grid' --dataset synthetic --train-limit 500";

/** ste and metaquant:fcgrad × dorefa, bwn × sgd × seeds 1, 2; fcgrad/dorefa/seed 2 stopped after 2 of 3 epochs. */
function fixtureGrid(): { dir: string; unfinished: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mq-report-layout-'));
  const runs = expandGrid({
    methods: ['ste', 'metaquant:fcgrad'].map((m) => parseMethodSpec(m)),
    quantizers: ['dorefa', 'bwn'],
    optimizers: ['sgd'],
    seeds: [1, 2],
    epochs: 3,
    common: { model: 'mlp', hidden: [32], dataset: 'synthetic', trainLimit: 500, batchSize: 64, lr: 0.01 },
  });
  writeGridFile(dir, runs, [COMMAND]);
  let unfinished = '';
  for (const run of runs) {
    const stopped = run.method === 'metaquant:fcgrad' && run.quantizer === 'dorefa' && run.seed === 2;
    if (stopped) unfinished = run.id;
    const mq = run.method.startsWith('metaquant');
    const history = [0.5, 0.6, 0.7].slice(0, stopped ? 2 : 3).map((a, e) => ({
      epoch: e + 1,
      trainLoss: 1.5 - a,
      trainAccuracy: a,
      testLoss: 1 - a,
      testAccuracy: a + (mq ? 0.05 : 0) + 0.02 * run.seed,
      lr: 0.01,
      seconds: 1,
      imagesPerSecond: 100,
      ...(mq ? { metaC: 0.5 + 0.1 * e, cosMetaSte: 0.9 - 0.05 * e } : {}),
    }));
    const folder = runDir(dir, run.id);
    writeFileAtomic(join(folder, 'metrics.jsonl'), history.map((h) => JSON.stringify(h)).join('\n') + '\n');
    if (stopped) continue;
    const last = history[history.length - 1]!;
    const result: RunResult = {
      format: 'metaquant-compare-result',
      ...{ id: run.id, method: run.method, quantizer: run.quantizer, optimizer: run.optimizer, seed: run.seed },
      args: [],
      train: { testAccuracy: last.testAccuracy, testLoss: last.testLoss, epochs: 3, seconds: 3, imagesPerSecond: 100, out: folder },
      wallSeconds: 3,
      resumed: false,
      finishedAt: '2026-01-01T00:00:00.000Z',
    };
    writeFileAtomic(join(folder, RESULT_FILE), JSON.stringify(result));
  }
  return { dir, unfinished };
}

test('grid.json keeps the command lines; folders without them still read', () => {
  const { dir } = fixtureGrid();
  assert.deepEqual(readGridFile(dir)!.commands, [COMMAND]);
  const raw = JSON.parse(readFileSync(join(dir, 'grid.json'), 'utf8'));
  delete raw.commands;
  writeFileAtomic(join(dir, 'grid.json'), JSON.stringify(raw));
  assert.equal(readGridFile(dir)!.commands, undefined);
});

test('report.html in Chromium: setup block, legend swatches, meta legends, full-width charts, unfinished epochs', { skip: browserSkip }, async () => {
  const { dir, unfinished } = fixtureGrid();
  const { report } = await rebuildReport(dir);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(pathToFileURL(report.file).href);

    // The setup: what the grid trained and the command that made it.
    const setup = await page.$eval('#setup', (e) => (e as HTMLElement).innerText);
    for (const want of [/data set\s+synthetic/, /model\s+mlp \(hidden 32\)/, /epochs\s+3/, /train limit\s+500/, /batch size\s+64/, /learning rate\s+0\.01/, /meta lr\s+0\.001/, /seeds\s+1, 2/]) {
      assert.match(setup, want);
    }
    assert.ok(setup.includes(COMMAND), setup);

    const charts = await page.$$eval('figure[data-chart]', (figures) =>
      figures.map((f) => {
        const svg = f.querySelector('svg')!;
        const legendSymbols = [...svg.querySelectorAll('.role-legend-symbol path:not(.foreground):not(.background)')].map((p) => ({
          fill: p.getAttribute('fill'),
          opacity: Number(p.getAttribute('opacity') ?? '1'),
        }));
        const legendLabels = [...svg.querySelectorAll('.role-legend-label text')].map((t) => t.textContent);
        const lines = [...svg.querySelectorAll('.mark-line path')].map((p) => ({ label: p.getAttribute('aria-label') ?? '', stroke: p.getAttribute('stroke'), dashed: p.hasAttribute('stroke-dasharray') }));
        return { name: f.getAttribute('data-chart')!, width: svg.getBoundingClientRect().width, legendSymbols, legendLabels, lines };
      }),
    );
    const pageWidth = await page.$eval('body', (b) => b.clientWidth - parseFloat(getComputedStyle(b).paddingLeft) - parseFloat(getComputedStyle(b).paddingRight));
    for (const c of charts) assert.ok(c.width > 0.8 * pageWidth, `${c.name}: ${c.width.toFixed(0)} px of the page's ${pageWidth.toFixed(0)}`);

    const accuracy = charts.find((c) => c.name === 'test-accuracy')!;
    assert.deepEqual(accuracy.legendLabels, ['ste', 'metaquant:fcgrad']);
    accuracy.legendLabels.forEach((method, i) => {
      const line = accuracy.lines.find((l) => !l.dashed && l.label.includes(`method: ${method}`))!;
      assert.equal(accuracy.legendSymbols[i]!.fill, line.stroke, `${method}: the swatch is the line's colour`);
      assert.equal(accuracy.legendSymbols[i]!.opacity, 1, `${method}: the swatch is not the pale band`);
    });
    for (const name of ['meta-c', 'cos-meta-ste']) {
      assert.deepEqual(charts.find((c) => c.name === name)!.legendLabels, ['metaquant:fcgrad'], `${name}: MetaQuant runs only`);
    }
    // The unfinished run's two epochs: a dashed line in its method's colour.
    const dashed = accuracy.lines.filter((l) => l.dashed);
    assert.equal(dashed.length, 1);
    assert.ok(dashed[0]!.label.includes(`run: ${unfinished}`), dashed[0]!.label);
    assert.equal(dashed[0]!.stroke, accuracy.lines.find((l) => !l.dashed && l.label.includes('method: metaquant:fcgrad'))!.stroke);
    assert.match(await page.$eval('figure[data-chart="test-accuracy"] figcaption', (e) => e.textContent ?? ''), /Dashed.*not finished yet/);

    // Responsive: in a narrow window the charts shrink to the page instead of overflowing it.
    await page.setViewportSize({ width: 700, height: 900 });
    const narrow = await page.$$eval('figure[data-chart] svg', (svgs) => svgs.map((s) => s.getBoundingClientRect().width));
    const narrowPage = await page.$eval('body', (b) => b.clientWidth);
    for (const w of narrow) assert.ok(w <= narrowPage, `a chart ${w.toFixed(0)} px wide overflows the ${narrowPage} px page`);
    await page.setViewportSize({ width: 1280, height: 900 });

    const shot = process.env.METAQUANT_SCREENSHOT ?? join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    process.stderr.write(`report screenshot: ${shot}\n`);
  } finally {
    await browser.close();
  }
});
