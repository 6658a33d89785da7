// Run folders, checkpoints and compare grids written by the previous version (config keys
// estimator, lrStepEpochs, maxMetaMemoryGiB, maxMemoryGiB, injectNanAtSteps; grid.json version 1
// with `train` arguments) still load, and a migrated checkpoint resumes bit-identically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Trainer } from '../../src/train/trainer.js';
import { readCheckpoint, writeCheckpoint } from '../../src/run/checkpoint.js';
import { readRunConfig } from '../../src/run/run-config.js';
import { summarizeCheckpoint } from '../../src/export/summary.js';
import { expandGrid, mergeGrid, readGridFile } from '../../src/compare/grid.js';
import { parseMethodSpec } from '../../src/compare/method-spec.js';
import { loadGrid } from '../../src/compare/summary.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'mq-legacy-'));

/** config.json as the previous version wrote it (every key, old names included). */
const OLD_CONFIG = {
  dataset: 'synthetic:8x8x1:4:64:16', model: 'mlp', hidden: [8], quantizer: 'dorefa', bits: 1, perChannel: false, keepFirstLastFp: false,
  estimator: 'metaquant', lrScale: 1, hypergradBeta: null, meta: 'fcgrad', metaHidden: 4, metaLayers: 3, metaActivation: 'none', metaLr: 0.001,
  mqMode: 'code', phiPath: 'ste', zoMethod: 'spsa', zoSamples: 2, zoScale: 0.05, lstmReset: false, freezePhi: false, detachPhi: false,
  maxMetaMemoryGiB: 8, optimizer: 'sgd', lr: 0.05, momentum: 0, nesterov: false, weightDecay: null, schedule: 'step', lrStepEpochs: 1,
  epochs: 2, batchSize: 16, evalBatchSize: 500, seed: 2, backend: 'cpu', onNan: 'stop', maxRollbacks: 3, maxMemoryGiB: 4, injectNanAtSteps: [100],
};
const RENAMED: Record<string, string> = { estimator: 'method', lrStepEpochs: 'lrStep', maxMetaMemoryGiB: 'maxMetaMemory', maxMemoryGiB: 'maxMemory', injectNanAtSteps: 'injectNan' };
const toOldKeys = (config: Record<string, unknown>) => Object.fromEntries(Object.entries(config).map(([k, v]) => [Object.entries(RENAMED).find(([, n]) => n === k)?.[0] ?? k, v]));

test("an old run folder's config.json loads with its keys renamed", () => {
  const dir = tmp();
  writeFileSync(join(dir, 'config.json'), JSON.stringify(OLD_CONFIG, null, 2));
  const c = readRunConfig(dir);
  assert.deepEqual([c.method, c.lrStep, c.maxMetaMemory, c.maxMemory, c.injectNan], ['metaquant', 1, 8, 4, [100]]);
  for (const old of Object.keys(RENAMED)) assert.equal(old in c, false, `${old} is gone`);
});

test('an old checkpoint (old config keys) evaluates, summarises and resumes bit-identically', async () => {
  const { out: _out, ...config } = { ...OLD_CONFIG, out: '' };
  const straight = await Trainer.create({ ...config, out: join(tmp(), 'straight') });
  await straight.run();
  const expected = straight.model.params.snapshot();
  straight.dispose();

  const dir = join(tmp(), 'old');
  const first = await Trainer.create({ ...config, epochs: 1, out: dir });
  await first.run();
  first.dispose();
  // Rewrite the folder as the previous version would have left it.
  const payload = readCheckpoint(dir) as { config: Record<string, unknown> };
  payload.config = toOldKeys(payload.config);
  assert.equal(payload.config.estimator, 'metaquant');
  writeCheckpoint(dir, payload);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(toOldKeys(readRunConfig(dir))));

  assert.equal(summarizeCheckpoint(dir).estimator, 'metaquant');
  const resumed = await Trainer.resume(dir, { epochs: 2 });
  assert.equal(resumed.config.method, 'metaquant');
  assert.equal(resumed.config.lrStep, 1);
  await resumed.run();
  const got = resumed.model.params.snapshot();
  resumed.dispose();
  for (const [name, v] of Object.entries(expected)) {
    assert.deepEqual(Buffer.from(got[name]!.data.buffer), Buffer.from(v.data.buffer), `${name} bit-identical to the straight run`);
  }
});

test('an old grid.json (version 1, train arguments) is read as configs; the same grid continues it, another is refused', () => {
  const dir = tmp();
  const run = (method: string, seed: number, args: string[]) => ({
    id: `${method}__dorefa__adam__s${seed}`, method, quantizer: 'dorefa', optimizer: 'adam', seed, epochs: 3,
    args: ['--dataset', 'synthetic:8x8x1:4:64:16', '--hidden', '8', '--no-augment', '--lr-step', '2', ...args, '--quantizer', 'dorefa', '--optimizer', 'adam', '--seed', String(seed), '--epochs', '3'],
  });
  const old = { format: 'metaquant-compare-grid', version: 1, runs: [run('ste', 1, ['--estimator', 'ste']), run('metaquant-fcgrad', 1, ['--estimator', 'metaquant', '--meta', 'fcgrad'])] };
  writeFileSync(join(dir, 'grid.json'), JSON.stringify(old));
  const grid = readGridFile(dir)!;
  assert.equal(grid.version, 2);
  assert.deepEqual(grid.runs.map((r) => [r.id, r.config.method, r.config.lrStep, r.config.augment, r.config.seed]), [
    ['ste__dorefa__adam__s1', 'ste', 2, false, 1],
    ['metaquant-fcgrad__dorefa__adam__s1', 'metaquant', 2, false, 1],
  ]);
  const again = (lr?: number) =>
    expandGrid({
      methods: ['ste', 'metaquant:fcgrad'].map((m) => parseMethodSpec(m)),
      quantizers: ['dorefa'],
      optimizers: ['adam'],
      seeds: [1, 2],
      epochs: 3,
      common: { dataset: 'synthetic:8x8x1:4:64:16', hidden: [8], augment: false, lrStep: 2, ...(lr ? { lr } : {}) },
    });
  assert.equal(mergeGrid(dir, grid, again()).length, 4, 'the same command adds seed 2 to the old grid');
  assert.throws(() => mergeGrid(dir, grid, again(0.1)), /changes the settings of 2 run\(s\).*lr: 0\.001 → 0\.1/);
  assert.deepEqual(loadGrid(dir).unfinished.length, 2, 'report reads the old grid');
  writeFileSync(join(dir, 'grid.json'), JSON.stringify({ ...old, runs: [{ ...old.runs[0], args: ['--lr', 'fast'] }] }));
  assert.throws(() => readGridFile(dir), /grid\.json: run 'ste__dorefa__adam__s1': --lr: expected a number, got 'fast'/);
});
