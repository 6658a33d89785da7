// run.json: what a run folder says about itself — the command that made it, the metaquant version,
// the host, when it started and ended and how it stands (running → finished / interrupted /
// failed), rewritten atomically at each transition. A resumed run keeps its earlier sessions.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { packageVersion } from '../util/package-version.js';

export const RUN_FILE = 'run.json';

export type RunStatus = 'running' | 'finished' | 'interrupted' | 'failed';

export interface RunSession {
  status: RunStatus;
  /** The command line after `metaquant`, e.g. ["train", "--epochs", "5", "--out", "runs/a"]. */
  argv: string[];
  metaquantVersion: string;
  hostname: string;
  pid: number;
  startedAt: string;
  endedAt: string | null;
  /** Epochs completed when the session ended. */
  epochsDone?: number;
  /** Why it stopped (failed / interrupted). */
  message?: string;
}

export interface RunRecord extends RunSession {
  format: 'metaquant-run';
  version: 1;
  /** Earlier sessions of a resumed run, oldest first. */
  earlier: RunSession[];
}

/** The folder's run.json, or null when it has none (or an unreadable one). */
export function readRunRecord(dir: string): RunRecord | null {
  try {
    const r = JSON.parse(readFileSync(join(dir, RUN_FILE), 'utf8')) as RunRecord;
    return r && r.format === 'metaquant-run' ? r : null;
  } catch {
    return null;
  }
}

export class RunRecorder {
  private record: RunRecord;
  private readonly onExit = () => {
    // A second Ctrl-C exits at once: the run is then interrupted, not running.
    if (this.record.status === 'running') this.end('interrupted', { message: 'exited during training (second signal or process.exit)' });
  };

  /** Starts a session (status running); a resumed run's previous sessions move to `earlier`. */
  constructor(
    readonly dir: string,
    options: { resumed: boolean },
  ) {
    const previous = options.resumed ? readRunRecord(dir) : null;
    const { format: _f, version: _v, earlier = [], ...last } = previous ?? ({} as Partial<RunRecord>);
    this.record = {
      format: 'metaquant-run',
      version: 1,
      status: 'running',
      argv: process.argv.slice(2),
      metaquantVersion: packageVersion(),
      hostname: hostname(),
      pid: process.pid,
      startedAt: new Date().toISOString(),
      endedAt: null,
      earlier: previous ? [...earlier, last as RunSession] : [],
    };
    this.write();
    process.on('exit', this.onExit);
  }

  get status(): RunStatus {
    return this.record.status;
  }

  end(status: Exclude<RunStatus, 'running'>, extra: { epochsDone?: number; message?: string } = {}): void {
    process.off('exit', this.onExit);
    this.record = { ...this.record, status, endedAt: new Date().toISOString(), ...extra };
    this.write();
  }

  private write(): void {
    writeFileAtomic(join(this.dir, RUN_FILE), JSON.stringify(this.record, null, 2) + '\n');
  }
}
