// The bench's steady-state rule (bench/steady.ts) on a fake clock: warm-up goes on while window
// medians still move, stops once two agree within the tolerance, and the timed phase is long enough.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { timeSteady, type TimingPlan } from '../../bench/steady.js';

const PLAN: TimingPlan = { warmupSeconds: 2, maxWarmupSeconds: 60, windowSteps: 3, windowSeconds: 0.5, tolerance: 0.05, timedSeconds: 3, minTimedSteps: 3 };

/** A step whose duration (ms) follows `durations`, then stays at the last one; time is simulated. */
function fakeStep(durations: number[]) {
  let clock = 0;
  let calls = 0;
  return {
    now: () => clock,
    run: () => {
      clock += durations[Math.min(calls++, durations.length - 1)]!;
    },
    calls: () => calls,
  };
}

describe('bench steady-state timing', () => {
  it('warms up until two consecutive window medians agree, then times ≥ timedSeconds', () => {
    // 300 ms steps that speed up to 100 ms over the first 12 calls (allocator growth, JIT).
    const durations = [...Array.from({ length: 12 }, (_, i) => 300 - (200 * i) / 11), 100];
    const step = fakeStep(durations);
    const t = timeSteady(PLAN, step.run, undefined, step.now);
    assert.equal(t.steady, true);
    assert.ok(t.warmupSteps >= 12, `warm-up stopped after ${t.warmupSteps} steps while the step still sped up`);
    assert.ok(t.warmupSeconds >= PLAN.warmupSeconds);
    assert.equal(t.ms, 100);
    assert.ok(t.timedSeconds >= PLAN.timedSeconds && t.timedSteps >= 30);
  });

  it('a step that never settles ends warm-up at maxWarmupSeconds with steady = false', () => {
    let clock = 0;
    let d = 10;
    const run = () => {
      clock += d;
      d *= 1.2; // every window slower than the last
    };
    const t = timeSteady({ ...PLAN, maxWarmupSeconds: 5, timedSeconds: 0 }, run, undefined, () => clock);
    assert.equal(t.steady, false);
    assert.ok(t.warmupSeconds >= 5);
  });

  it('quick plans shorten warm-up but still need two agreeing medians', () => {
    const step = fakeStep([50, 50, 20]);
    const t = timeSteady({ ...PLAN, warmupSeconds: 0, windowSeconds: 0, windowSteps: 2, timedSeconds: 0, minTimedSteps: 2 }, step.run, undefined, step.now);
    assert.equal(t.steady, true);
    // Windows: [50, 50] → 50, [20, 20] → 20 (differs), [20, 20] → 20 (agrees).
    assert.equal(t.warmupSteps, 6);
    assert.equal(t.ms, 20);
  });
});
