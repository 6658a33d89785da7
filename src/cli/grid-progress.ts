import cliProgress from 'cli-progress';
import type { RunSpec } from '../compare/grid.js';
import { metricsEpochSeconds, readRunResult, runDir, type RunEvent, type RunResult } from '../compare/runner.js';
import { describeEta, estimateRemaining, methodCostKey, type RunCost } from '../compare/eta.js';

/**
 * Progress of a whole grid on stderr. On a terminal: one bar counting epochs over all runs (read
 * from the running runs' metrics.jsonl every second) with runs done/running/failed; otherwise one
 * plain line per run event. The ETA comes from each method's measured seconds per epoch times the
 * epochs left (compare/eta.ts), not from the bar's rate: a grid's cheap runs often finish first.
 */
export class GridProgress {
  private readonly total: number;
  private finishedEpochs = 0;
  private done = 0;
  private failed = 0;
  private readonly running = new Map<string, RunSpec>();
  private readonly multibar?: cliProgress.MultiBar;
  private readonly bar?: cliProgress.SingleBar;
  private timer?: NodeJS.Timeout;
  private readonly tty: boolean;
  private readonly plain: boolean;
  /** Per run: its method's cost key, epochs and the measured seconds of its finished epochs. */
  private readonly costs = new Map<string, RunCost>();

  /** `jobs`: runs training at once (compare --queue: undefined, the runs seen running are used). */
  constructor(
    private readonly dir: string,
    private readonly runs: readonly RunSpec[],
    quiet: boolean,
    private readonly jobs?: number,
  ) {
    for (const r of runs) this.costs.set(r.id, { key: methodCostKey(r.config), epochs: r.epochs, epochSeconds: this.measured(r), done: false });
    this.tty = Boolean(process.stderr.isTTY) && !quiet;
    this.plain = !quiet && !this.tty;
    this.total = runs.reduce((s, r) => s + r.epochs, 0);
    if (this.tty) {
      this.multibar = new cliProgress.MultiBar(
        {
          stream: process.stderr,
          format: 'grid |{bar}| {value}/{total} epochs  runs {done}/{runs} done, {running} running, {failed} failed  {etaText}',
          hideCursor: true,
          clearOnComplete: false,
          barsize: 24,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar = this.multibar.create(this.total, 0, this.payload());
      this.timer = setInterval(() => this.refresh(), 1000);
    }
  }

  private payload() {
    return { done: this.done, runs: this.runs.length, running: this.running.size, failed: this.failed, etaText: this.eta() }; // not 'eta': cli-progress's own token
  }

  private measured(r: RunSpec): number[] {
    return metricsEpochSeconds(runDir(this.dir, r.id)).slice(0, r.epochs);
  }

  /**
   * Re-reads a run's measured epochs; `done`: it has nothing left to train (finished or failed);
   * `result`: a finished run's result, whose wall time gives its overhead outside the epochs.
   */
  private update(r: RunSpec, done?: boolean, result?: RunResult): void {
    const c = this.costs.get(r.id);
    if (!c) return;
    const epochSeconds = this.measured(r);
    const overheadSeconds = result && !result.resumed ? result.wallSeconds - epochSeconds.reduce((a, b) => a + b, 0) : c.overheadSeconds;
    this.costs.set(r.id, { ...c, epochSeconds, done: done ?? c.done, overheadSeconds });
  }

  /** The ETA text, e.g. `ETA ~12m 05s`, with the methods whose cost is still a prior. */
  eta(): string {
    return describeEta(estimateRemaining([...this.costs.values()], this.jobs ?? Math.max(1, this.running.size)));
  }

  private refresh(): void {
    let value = this.finishedEpochs;
    for (const r of this.running.values()) {
      this.update(r);
      value += this.costs.get(r.id)!.epochSeconds.length;
    }
    this.bar?.update(value, this.payload());
  }

  private line(text: string): void {
    if (this.multibar) this.multibar.log(text + '\n');
    else if (this.plain) process.stderr.write(text + '\n');
  }

  onEvent = (e: RunEvent): void => {
    const label = `${e.run.method} / ${e.run.quantizer} / ${e.run.optimizer} / seed ${e.run.seed}`;
    switch (e.type) {
      case 'skip':
        this.done++;
        this.finishedEpochs += e.run.epochs;
        this.update(e.run, true, readRunResult(this.dir, e.run.id));
        this.line(`[${this.done}/${this.runs.length}] already finished: ${label}`);
        break;
      case 'start':
        this.running.set(e.run.id, e.run);
        this.line(`start ${label}${e.worker ? ` on ${e.worker}` : ''}${e.resumeFrom !== undefined ? ` (resuming after epoch ${e.resumeFrom})` : ''}`);
        break;
      case 'queued':
        this.running.delete(e.run.id);
        this.line(`${e.reason}: ${label}`);
        break;
      case 'epoch':
        this.line(`epoch ${e.epoch}/${e.run.epochs} ${label}${e.worker ? ` on ${e.worker}` : ''}`);
        break;
      case 'finish':
        this.running.delete(e.run.id);
        this.done++;
        this.finishedEpochs += e.run.epochs;
        this.update(e.run, true, e.result);
        this.line(`[${this.done}/${this.runs.length}] finished ${label}: test accuracy ${(e.result.train.testAccuracy * 100).toFixed(2)}% in ${e.result.wallSeconds.toFixed(1)} s; ${this.eta()}`);
        break;
      case 'fail':
        this.running.delete(e.run.id);
        this.failed++;
        this.update(e.run, true);
        this.line(`FAILED ${label}: ${e.reason} (log: ${e.log})`);
        break;
      case 'interrupted':
        this.running.delete(e.run.id);
        this.line(`interrupted ${label}`);
        break;
    }
    this.refresh();
  };

  /** A line of information (compare --queue: the queue, its workers). */
  note(text: string): void {
    this.line(text);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.refresh();
    this.multibar?.stop();
  }
}
