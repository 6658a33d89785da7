import cliProgress from 'cli-progress';
import type { RunSpec } from '../compare/grid.js';
import { metricsEpochs, runDir, type RunEvent } from '../compare/runner.js';

/**
 * Progress of a whole grid on stderr. On a terminal: one bar counting epochs over all runs (read
 * from the running runs' metrics.jsonl every second) with runs done/running/failed; otherwise one
 * plain line per run event.
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

  constructor(
    private readonly dir: string,
    private readonly runs: readonly RunSpec[],
    quiet: boolean,
  ) {
    this.tty = Boolean(process.stderr.isTTY) && !quiet;
    this.plain = !quiet && !this.tty;
    this.total = runs.reduce((s, r) => s + r.epochs, 0);
    if (this.tty) {
      this.multibar = new cliProgress.MultiBar(
        {
          stream: process.stderr,
          format: 'grid |{bar}| {value}/{total} epochs  runs {done}/{runs} done, {running} running, {failed} failed  ETA {eta_formatted}',
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar = this.multibar.create(this.total, 0, this.payload());
      this.timer = setInterval(() => this.refresh(), 1000);
    }
  }

  private payload() {
    return { done: this.done, runs: this.runs.length, running: this.running.size, failed: this.failed };
  }

  private refresh(): void {
    let value = this.finishedEpochs;
    for (const r of this.running.values()) value += Math.min(r.epochs, metricsEpochs(runDir(this.dir, r.id)));
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
        this.line(`[${this.done}/${this.runs.length}] finished ${label}: test accuracy ${(e.result.train.testAccuracy * 100).toFixed(2)}% in ${e.result.wallSeconds.toFixed(1)} s`);
        break;
      case 'fail':
        this.running.delete(e.run.id);
        this.failed++;
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
