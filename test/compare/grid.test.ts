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
import { argsFromObject, checkTrainArgs, passThroughOptions } from '../../src/compare/train-args.js';
import { curve, mean, sampleStd, summarize, summarizeCell, type RunMetrics } from '../../src/compare/statistics.js';
import { summaryCsv, summaryMarkdown, type SummaryRow } from '../../src/compare/summary.js';
import { UsageError, InputFileError } from '../../src/util/errors.js';

test('method specs become train flags', () => {
  assert.deepEqual(parseMethodSpec('ste').args, ['--estimator', 'ste']);
  assert.deepEqual(parseMethodSpec('metaquant:fcgrad').args, ['--estimator', 'metaquant', '--meta', 'fcgrad']);
  assert.deepEqual(parseMethodSpec('metaquant:lstm+phi-path=meta').args, ['--estimator', 'metaquant', '--meta', 'lstm', '--phi-path', 'meta']);
  assert.deepEqual(parseMethodSpec('metaquant:fcgrad+freeze-phi').args, ['--estimator', 'metaquant', '--meta', 'fcgrad', '--freeze-phi']);
  assert.deepEqual(parseMethodSpec('ste+lr-scale=0.3').args, ['--estimator', 'ste', '--lr-scale', '0.3']);
  assert.deepEqual(parseMethodSpec('ste+momentum=0.9+weight-decay=5e-4').args, ['--estimator', 'ste', '--momentum', '0.9', '--weight-decay', '5e-4']);
  const named = parseMethodSpec('ste-matched', { 'ste-matched': 'ste+momentum=0.9+weight-decay=5e-4' });
  assert.equal(named.label, 'ste-matched');
  assert.deepEqual(named.args, ['--estimator', 'ste', '--momentum', '0.9', '--weight-decay', '5e-4']);
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
  ];
  for (const [spec, message] of cases) {
    assert.throws(() => parseMethodSpec(spec), (e: unknown) => e instanceof UsageError && message.test(e.message), spec);
  }
  assert.throws(() => parseMethodSpec('mine', { other: 'ste' }), /named in the config file: other/);
  // Flag names and values are checked against train's own option definitions.
  assert.throws(() => checkTrainArgs(parseMethodSpec('ste+momentom=0.9').args, 'm'), /unknown option '--momentom'/);
  assert.throws(() => checkTrainArgs(parseMethodSpec('ste+momentum=abc').args, 'm'), /expected a number, got 'abc'/);
  checkTrainArgs(parseMethodSpec('metaquant:lstm+phi-path=meta+lstm-reset').args, 'm');
});

test('quantizer and optimizer specs', () => {
  assert.deepEqual(parseQuantizerSpec('dorefa').args, ['--quantizer', 'dorefa']);
  assert.deepEqual(parseQuantizerSpec('dorefa:2').args, ['--quantizer', 'dorefa', '--bits', '2']);
  assert.deepEqual(parseQuantizerSpec('ternary').args, ['--quantizer', 'ternary']);
  assert.throws(() => parseQuantizerSpec('bwn:2'), /only dorefa takes a bit width/);
  assert.throws(() => parseQuantizerSpec('dorefa:9'), /1 to 8/);
  assert.throws(() => parseQuantizerSpec('dorefa:1.5'), /1 to 8/);
  assert.throws(() => parseQuantizerSpec('xnor'), /expected NAME\[:BITS\].*dorefa, bwn/);
  assert.deepEqual(parseOptimizerSpec('sgd').args, ['--optimizer', 'sgd']);
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
    trainArgs: ['--model', 'mlp', '--hidden', '8'],
    ...over,
  });

test('the grid expands every combination in a fixed order with one folder per run', () => {
  const runs = grid();
  assert.equal(runs.length, 2 * 2 * 2 * 3);
  assert.equal(new Set(runs.map((r) => r.id)).size, runs.length);
  assert.equal(runs[0]!.id, 'ste__dorefa__sgd__s1');
  assert.equal(runs[runs.length - 1]!.id, 'metaquant-fcgrad_freeze-phi__bwn__adam__s3');
  assert.deepEqual(runs[runs.length - 1]!.args, [
    '--model', 'mlp', '--hidden', '8',
    '--estimator', 'metaquant', '--meta', 'fcgrad', '--freeze-phi',
    '--quantizer', 'bwn', '--optimizer', 'adam', '--seed', '3', '--epochs', '4',
  ]);
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
  assert.throws(() => mergeGrid(dir, saved, grid({ seeds: [1], epochs: 5 })), /changes the settings of 8 run\(s\).*--epochs 4\].*--epochs 5\]/);
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
  const options = passThroughOptions();
  const args = argsFromObject(c.train, options, 'grid.yaml: train');
  assert.deepEqual(args, ['--model', 'mlp', '--hidden', '16,8', '--train-limit', '500', '--no-augment']);
  checkTrainArgs(args, 'train');
  assert.throws(() => argsFromObject({ epochs: 3 }, options, 'f'), /set by the grid/);
  assert.throws(() => argsFromObject({ modle: 'mlp' }, options, 'f'), /unknown train flag 'modle'/);

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
  assert.match(md, /\| ste\+lr-scale=0\.3 \| dorefa \| sgd \| 2 \(1 failed\) \| 75\.00 ± 21\.21 \| 75\.00 \(k=2\) \| 80\.00 ± 14\.14 \| 15\.0 \|/);
  assert.match(md, /\| mq \| bwn \| adam \| 0 \(2 failed, 1 unfinished\) \|/);
  assert.match(md, /sample standard deviation \(n − 1/);
});
