/**
 * Collapse detection (issue 17): a MetaQuant run whose meta network starts pointing uphill ends
 * below chance. The symptom is a meta-gradient whose cosine with the STE gradient stays negative
 * while the training loss rises. Definition, per step t ≥ 1 (steps with a meta output):
 *
 *  - the step reports cos_t (the mean over quantized kernels of cos(cal ⊙ m, δ), the `cosMetaSte`
 *    diagnostic) and its training loss L_t;
 *  - every `window` steps make one check: the window's mean cosine c̄ and mean loss L̄;
 *  - a streak is a run of consecutive checks with c̄ < 0; the detector warns when the last K
 *    (`checks`) checks all belong to the streak and the latest L̄ exceeds the L̄ of K − 1 checks
 *    earlier (the loss rose while the meta-gradient pointed away from STE); once per streak,
 *    re-armed by a check with c̄ ≥ 0. (K = 1 never warns: there is no earlier check to rise from.)
 *
 * Defaults window 8, K 3: the earliest warning comes after 24 meta steps, within the first epoch
 * of the 3000-image runs (24 steps per epoch at batch 128).
 */
export interface CollapseOptions {
  window?: number;
  checks?: number;
}

export interface CollapseWarning {
  /** Meta steps seen when the warning fired (1-based). */
  step: number;
  /** Mean cosine of each check in the streak, oldest first. */
  cosines: number[];
  /** Mean training loss at the streak's first and latest check. */
  lossFrom: number;
  lossTo: number;
}

export interface CollapseState {
  steps: number;
  sumCos: number;
  sumLoss: number;
  n: number;
  streak: { cos: number; loss: number }[];
  warned: boolean;
}

export const COLLAPSE_DEFAULTS = { window: 8, checks: 3 } as const;

export class CollapseDetector {
  readonly window: number;
  readonly checks: number;
  private s: CollapseState = { steps: 0, sumCos: 0, sumLoss: 0, n: 0, streak: [], warned: false };

  constructor(options: CollapseOptions = {}) {
    this.window = options.window ?? COLLAPSE_DEFAULTS.window;
    this.checks = options.checks ?? COLLAPSE_DEFAULTS.checks;
    if (!(Number.isInteger(this.window) && this.window >= 1)) throw new RangeError(`collapse window must be a positive integer; got ${this.window}`);
    if (!(Number.isInteger(this.checks) && this.checks >= 1)) throw new RangeError(`collapse checks must be a positive integer; got ${this.checks}`);
  }

  /** One step's cosine and loss; returns a warning when this step completes a collapsing streak. */
  add(cos: number, loss: number): CollapseWarning | null {
    const s = this.s;
    s.steps++;
    // A step without a finite cosine (an all-zero gradient) or loss does not count toward the window.
    if (!Number.isFinite(cos) || !Number.isFinite(loss)) return null;
    s.sumCos += cos;
    s.sumLoss += loss;
    s.n++;
    if (s.n < this.window) return null;
    const check = { cos: s.sumCos / s.n, loss: s.sumLoss / s.n };
    s.sumCos = s.sumLoss = s.n = 0;
    if (check.cos >= 0) {
      s.streak = [];
      s.warned = false;
      return null;
    }
    s.streak.push(check);
    if (s.streak.length > this.checks) s.streak.shift();
    if (s.warned || s.streak.length < this.checks) return null;
    const first = s.streak[0]!;
    if (!(check.loss > first.loss)) return null;
    s.warned = true;
    return { step: s.steps, cosines: s.streak.map((c) => c.cos), lossFrom: first.loss, lossTo: check.loss };
  }

  getState(): CollapseState {
    return { ...this.s, streak: this.s.streak.map((c) => ({ ...c })) };
  }

  setState(state: CollapseState | undefined): void {
    this.s = state ? { ...state, streak: state.streak.map((c) => ({ ...c })) } : { steps: 0, sumCos: 0, sumLoss: 0, n: 0, streak: [], warned: false };
  }
}

/** The line a run prints on stderr for a warning. */
export function collapseMessage(w: CollapseWarning, window: number): string {
  const cos = w.cosines.map((c) => c.toFixed(3)).join(', ');
  return (
    `warning: possible MetaQuant collapse at meta step ${w.step}: the meta-gradient's cosine with the STE gradient ` +
    `was negative for ${w.cosines.length} checks of ${window} steps (${cos}) while the training loss rose from ` +
    `${w.lossFrom.toFixed(4)} to ${w.lossTo.toFixed(4)}; consider --meta-warmup (e.g. 50) or --phi-objective ste-regression`
  );
}
