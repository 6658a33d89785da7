import seedrandom from 'seedrandom';

/** Serialisable state of a {@link Rng}; restoring it replays the exact same stream. */
export type RngState = object;

/**
 * A seeded pseudo-random stream (seedrandom's ARC4, whose state can be saved and restored,
 * which bit-identical resume needs). Every random choice in metaquant comes from one of these.
 */
export class Rng {
  private prng: seedrandom.PRNG;

  constructor(seed: number | string, state?: RngState) {
    this.prng = state
      ? seedrandom('', { state: state as seedrandom.State.Arc4 })
      : seedrandom(String(seed), { state: true });
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.prng();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.prng() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.prng();
    const v = this.prng();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A fresh 32-bit seed, e.g. for a tfjs random op. */
  seed(): number {
    return this.prng.int32() >>> 0;
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(items: T[] | Int32Array | Uint32Array): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
  }

  state(): RngState {
    return (this.prng as seedrandom.PRNG & { state(): object }).state();
  }
}
