// compare's fairness machinery (issue 17): selection on validation only, best epoch on validation,
// paired intervals against hand-computed values (t quantiles from a printed table, not the code's
// library), bootstrap determinism, the split flag, signed c, and sweeps that only multiply the
// runs they apply to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMethodSpec } from '../../src/compare/method-spec.js';
import { expandGrid } from '../../src/compare/grid.js';
import { parseSweepSpec, sweepFromConfig } from '../../src/compare/sweep.js';
import { summarize, type RunMetrics } from '../../src/compare/statistics.js';
import { bootstrapInterval95, isSplit, pairedDifference, signedSummary, tInterval95, verdict } from '../../src/compare/paired.js';
import { pairedComparisons, selectConfigurations } from '../../src/compare/selection.js';
import { UsageError } from '../../src/util/errors.js';

type Epoch = [val: number, test: number];
function run(method: string, seed: number, epochs: Epoch[], base?: string, sweep?: Record<string, string>): RunMetrics {
  return {
    method,
    quantizer: 'dorefa',
    optimizer: 'adam',
    seed,
    wallSeconds: 1,
    history: epochs.map(([val, testAcc], i) => ({ epoch: i + 1, valAccuracy: val, testAccuracy: testAcc, trainLoss: 1 })),
    ...(base ? { baseMethod: base, sweep } : {}),
  };
}

test('the swept configuration is chosen on validation accuracy even where test accuracy disagrees', () => {
  // lr=a: better on validation (0.80 vs 0.70), worse on test (0.60 vs 0.90).
  const runs = [1, 2].flatMap((s) => [run('ste+lr=a', s, [[0.8, 0.6]], 'ste', { lr: 'a' }), run('ste+lr=b', s, [[0.7, 0.9]], 'ste', { lr: 'b' })]);
  const [sel] = selectConfigurations(summarize(runs, 1));
  assert.equal(sel!.selected, 'ste+lr=a');
  assert.deepEqual(sel!.sweep, { lr: 'a' });
  assert.equal(sel!.candidates, 2);
  assert.equal(sel!.finalMean, 0.6);
});

test('a sweep without validation accuracy cannot be selected', () => {
  const noVal = (m: string): RunMetrics => ({ method: m, quantizer: 'q', optimizer: 'adam', seed: 1, wallSeconds: 1, history: [{ epoch: 1, testAccuracy: 0.5, trainLoss: 1 }], baseMethod: 'ste', sweep: { lr: m } });
  assert.throws(() => selectConfigurations(summarize([noVal('a'), noVal('b')], 1)), /needs a validation split/);
});

test('the best epoch is picked on validation when the runs have it, on test otherwise', () => {
  // Validation peaks at epoch 1, test at epoch 2.
  const [withVal] = summarize([run('ste', 1, [[0.9, 0.5], [0.6, 0.95]])], 2);
  assert.equal(withVal!.bestSelectedOn, 'validation');
  assert.equal(withVal!.bestMean, 0.5);
  const plain: RunMetrics = { method: 'ste', quantizer: 'q', optimizer: 'o', seed: 1, wallSeconds: 1, history: [{ epoch: 1, testAccuracy: 0.5, trainLoss: 1 }, { epoch: 2, testAccuracy: 0.95, trainLoss: 1 }] };
  const [noVal] = summarize([plain], 2);
  assert.equal(noVal!.bestSelectedOn, 'test');
  assert.equal(noVal!.bestMean, 0.95);
});

// Student t, two-sided 95 % (0.975 quantile), from a printed table: df 2 → 4.303, df 4 → 2.776.
const T_TABLE = { 2: 4.303, 4: 2.776 };

test('the paired difference and its 95 % t interval match a hand computation', () => {
  const method = new Map([[1, 0.8], [2, 0.82], [3, 0.79], [9, 0.5]]);
  const baseline = new Map([[1, 0.78], [2, 0.79], [3, 0.78]]);
  const p = pairedDifference(method, baseline)!;
  // Seeds in both: 1, 2, 3. Differences 0.02, 0.03, 0.01: mean 0.02, sd 0.01.
  assert.deepEqual(p.seeds, [1, 2, 3]);
  assert.equal(p.n, 3);
  assert.ok(Math.abs(p.meanDiff - 0.02) < 1e-12);
  assert.ok(Math.abs(p.sdDiff! - 0.01) < 1e-12);
  const half = (T_TABLE[2] * 0.01) / Math.sqrt(3); // 0.024844
  assert.ok(Math.abs(p.ci95![0] - (0.02 - half)) < 2e-5, `lower ${p.ci95![0]}`);
  assert.ok(Math.abs(p.ci95![1] - (0.02 + half)) < 2e-5, `upper ${p.ci95![1]}`);
  assert.equal(p.bootstrap95, null, 'no bootstrap below 5 pairs');
  assert.equal(verdict(p.ci95), 'ties');
  // n = 5: diffs 1..5 (mean 3, sd √2.5); half width 2.776·√2.5/√5 = 1.96292.
  const ci = tInterval95([1, 2, 3, 4, 5])!;
  assert.ok(Math.abs(ci[0] - (3 - 1.96292)) < 1e-3 && Math.abs(ci[1] - (3 + 1.96292)) < 1e-3, `${ci}`);
  assert.equal(verdict(ci), 'beats');
  assert.equal(verdict([-2, -1]), 'loses');
  assert.equal(tInterval95([0.3]), null);
});

test('the bootstrap interval is deterministic, within the data, and present from 5 pairs', () => {
  const diffs = [0.01, -0.02, 0.03, 0.05, 0.0];
  const a = bootstrapInterval95(diffs);
  assert.deepEqual(bootstrapInterval95(diffs), a);
  assert.ok(a[0] >= -0.02 && a[1] <= 0.05 && a[0] < a[1], `${a}`);
  const odd = [0.0131, -0.0217, 0.0343, 0.0529, 0.0071];
  assert.notDeepEqual(bootstrapInterval95(odd, 1, 200), bootstrapInterval95(odd, 0, 200), 'another seed resamples differently');
  assert.deepEqual(bootstrapInterval95(odd, 1, 200), bootstrapInterval95(odd, 1, 200));
  const flat = bootstrapInterval95([0.2, 0.2, 0.2]);
  assert.ok(Math.abs(flat[0] - 0.2) < 1e-12 && Math.abs(flat[1] - 0.2) < 1e-12, 'constant differences give a point interval');
  const p = pairedDifference(new Map(diffs.map((d, i) => [i, 0.5 + d])), new Map(diffs.map((_, i) => [i, 0.5])))!;
  assert.ok(p.bootstrap95 && Math.abs(p.bootstrap95[0] - a[0]) < 1e-12 && Math.abs(p.bootstrap95[1] - a[1]) < 1e-12);
});

test('paired comparisons pair the selected configurations by seed against the baseline', () => {
  const runs = [1, 2, 3].flatMap((s) => [
    run('ste+lr=a', s, [[0.5, 0.5]], 'ste', { lr: 'a' }),
    run('ste+lr=b', s, [[0.7, 0.7 + s / 100]], 'ste', { lr: 'b' }),
    run('fc+lr=a', s, [[0.8, 0.75 + s / 100]], 'fc', { lr: 'a' }),
    run('fc+lr=b', s, [[0.1, 0.99]], 'fc', { lr: 'b' }),
  ]);
  const rows = pairedComparisons(selectConfigurations(summarize(runs, 1)), runs, 'ste');
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.methodConfig, 'fc+lr=a');
  assert.equal(rows[0]!.baselineConfig, 'ste+lr=b');
  assert.ok(Math.abs(rows[0]!.meanDiff - 0.05) < 1e-12);
  assert.equal(rows[0]!.verdict, 'beats', 'a constant +5 points is above zero');
});

test('a cell whose seeds split into modes is flagged (gap > 10 points), one mode is not', () => {
  assert.equal(isSplit([0.09, 0.6, 0.62]), true);
  assert.equal(isSplit([0.6, 0.62, 0.65]), false);
  assert.equal(isSplit([0.3, 0.32, 0.6]), true, 'a 28-point gap is a split');
  assert.equal(isSplit([0.5, 0.6]), false, 'a gap of exactly 10 points is not a split');
  const [cell] = summarize([run('m', 1, [[0.1, 0.023]]), run('m', 2, [[0.8, 0.8]]), run('m', 3, [[0.8, 0.81]])], 1);
  assert.equal(cell!.split, true);
  assert.deepEqual(cell!.finals, [0.023, 0.8, 0.81]);
});

test('a signed quantity is averaged only when every seed has the same sign', () => {
  assert.deepEqual(signedSummary([0.5, -0.3]), { perSeed: [0.5, -0.3], mean: null, absMean: 0.4, signsDiffer: true });
  assert.equal(signedSummary([0.5, 0.3])!.mean, 0.4);
});

test('sweeps multiply only the runs they apply to, and a method that sets the field keeps it', () => {
  const runs = expandGrid({
    methods: ['ste', 'metaquant:fcgrad', 'ste+lr=0.5'].map((m) => parseMethodSpec(m)),
    quantizers: ['dorefa'],
    optimizers: ['adam', 'sgd'],
    seeds: [1, 2],
    epochs: 1,
    common: { model: 'mlp', hidden: [8], valSplit: 0.1 },
    sweeps: [parseSweepSpec('lr=1e-3,1e-2'), ...sweepFromConfig({ 'meta-lr': [1e-4, 1e-3, 1e-2] }, 'test'), parseSweepSpec('momentum=0,0.9')],
  });
  const count = (base: string, opt: string) => runs.filter((r) => (r.baseMethod ?? r.method) === base && r.optimizer === opt).length;
  // ste: lr 2 (× momentum 2 under sgd) × 2 seeds; fcgrad: lr 2 × meta-lr 3 (× momentum 2 under sgd) × 2 seeds; ste+lr=0.5: its own lr.
  assert.deepEqual([count('ste', 'adam'), count('ste', 'sgd')], [4, 8]);
  assert.deepEqual([count('metaquant:fcgrad', 'adam'), count('metaquant:fcgrad', 'sgd')], [12, 24]);
  assert.deepEqual([count('ste+lr=0.5', 'adam'), count('ste+lr=0.5', 'sgd')], [2, 4]);
  const one = runs.find((r) => r.method === 'metaquant:fcgrad+lr=1e-2+meta-lr=0.0001' && r.optimizer === 'adam' && r.seed === 2)!;
  assert.equal(one.config.lr, 1e-2);
  assert.equal(one.config.metaLr, 1e-4);
  assert.deepEqual(one.sweep, { lr: '1e-2', 'meta-lr': '0.0001' });
  assert.throws(() => parseSweepSpec('seed=1,2'), UsageError);
  assert.throws(() => parseSweepSpec('lr'), /KEY=V1,V2/);
  assert.throws(() => parseSweepSpec('lr=abc'), UsageError);
});

test('paired comparisons also pair the last-k mean per seed, with k capped by the shortest run', () => {
  // Three epochs per run; k = 2: each seed's mean over epochs 2 and 3. By hand:
  //   ste seed s: (0.6 + 0.7) / 2 = 0.65;  fc seed s: (0.6 + s/100 + 0.74 − s/100) / 2 = 0.67.
  const ste = (s: number) => run('ste', s, [[0.5, 0.5], [0.6, 0.6], [0.7, 0.7]]);
  const fc = (s: number) => run('fc', s, [[0.5, 0.5], [0.6, 0.6 + s / 100], [0.7, 0.7 - s / 100 + 0.04]]);
  const runs = [1, 2, 3].flatMap((s) => [ste(s), fc(s)]);
  const [row] = pairedComparisons(selectConfigurations(summarize(runs, 2)), runs, 'ste', 2);
  // Final: fc − ste = 0.04 − s/100 → 0.03, 0.02, 0.01 (mean 0.02).
  assert.ok(Math.abs(row!.meanDiff - 0.02) < 1e-12);
  // Last-2 mean: fc = 0.65 + 0.02 = 0.67 for every seed (the s/100 cancel) → diff 0.02 exactly, sd 0.
  assert.equal(row!.lastK!.k, 2);
  assert.deepEqual(row!.lastK!.diffs.map((d) => Math.round(d * 1e12) / 1e12), [0.02, 0.02, 0.02]);
  assert.equal(row!.lastK!.verdict, 'beats');
  // lastK larger than every run's length: k falls back to the 3 epochs the runs have.
  const [all] = pairedComparisons(selectConfigurations(summarize(runs, 3)), runs, 'ste', 10);
  assert.equal(all!.lastK!.k, 3);
  // (0.5 + 0.6 + s/100 + 0.74 − s/100) / 3 − 0.6 = 0.04 / 3 per seed.
  assert.ok(all!.lastK!.diffs.every((d) => Math.abs(d - 0.04 / 3) < 1e-12));
  // k = 1 (the default): no last-k pair, it would repeat the final one.
  assert.equal(pairedComparisons(selectConfigurations(summarize(runs, 1)), runs, 'ste')[0]!.lastK, undefined);
});
