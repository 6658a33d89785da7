// The grid ETA (compare/eta.ts) against hand-computed values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeEta, estimateRemaining, formatDuration, methodCostKey, PRIOR_RELATIVE_COST, type RunCost } from '../../src/compare/eta.js';

const run = (key: string, epochs: number, epochSeconds: number[], done = false): RunCost => ({ key, epochs, epochSeconds, done });

test('measured methods: epochs left × their own seconds per epoch, over the parallel jobs', () => {
  const runs = [
    run('ste', 5, [2, 2, 2, 2, 2], true), // finished: nothing left, but its epochs measure ste
    run('ste', 5, [1, 3]), // ste: mean of 2, 2, 2, 2, 2, 1, 3 = 2 s/epoch; 3 left → 6 s
    run('metaquant:lstm', 5, [40]), // lstm: 40 s/epoch; 4 left → 160 s
    run('metaquant:lstm', 5, []), // 5 left → 200 s
  ];
  // (6 + 160 + 200) / min(2 jobs, 3 unfinished) = 183 s.
  assert.deepEqual(estimateRemaining(runs, 2), { seconds: 183, priorKeys: [] });
  // One job: all of it in sequence.
  assert.equal(estimateRemaining(runs, 1).seconds, 366);
  // More jobs than unfinished runs: divided by the runs left, not by the jobs.
  assert.equal(estimateRemaining(runs, 8).seconds, 122);
});

test('an unmeasured method borrows its prior relative cost, and says so', () => {
  const lstm = PRIOR_RELATIVE_COST['metaquant:lstm']!;
  const fc = PRIOR_RELATIVE_COST['metaquant:fcgrad']!;
  const runs = [run('ste', 4, [3]), run('metaquant:lstm', 4, []), run('metaquant:fcgrad', 2, [fc * 3])];
  // Seconds per unit of cost: ste 3 / 1 and fcgrad (3·fc) / fc → 3. ste: 3 left × 3 = 9;
  // lstm: 4 × 3·lstm; fcgrad: 1 × 3·fc.
  const e = estimateRemaining(runs, 1);
  assert.deepEqual(e.priorKeys, ['metaquant:lstm']);
  assert.ok(Math.abs(e.seconds! - (9 + 12 * lstm + 3 * fc)) < 1e-9, String(e.seconds));
  assert.match(describeEta(e), /\(estimate: prior cost for metaquant:lstm\)$/);
});

test('the finished runs do not speed the estimate up (the old ETA used their mean)', () => {
  // Nine quick ste runs done; one lstm run with 9 epochs of 40 s left.
  const quick = Array.from({ length: 9 }, () => run('ste', 10, Array(10).fill(0.5), true));
  assert.equal(estimateRemaining([...quick, run('metaquant:lstm', 10, [40])], 2).seconds, 9 * 40);
});

test("the finished runs' overhead (wall time outside their epochs) is added once per run not started", () => {
  const runs = [
    { ...run('ste', 2, [1, 1], true), overheadSeconds: 10 }, // 12 s wall: 10 s outside the epochs
    { ...run('ste', 2, [1, 1], true), overheadSeconds: 6 }, // mean overhead 8 s
    { ...run('ste', 2, [1, 1], true), overheadSeconds: undefined }, // resumed: unknown, not counted
    run('ste', 2, [1]), // running: 1 epoch left, its overhead already spent → 1 s
    run('ste', 2, []), // not started: 2 epochs + 8 s → 10 s
  ];
  assert.equal(estimateRemaining(runs, 1).seconds, 11);
  assert.equal(estimateRemaining(runs, 2).seconds, 5.5);
});

test('nothing measured: no number; nothing left: zero; bad lines ignored', () => {
  assert.deepEqual(estimateRemaining([run('ste', 3, [])], 2), { seconds: undefined, priorKeys: ['ste'] });
  assert.equal(describeEta({ seconds: undefined, priorKeys: ['ste'] }), 'ETA: measuring the first epoch…');
  assert.deepEqual(estimateRemaining([run('ste', 2, [1, 1], true)], 2), { seconds: 0, priorKeys: [] });
  assert.equal(estimateRemaining([run('ste', 3, [Number.NaN, 4])], 1).seconds, 4);
});

test('cost keys and durations', () => {
  assert.equal(methodCostKey({ method: 'metaquant', meta: 'lstm' }), 'metaquant:lstm');
  assert.equal(methodCostKey({ method: 'ste', meta: 'lstm' }), 'ste');
  assert.equal(formatDuration(1234), '20m 34s');
  assert.equal(formatDuration(3725), '1h 02m');
  assert.equal(formatDuration(35.4), '35s');
  assert.equal(describeEta({ seconds: 1234, priorKeys: [] }), 'ETA ~20m 34s');
});
