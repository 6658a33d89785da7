// compare's pure parts: method/quantizer specs, grid expansion and the rerun rule, the config file,
// and the summary statistics against values computed by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMethodSpec, parseQuantizerSpec, parseOptimizerSpec, slug } from '../../src/compare/method-spec.js';
import { expandGrid, mergeGrid, readGridFile, writeGridFile } from '../../src/compare/grid.js';
import { readCompareConfig } from '../../src/compare/config-file.js';
import { configFromTrainSection } from '../../src/compare/common-config.js';
import { curve, mean, sampleStd, summarize, summarizeCell, type RunMetrics } from '../../src/compare/statistics.js';
import { summaryCsv, summaryMarkdown, type SummaryRow } from '../../src/compare/summary.js';
import { UsageError, InputFileError } from '../../src/util/errors.js';

test('method specs become the config fields their train flags set', () => {
  assert.deepEqual(parseMethodSpec('ste').config, { method: 'ste' });
  assert.deepEqual(parseMethodSpec('metaquant:fcgrad').config, { method: 'metaquant', meta: 'fcgrad' });
  assert.deepEqual(parseMethodSpec('metaquant:lstm+phi-path=meta').config, { method: 'metaquant', meta: 'lstm', phiPath: 'meta' });
  assert.deepEqual(parseMethodSpec('metaquant:fcgrad+freeze-phi').config, { method: 'metaquant', meta: 'fcgrad', freezePhi: true });
  assert.deepEqual(parseMethodSpec('ste+lr-scale=0.3').config, { method: 'ste', lrScale: 0.3 });
  assert.deepEqual(parseMethodSpec('ste+momentum=0.9+weight-decay=5e-4').config, { method: 'ste', momentum: 0.9, weightDecay: 5e-4 });
  assert.deepEqual(parseMethodSpec('ste+no-augment+hidden=16,8').config, { method: 'ste', augment: false, hidden: [16, 8] });
  const named = parseMethodSpec('ste-matched', { 'ste-matched': 'ste+momentum=0.9+weight-decay=5e-4' });
  assert.equal(named.label, 'ste-matched');
  assert.deepEqual(named.config, { method: 'ste', momentum: 0.9, weightDecay: 5e-4 });
  assert.equal(parseMethodSpec(' metaquant:multifc ').label, 'metaquant:multifc');
});

test('bad method specs are usage errors that say what was expected', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty method spec/],
    ['sgd', /unknown method 'sgd'.*ste, clipped-ste, metaquant/],
    ['metaquant:rnn', /unknown meta network 'rnn'.*fcgrad/],
    ['metaquant:fcgrad:x', /more than one ':'/],
    ['ste+Lr=1', /not \+key or \+key=value/],
    ['ste+lr-scale=', /empty value/],
    ['ste+optimizer=sgd', /--optimizer is set by the grid/],
    ['ste+seed=3', /--seed is set by the grid/],
    ['ste+estimator=metaquant', /--estimator is set by the grid/],
    ['ste+momentom=0.9', /unknown train flag '--momentom' \(did you mean --momentum\?\)/],
    ['ste+momentum=abc', /--momentum: expected a number, got 'abc'/],
    ['ste+phi-path=sideways', /--phi-path: 'sideways' is not one of: ste, meta, zeroth-order/],
    ['ste+freeze-phi=1', /--freeze-phi is a switch/],
    ['ste+lr-scale', /--lr-scale needs a value/],
  ];
  for (const [spec, message] of cases) {
    assert.throws(() => parseMethodSpec(spec), (e: unknown) => e instanceof UsageError && message.test(e.message), spec);
  }
  assert.throws(() => parseMethodSpec('mine', { other: 'ste' }), /named in the config file: other/);
  // Flag names and values are checked against train's own option definitions (the field table).
  assert.deepEqual(parseMethodSpec('metaquant:lstm+phi-path=meta+lstm-reset').config, { method: 'metaquant', meta: 'lstm', phiPath: 'meta', lstmReset: true });
});

test('quantizer and optimizer specs', () => {
  assert.deepEqual(parseQuantizerSpec('dorefa').config, { quantizer: 'dorefa' });
  assert.deepEqual(parseQuantizerSpec('dorefa:2').config, { quantizer: 'dorefa', bits: 2 });
  assert.deepEqual(parseQuantizerSpec('ternary').config, { quantizer: 'ternary' });
  assert.throws(() => parseQuantizerSpec('bwn:2'), /only dorefa or lsq can take a bit width/);
  assert.throws(() => parseQuantizerSpec('dorefa:9'), /1 to 8/);
  assert.throws(() => parseQuantizerSpec('dorefa:1.5'), /1 to 8/);
  assert.throws(() => parseQuantizerSpec('xnor'), /expected NAME\[:BITS\].*dorefa, bwn/);
  assert.deepEqual(parseOptimizerSpec('sgd').config, { optimizer: 'sgd' });
  assert.throws(() => parseOptimizerSpec('rmsprop'), /optimizer 'rmsprop': expected one of: sgd, adam/);
});

test('slugs are filesystem safe and readable', () => {
  assert.equal(slug('metaquant:lstm+phi-path=zeroth-order'), 'metaquant-lstm_phi-path-zeroth-order');
  assert.equal(slug('ste+lr-scale=0.3'), 'ste_lr-scale-0.3');
  assert.match(slug('a/b c'), /^[A-Za-z0-9._-]+$/);
  const long = slug('metaquant:lstm' + '+meta-hidden=100'.repeat(10));
  assert.ok(long.length <= 60 && /^[A-Za-z0-9._-]+$/.test(long));
  assert.notEqual(long, slug('metaquant:lstm' + '+meta-hidden=100'.repeat(11)), 'long slugs keep a hash of the full text');
});

const grid = (over: Partial<Parameters<typeof expandGrid>[0]> = {}) =>
  expandGrid({
    methods: ['ste', 'metaquant:fcgrad+freeze-phi'].map((m) => parseMethodSpec(m)),
    quantizers: ['dorefa', 'bwn'],
    optimizers: ['sgd', 'adam'],
    seeds: [1, 2, 3],
    epochs: 4,
    common: { model: 'mlp', hidden: [8] },
    ...over,
  });

test('the grid expands every combination in a fixed order with one folder per run', () => {
  const runs = grid();
  assert.equal(runs.length, 2 * 2 * 2 * 3);
  assert.equal(new Set(runs.map((r) => r.id)).size, runs.length);
  assert.equal(runs[0]!.id, 'ste__dorefa__sgd__s1');
  assert.equal(runs[runs.length - 1]!.id, 'metaquant-fcgrad_freeze-phi__bwn__adam__s3');
  const last = runs[runs.length - 1]!.config;
  assert.deepEqual(
    [last.model, last.hidden, last.method, last.meta, last.freezePhi, last.quantizer, last.optimizer, last.seed, last.epochs],
    ['mlp', [8], 'metaquant', 'fcgrad', true, 'bwn', 'adam', 3, 4],
  );
  assert.equal(last.lr, 1e-3, 'defaults filled');
  assert.equal(last.out, undefined, 'the runner sets the run folder');
  // A method's +key=value overrides a common option; every run is validated before any starts.
  assert.equal(grid({ methods: [parseMethodSpec('ste+hidden=4')] })[0]!.config.hidden?.[0], 4);
  assert.throws(() => grid({ common: { model: 'mlp', bits: 3 }, quantizers: ['bwn'] }), /method 'ste' \(ste \/ bwn \/ sgd \/ seed 1\): --bits applies to dorefa or lsq only/);
  assert.throws(() => grid({ seeds: [1, 1] }), /seed '1' is listed twice/);
  assert.throws(() => grid({ quantizers: [] }), /--quantizers is empty/);
  assert.throws(() => grid({ methods: [parseMethodSpec('ste+lr-scale=1'), parseMethodSpec('ste_lr-scale-1', { 'ste_lr-scale-1': 'ste' })] }), /same folder name/);
});

test('a rerun may add runs but not change a recorded one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mq-grid-'));
  const first = grid({ seeds: [1] });
  writeGridFile(dir, first);
  const saved = readGridFile(dir);
  assert.deepEqual(saved?.runs, first);
  const grown = mergeGrid(dir, saved, grid({ seeds: [1, 2] }));
  assert.equal(grown.length, first.length * 2);
  assert.deepEqual(grown.slice(0, first.length), first, 'recorded runs first, unchanged');
  assert.deepEqual(mergeGrid(dir, saved, grid({ seeds: [2] })).length, first.length * 2, 'runs left out of a rerun stay recorded');
  assert.throws(() => mergeGrid(dir, saved, grid({ seeds: [1], epochs: 5 })), /changes the settings of 8 run\(s\).*epochs: 4 → 5/);
  assert.throws(() => mergeGrid(dir, saved, grid({ seeds: [1], common: { model: 'mlp', hidden: [8], lr: 0.1 } })), /lr: 0\.001 → 0\.1/);
  writeFileSync(join(dir, 'grid.json'), '{"format":"metaquant-compare-grid","version":7,"runs":[]}');
  assert.throws(() => readGridFile(dir), (e: unknown) => e instanceof InputFileError && /grid\.json.*version/.test(e.message));
});

test('config file: JSON and YAML, named methods, train flags; bad files name the problem', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mq-cfg-'));
  const yaml = join(dir, 'grid.yaml');
  writeFileSync(yaml, 'methods:\n  ste: ste\n  ste-matched: "ste+momentum=0.9+weight-decay=5e-4"\nquantizers: [dorefa, "dorefa:2"]\nseeds: [1, 2]\nepochs: 3\ntrain:\n  model: mlp\n  hidden: [16, 8]\n  trainLimit: 500\n  augment: false\n');
  const c = readCompareConfig(yaml);
  assert.deepEqual(c.methods, ['ste', 'ste-matched']);
  assert.equal(c.namedMethods['ste-matched'], 'ste+momentum=0.9+weight-decay=5e-4');
  assert.deepEqual(c.quantizers, ['dorefa', 'dorefa:2']);
  assert.deepEqual(c.seeds, [1, 2]);
  assert.deepEqual(configFromTrainSection(c.train, 'grid.yaml: train'), { model: 'mlp', hidden: [16, 8], trainLimit: 500, augment: false });
  // Keys as flag names, flag text for values, legacy names: all become config fields.
  assert.deepEqual(configFromTrainSection({ 'train-limit': 500, hidden: 32, 'lr-step': '10', maxMetaMemoryGiB: 2 }, 'f'), { trainLimit: 500, hidden: [32], lrStep: 10, maxMetaMemory: 2 });
  assert.throws(() => configFromTrainSection({ epochs: 3 }, 'f'), /set by the grid/);
  assert.throws(() => configFromTrainSection({ estimator: 'ste' }, 'f'), /'estimator' is set by the grid/);
  assert.throws(() => configFromTrainSection({ modle: 'mlp' }, 'f'), /UsageError: f: modle: unknown key \(did you mean 'model'\?\)/);
  assert.throws(() => configFromTrainSection({ 'batch-size': 'big' }, 'f'), /UsageError: f: batch-size: expected a number, got 'big'/);
  assert.throws(() => configFromTrainSection({ lr: -1 }, 'f'), /UsageError: f: lr: /);

  const json = join(dir, 'grid.json');
  writeFileSync(json, JSON.stringify({ methods: ['ste', 'metaquant:fcgrad'], optimizers: 'sgd' }));
  assert.deepEqual(readCompareConfig(json).optimizers, ['sgd']);
  writeFileSync(json, JSON.stringify({ methods: ['ste'], seed: [1] }));
  assert.throws(() => readCompareConfig(json), (e: unknown) => e instanceof InputFileError && /grid\.json/.test(e.message) && /seed/.test(e.message));
  writeFileSync(json, JSON.stringify({ epochs: -1 }));
  assert.throws(() => readCompareConfig(json), /epochs/);
  writeFileSync(json, '{"methods": [');
  assert.throws(() => readCompareConfig(json), /not valid JSON/);
  assert.throws(() => readCompareConfig(join(dir, 'missing.yaml')), /no such file/);
});

const run = (method: string, seed: number, acc: number[], wallSeconds: number, extra: Record<string, number[]> = {}): RunMetrics => ({
  method,
  quantizer: 'dorefa',
  optimizer: 'sgd',
  seed,
  wallSeconds,
  history: acc.map((a, i) => ({ epoch: i + 1, testAccuracy: a, trainLoss: 2 - a, ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, v[i]!])) })),
});

test('statistics against hand-computed values', () => {
  assert.equal(mean([1, 2, 4]), 7 / 3);
  // deviations -4/3, -1/3, 5/3: squares sum to 42/9; / (n - 1) = 7/3
  assert.ok(Math.abs(sampleStd([1, 2, 4])! - Math.sqrt(7 / 3)) < 1e-12);
  assert.equal(sampleStd([0.5]), null);

  const runs = [run('ste', 1, [0.5, 0.7, 0.6], 10), run('ste', 2, [0.4, 0.8, 0.9], 20)];
  const c = summarizeCell(runs, 2);
  assert.equal(c.n, 2);
  assert.deepEqual(c.seeds, [1, 2]);
  assert.ok(Math.abs(c.finalMean - 0.75) < 1e-12); // (0.6 + 0.9) / 2
  assert.ok(Math.abs(c.finalStd! - 0.15 * Math.SQRT2) < 1e-12); // sqrt((0.15² + 0.15²) / 1)
  assert.ok(Math.abs(c.bestMean - 0.8) < 1e-12); // (0.7 + 0.9) / 2
  assert.ok(Math.abs(c.bestStd! - 0.1 * Math.SQRT2) < 1e-12);
  assert.ok(Math.abs(c.lastKMean - 0.75) < 1e-12); // (0.7 + 0.6 + 0.8 + 0.9) / 4
  assert.equal(c.lastK, 2);
  assert.equal(c.wallSecondsMean, 15);
  const all = summarizeCell(runs, 3);
  assert.ok(Math.abs(all.lastKMean - 3.9 / 6) < 1e-12); // every epoch of both runs
  assert.equal(summarizeCell(runs, 10).lastK, 3, 'k is capped by the epochs');
  // Runs of different lengths: k is capped by the shortest, so every run contributes equally.
  const ragged = summarizeCell([run('ste', 1, [0.1, 0.2, 0.3], 1), run('ste', 2, [0.5, 0.7], 1)], 3);
  assert.equal(ragged.lastK, 2);
  assert.ok(Math.abs(ragged.lastKMean - (0.2 + 0.3 + 0.5 + 0.7) / 4) < 1e-12);
  assert.equal(summarizeCell([run('ste', 1, [0.3], 4)], 3).finalStd, null);

  const cells = summarize([...runs, run('mq', 1, [0.2, 0.3, 0.1], 5)], 3);
  assert.deepEqual(cells.map((x) => [x.method, x.n]), [['ste', 2], ['mq', 1]]);
  assert.throws(() => summarizeCell([], 3), RangeError);
  assert.throws(() => summarizeCell(runs, 0), RangeError);
});

test('per-epoch curves: mean, sample std, min and max over seeds; missing diagnostics skipped', () => {
  const runs = [run('mq', 1, [0.5, 0.7], 1, { metaC: [1, 3] }), run('mq', 2, [0.3, 0.9], 1, { metaC: [2, NaN] }), run('mq', 3, [0.4, 0.8], 1)];
  const acc = curve(runs, 'testAccuracy');
  assert.deepEqual(acc.map((p) => [p.epoch, p.n]), [[1, 3], [2, 3]]);
  assert.ok(Math.abs(acc[0]!.mean - 0.4) < 1e-12 && Math.abs(acc[0]!.std! - 0.1) < 1e-12);
  assert.equal(acc[1]!.min, 0.7);
  assert.equal(acc[1]!.max, 0.9);
  const c = curve(runs, 'metaC');
  assert.deepEqual(c.map((p) => [p.epoch, p.n, p.mean]), [[1, 2, 1.5], [2, 1, 3]]);
  assert.equal(c[1]!.std, null);
  assert.deepEqual(curve(runs, 'cosMetaSte'), []);
});

test('summary.csv and summary.md show percent, sample std and the reference statistic', () => {
  const cell = summarizeCell([run('ste', 1, [0.5, 0.7, 0.6], 10), run('ste', 2, [0.4, 0.8, 0.9], 20)], 2);
  const rows: SummaryRow[] = [{ ...cell, method: 'ste+lr-scale=0.3', failed: 1, unfinished: 0 }];
  const csv = summaryCsv(rows).trim().split('\n');
  assert.equal(csv[0], 'method,quantizer,optimizer,n,final_acc_mean_pct,final_acc_std_pct,lastk_acc_mean_pct,last_k,best_acc_mean_pct,best_acc_std_pct,time_mean_s,failed,unfinished');
  assert.equal(csv[1], 'ste+lr-scale=0.3,dorefa,sgd,2,75.0000,21.2132,75.0000,2,80.0000,14.1421,15.00,1,0');
  const md = summaryMarkdown(rows, [{ method: 'mq', quantizer: 'bwn', optimizer: 'adam', failed: 2, unfinished: 1 }], 2);
  assert.match(md, /\| ste\+lr-scale=0\.3 \| dorefa \| sgd \| 2 \(1 failed\) \| 75\.00 ± 21\.21 ⚠ split: 60\.0, 90\.0 \| 75\.00 \(k=2\) \| 80\.00 ± 14\.14 \| 15\.0 \|/);
  assert.match(md, /\| mq \| bwn \| adam \| 0 \(2 failed, 1 unfinished\) \|/);
  assert.match(md, /sample standard deviation \(n − 1/);
});
