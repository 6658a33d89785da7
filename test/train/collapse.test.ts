// The collapse watch (src/train/metaquant/collapse.ts, monitor.ts) on constructed sequences of
// (cosine, loss): a warning exactly when K consecutive windows have a negative mean cosine and the
// latest window's mean loss exceeds that of the window K−1 checks earlier; once per streak.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CollapseDetector } from '../../src/train/metaquant/collapse.js';
import { MetaMonitor } from '../../src/train/metaquant/monitor.js';

/** Feeds windows given as [cos, loss] (each repeated `window` times); returns the steps that warned. */
function feed(d: CollapseDetector, windows: Array<[number, number]>): number[] {
  const warned: number[] = [];
  for (const [cos, loss] of windows) {
    for (let i = 0; i < d.window; i++) {
      const w = d.add(cos, loss);
      if (w) warned.push(w.step);
    }
  }
  return warned;
}

test('collapse: K = 3 negative windows with a rising loss warn once, at the end of the third window', () => {
  const d = new CollapseDetector({ window: 4, checks: 3 });
  // Windows 1–2 healthy, 3–5 negative and rising (warns at step 20), 6 still negative (no repeat).
  assert.deepEqual(feed(d, [[0.2, 2.0], [0.1, 1.9], [-0.1, 1.8], [-0.2, 2.5], [-0.3, 3.0], [-0.3, 4.0]]), [20]);
});

test('collapse: negative cosines with a falling loss, or a streak shorter than K, do not warn', () => {
  assert.deepEqual(feed(new CollapseDetector({ window: 2, checks: 3 }), [[-0.5, 3.0], [-0.5, 2.5], [-0.5, 2.0], [-0.5, 1.5]]), []);
  assert.deepEqual(feed(new CollapseDetector({ window: 2, checks: 3 }), [[-0.5, 1.0], [-0.5, 2.0], [0.01, 3.0], [-0.5, 4.0], [-0.5, 5.0]]), []);
});

test('collapse: a non-negative window re-arms the warning; the loss comparison spans the last K checks', () => {
  const d = new CollapseDetector({ window: 1, checks: 2 });
  // Streak 1: checks 1–2 rising → warn at 2. Check 3 positive re-arms. Streak 2: 5 falls against 4 (no), 6 rises against 5 → warn at 6.
  assert.deepEqual(feed(d, [[-0.1, 1], [-0.1, 2], [0.3, 2], [-0.2, 3], [-0.2, 2.5], [-0.2, 2.7]]), [2, 6]);
});

test('collapse: within a window the means decide (one large positive cosine outweighs small negatives); non-finite steps are skipped', () => {
  const d = new CollapseDetector({ window: 3, checks: 1 });
  assert.equal(d.add(-0.1, 1), null);
  assert.equal(d.add(Number.NaN, 9), null, 'a NaN cosine does not count toward the window');
  assert.equal(d.add(-0.1, 1), null);
  const w = d.add(0.5, 2);
  assert.equal(w, null, 'mean cosine (−0.1 − 0.1 + 0.5)/3 > 0: healthy');
  const e = new CollapseDetector({ window: 2, checks: 1 });
  assert.equal(e.add(-0.2, 1), null);
  // With K = 1 the loss comparison is the window against itself: never strictly rising, so no warning.
  assert.equal(e.add(-0.2, 1), null);
});

test('collapse: the state round-trips, so a resumed run warns at the same step', () => {
  const windows: Array<[number, number]> = [[-0.1, 1], [-0.2, 1.5], [-0.3, 2]];
  const straight = feed(new CollapseDetector({ window: 3, checks: 3 }), windows);
  const a = new CollapseDetector({ window: 3, checks: 3 });
  feed(a, windows.slice(0, 1));
  a.add(-0.2, 1.5);
  const b = new CollapseDetector({ window: 3, checks: 3 });
  b.setState(JSON.parse(JSON.stringify(a.getState())));
  const rest: number[] = [];
  for (const [cos, loss] of [[-0.2, 1.5], [-0.2, 1.5], [-0.3, 2], [-0.3, 2], [-0.3, 2]] as const) {
    const w = b.add(cos, loss);
    if (w) rest.push(w.step);
  }
  assert.deepEqual(straight, [9]);
  assert.deepEqual(rest, straight);
});

test('monitor: no collapse watch during --meta-warmup; warnings reach takeWarnings and the epoch count', () => {
  const m = new MetaMonitor({ metaWarmup: 3, collapse: { window: 1, checks: 2 } });
  for (let i = 0; i < 3; i++) {
    assert.equal(m.warmingUp, true);
    m.afterMetaStep([-0.5, -0.7], 1 + i);
  }
  assert.equal(m.warmingUp, false);
  assert.deepEqual(m.takeWarnings(), [], 'rising loss and negative cosines during the warm-up do not count');
  m.afterMetaStep([-0.5, -0.3], 5);
  m.afterMetaStep([-0.1, -0.3], 6);
  const warnings = m.takeWarnings();
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /possible MetaQuant collapse at meta step 5: .*negative for 2 checks of 1 steps \(-0\.400, -0\.200\) while the training loss rose from 5\.0000 to 6\.0000/);
  assert.deepEqual(m.takeDiagnostics(), { collapseWarnings: 1 });
  assert.deepEqual(m.takeDiagnostics(), {}, 'the count is per epoch');
});
