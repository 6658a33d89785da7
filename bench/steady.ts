// Steady-state timing, the same rule on both sides (bench/torch_bench.py mirrors it line by line):
// warm up in windows until two consecutive window medians agree within `tolerance` (and at
// least `warmupSeconds` have passed), then time whole steps for at least `timedSeconds`.
// A one-shot warm-up of two steps measured allocator growth and JIT as "speed"; this does not.

/** How long each phase lasts; the driver sets them per mode (full, quick, smoke). */
export interface TimingPlan {
  /** Warm-up lasts at least this long … */
  warmupSeconds: number;
  /** … and at most this long: a side that never settles is reported with steady = false. */
  maxWarmupSeconds: number;
  /** A warm-up window has at least this many steps and lasts at least windowSeconds. */
  windowSteps: number;
  windowSeconds: number;
  /** Two consecutive window medians within this relative difference count as steady. */
  tolerance: number;
  /** Timed steps last at least this long, and number at least minTimedSteps. */
  timedSeconds: number;
  minTimedSteps: number;
}

export interface SteadyTiming {
  /** Median ms of the timed steps. */
  ms: number;
  timedSteps: number;
  timedSeconds: number;
  warmupSteps: number;
  warmupSeconds: number;
  /** False when warm-up hit maxWarmupSeconds without two agreeing medians. */
  steady: boolean;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Milliseconds from some fixed origin (performance.now; tests pass a fake clock). */
export type Clock = () => number;

/** One window: at least `minSteps` calls and `minSeconds`; returns each call's ms. */
function window(run: () => void, minSteps: number, minSeconds: number, now: Clock): number[] {
  const samples: number[] = [];
  const start = now();
  while (samples.length < minSteps || now() - start < minSeconds * 1000) {
    const t = now();
    run();
    samples.push(now() - t);
  }
  return samples;
}

/** Warms `run` up to steady state, then times it (see the file comment); `onTimedStart` runs between the two. */
export function timeSteady(plan: TimingPlan, run: () => void, onTimedStart?: () => void, now: Clock = () => performance.now()): SteadyTiming {
  const start = now();
  let warmupSteps = 0;
  let previous: number | null = null;
  let steady = false;
  for (;;) {
    const samples = window(run, plan.windowSteps, plan.windowSeconds, now);
    warmupSteps += samples.length;
    const current = median(samples);
    const elapsed = (now() - start) / 1000;
    const agree = previous !== null && Math.abs(current - previous) <= plan.tolerance * previous;
    if (agree && elapsed >= plan.warmupSeconds) {
      steady = true;
      break;
    }
    if (elapsed >= plan.maxWarmupSeconds) break;
    previous = current;
  }
  const warmupSeconds = (now() - start) / 1000;
  onTimedStart?.();
  const timedStart = now();
  const timed = window(run, plan.minTimedSteps, plan.timedSeconds, now);
  return {
    ms: median(timed),
    timedSteps: timed.length,
    timedSeconds: (now() - timedStart) / 1000,
    warmupSteps,
    warmupSeconds,
    steady,
  };
}
