import { CollapseDetector, collapseMessage, type CollapseState } from './collapse.js';
import type { MetaQuantOptions } from './options.js';

/** What a checkpoint stores of the monitor (absent in checkpoints written before issue 17). */
export interface MonitorState {
  metaSteps: number;
  collapse: CollapseState;
  epochWarnings: number;
}

/**
 * Where a MetaQuant run stands in its φ schedule and the collapse watch: counts the iterations
 * with a meta output (t ≥ 1), says whether `--meta-warmup` is still running, feeds the collapse
 * detector once the warm-up is over, and holds the warnings for stderr and metrics.jsonl
 * (`collapseWarnings`: how many fired in the epoch, present only when some did).
 */
export class MetaMonitor {
  private metaSteps = 0;
  private epochWarnings = 0;
  private pending: string[] = [];
  private readonly detector: CollapseDetector;

  constructor(private readonly options: Pick<MetaQuantOptions, 'metaWarmup' | 'collapse'>) {
    this.detector = new CollapseDetector(options.collapse);
  }

  /** Whether the coming iteration belongs to the warm-up (φ by STE regression, W by STE). */
  get warmingUp(): boolean {
    return this.metaSteps < (this.options.metaWarmup ?? 0);
  }

  /** After an iteration with a meta output: its per-kernel cosines cos(cal ⊙ m, δ) and its loss. */
  afterMetaStep(cosines: number[], loss: number): void {
    const warmup = this.warmingUp;
    this.metaSteps++;
    if (warmup) return;
    const cos = cosines.reduce((a, b) => a + b, 0) / cosines.length;
    const warning = this.detector.add(cos, loss);
    if (!warning) return;
    this.epochWarnings++;
    this.pending.push(collapseMessage({ ...warning, step: this.metaSteps }, this.detector.window));
  }

  /** Warnings since the last call (the trainer prints them). */
  takeWarnings(): string[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** The epoch's metrics fields; resets the count. */
  takeDiagnostics(): Record<string, number> {
    const n = this.epochWarnings;
    this.epochWarnings = 0;
    return n > 0 ? { collapseWarnings: n } : {};
  }

  getState(): MonitorState {
    return { metaSteps: this.metaSteps, collapse: this.detector.getState(), epochWarnings: this.epochWarnings };
  }

  setState(state: MonitorState | undefined): void {
    this.metaSteps = state?.metaSteps ?? 0;
    this.epochWarnings = state?.epochWarnings ?? 0;
    this.detector.setState(state?.collapse);
    this.pending = [];
  }
}
