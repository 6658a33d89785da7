// --on-nan stop | skip-batch | rollback, with NaN provoked for real: an all-NaN input batch at a
// chosen step (the injectNanAtSteps option) or a meta learning rate large enough to overflow φ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Trainer } from '../../src/train/trainer.js';
import { readCheckpointPayload } from '../../src/run/checkpoint-payload.js';
import { NonFiniteError } from '../../src/util/errors.js';

const dir = () => join(mkdtempSync(join(tmpdir(), 'mq-nan-')), 'run');
// 8 steps per epoch.
const BASE = { dataset: 'synthetic:8x8x1:4:128:32', model: 'mlp', hidden: [16], epochs: 2, batchSize: 16, lr: 0.01, backend: 'cpu', seed: 7 } as const;
const TIMING = new Set(['seconds', 'imagesPerSecond', 'stepSeconds', 'metaSeconds', 'rollbacks', 'nonFiniteSkips']);

const weightsOf = (t: Trainer) => Object.fromEntries(Object.entries(t.model.params.snapshot()).map(([k, v]) => [k, Buffer.from(Float32Array.from(v.data).buffer).toString('base64')]));
const stateOf = (t: Trainer) => JSON.stringify(t.step.getState(), (_k, v: unknown) => (v instanceof Float32Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : v));
const metricsOf = (out: string) =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
const strip = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).filter(([k]) => !TIMING.has(k)));

test('stop: names the epoch, step and quantity, and keeps the last good checkpoint', async () => {
  const out = dir();
  const t = await Trainer.create({ ...BASE, out, checkpointEvery: 2, injectNanAtSteps: [11] });
  await assert.rejects(t.run(), (e: unknown) => {
    assert.ok(e instanceof NonFiniteError && e.exitCode !== 0);
    assert.match(e.message, /the loss and gradient became NaN\/Inf at epoch 2, step 3 of 8/);
    assert.match(e.message, /last good checkpoint \(epoch 2, after step 2\) is kept in/);
    return true;
  });
  t.dispose();
  const { payload } = readCheckpointPayload(out);
  assert.deepEqual([payload.position!.epoch, payload.position!.batch, payload.globalStep], [1, 2, 10]);
  assert.ok(Object.values(payload.params).every((p) => p.data.every(Number.isFinite)));

  // A real divergence of the meta network: φ overflows, so its output is the first bad quantity.
  const mq = await Trainer.create({ ...BASE, out: dir(), estimator: 'metaquant', meta: 'fcgrad', optimizer: 'sgd', metaLr: 1e37 });
  await assert.rejects(mq.run(), /the meta output became NaN\/Inf at epoch 1, step 3 of 8; no checkpoint was written yet/);
  mq.dispose();
});

test('skip-batch: the bad step changes neither weights nor optimizer/meta state, and is counted', async () => {
  for (const method of [{ estimator: 'ste' }, { estimator: 'metaquant', meta: 'lstm', metaHidden: 4, optimizer: 'sgd' }] as const) {
    const seen: { weights: Record<string, string>; state: string }[] = [];
    const notices: string[] = [];
    const t = await Trainer.create({ ...BASE, ...method, out: dir(), onNan: 'skip-batch', injectNanAtSteps: [4, 13] });
    const r = await t.run({
      onBatch: (p) => {
        if (p.epoch === 0 && (p.batch === 2 || p.batch === 3)) seen.push({ weights: weightsOf(t), state: stateOf(t) });
      },
      onNonFinite: (m) => notices.push(m),
    });
    assert.deepEqual(seen[1], seen[0], `${method.estimator}: state after the skipped step 4 equals the state after step 3`);
    assert.deepEqual(r.history.map((m) => m.nonFiniteSkips), [1, 1]);
    assert.equal(notices.length, 2);
    assert.match(notices[0]!, /epoch 1, step 4 of 8; step discarded/);
    assert.ok(Number.isFinite(r.testLoss));
    t.dispose();
  }
});

test('rollback: restores the last checkpoint and halves the learning rate, same as a resume at half the lr', async () => {
  const out = dir();
  const t = await Trainer.create({ ...BASE, out, onNan: 'rollback', injectNanAtSteps: [12] });
  const notices: string[] = [];
  const r = await t.run({ onNonFinite: (m) => notices.push(m) });
  t.dispose();
  assert.equal(notices.length, 1);
  assert.match(notices[0]!, /epoch 2, step 4 of 8; rolled back to the end of epoch 1 with learning rates ×0.5/);
  assert.deepEqual(r.history.map((m) => [m.lr, m.rollbacks]), [[0.01, 0], [0.005, 1]]);

  // Independent route to the same result: epoch 1, then resume epoch 2 with lr 0.005.
  const ref = dir();
  const first = await Trainer.create({ ...BASE, out: ref, epochs: 1 });
  await first.run();
  first.dispose();
  const second = await Trainer.resume(ref, { epochs: 2, lr: 0.005 });
  await second.run();
  const rolled = await Trainer.resume(out, {});
  assert.deepEqual(weightsOf(rolled), weightsOf(second), 'weights after the rollback run equal the half-lr resume');
  assert.deepEqual(metricsOf(out).map(strip).slice(1), metricsOf(ref).map(strip).slice(1));
  second.dispose();
  rolled.dispose();
});

test('rollback gives up after --max-rollbacks consecutive rollbacks', async () => {
  const t = await Trainer.create({ ...BASE, out: dir(), estimator: 'metaquant', meta: 'fcgrad', optimizer: 'sgd', metaLr: 1e37, onNan: 'rollback', maxRollbacks: 2 });
  const notices: string[] = [];
  await assert.rejects(t.run({ onNonFinite: (m) => notices.push(m) }), (e: unknown) => {
    assert.ok(e instanceof NonFiniteError);
    assert.match(e.message, /meta output became NaN\/Inf at epoch 1, step 3 of 8 after 2 consecutive rollbacks \(learning rates now ×0.25\)/);
    return true;
  });
  assert.equal(notices.length, 2);
  t.dispose();
});
