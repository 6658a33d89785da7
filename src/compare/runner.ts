import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';
import { readCheckpoint, CHECKPOINT_FILE } from '../run/checkpoint.js';
import { CONFIG_FILE, writeRunConfig } from '../run/run-config.js';
import { argsForConfig } from '../config/flags.js';
import { UsageError } from '../util/errors.js';
import type { RunSpec } from './grid.js';

/**
 * Runs a grid's training runs as child processes (`metaquant train --config runs/<id>/config.json
 * --json --quiet`, the config written by the runner just before), at most
 * `jobs` at a time. A run is finished only when its `result.json` exists; the runner writes it
 * atomically after the child exited 0 and printed its JSON result, so a run killed at any moment
 * (child or runner) is never counted. Unfinished runs restart from their checkpoint.
 */

export const RESULT_FILE = 'result.json';
export const ERROR_LOG = 'error.log';
/** The pid of the training child working in a run folder (left behind if the runner itself was killed). */
const CHILD_PID_FILE = '.child.pid';
const STDERR_TAIL_BYTES = 16 * 1024;

/** The path of this build's CLI entry point (dist/src/cli/main.js), for the children. */
export const CLI_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../cli/main.js');

export const TrainJsonSchema = z.object({
  testAccuracy: z.number(),
  testLoss: z.number(),
  epochs: z.number().int(),
  seconds: z.number(),
  imagesPerSecond: z.number(),
  out: z.string(),
});

export const RunResultSchema = z.object({
  format: z.literal('metaquant-compare-result'),
  id: z.string(),
  method: z.string(),
  quantizer: z.string(),
  optimizer: z.string(),
  seed: z.number().int(),
  /** The flags equivalent to the run's config (its non-default fields). */
  args: z.array(z.string()),
  /** The child's `--json` line. */
  train: TrainJsonSchema,
  /** Wall-clock seconds of the child that finished the run (a resumed run: its last part only). */
  wallSeconds: z.number(),
  resumed: z.boolean(),
  finishedAt: z.string(),
  /** The queue worker that trained it (`compare --queue`); absent for local runs. */
  worker: z.string().optional(),
});
export type RunResult = z.infer<typeof RunResultSchema>;

export const runDir = (gridDir: string, id: string) => join(gridDir, 'runs', id);

/** The run's result if it finished; undefined if not (a missing or unreadable result.json means unfinished). */
export function readRunResult(gridDir: string, id: string): RunResult | undefined {
  const file = join(runDir(gridDir, id), RESULT_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const parsed = RunResultSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Epochs a run folder's checkpoint holds, or undefined when it has none that can be read. */
export function checkpointEpochs(dir: string): number | undefined {
  if (!existsSync(join(dir, CHECKPOINT_FILE))) return undefined;
  try {
    const payload = readCheckpoint(dir) as { epochsDone?: unknown };
    return typeof payload.epochsDone === 'number' ? payload.epochsDone : undefined;
  } catch {
    return undefined;
  }
}

/** Epochs recorded in a run folder's metrics.jsonl (for progress only). */
export function metricsEpochs(dir: string): number {
  return metricsEpochSeconds(dir).length;
}

/** The `seconds` of each epoch in a run folder's metrics.jsonl (for progress and ETA only; NaN where unreadable). */
export function metricsEpochSeconds(dir: string): number[] {
  let text: string;
  try {
    text = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        const seconds = (JSON.parse(l) as { seconds?: unknown }).seconds;
        return typeof seconds === 'number' ? seconds : Number.NaN;
      } catch {
        return Number.NaN; // a line being written
      }
    });
}

/**
 * Training children a killed runner left running in these runs' folders (Linux: matched by
 * /proc/PID/cmdline naming the folder, so a reused pid is not mistaken for one).
 */
export function strayChildren(gridDir: string, runs: readonly RunSpec[]): Array<{ id: string; pid: number }> {
  const stray: Array<{ id: string; pid: number }> = [];
  for (const run of runs) {
    const dir = resolve(runDir(gridDir, run.id));
    let pid: number;
    try {
      pid = Number(readFileSync(join(dir, CHILD_PID_FILE), 'utf8').trim());
    } catch {
      continue;
    }
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmdline.includes(dir)) stray.push({ id: run.id, pid });
    } catch {
      // No such process (or no /proc): nothing is training there.
    }
  }
  return stray;
}

export type RunEvent =
  | { type: 'skip'; run: RunSpec }
  | { type: 'start'; run: RunSpec; resumeFrom?: number; worker?: string }
  /** compare --queue: the run is (back) in the queue, e.g. after its worker stopped. */
  | { type: 'queued'; run: RunSpec; reason: string }
  /** compare --queue: a worker's run finished an epoch (the metrics reached OUT). */
  | { type: 'epoch'; run: RunSpec; epoch: number; worker?: string }
  | { type: 'finish'; run: RunSpec; result: RunResult }
  | { type: 'fail'; run: RunSpec; reason: string; log: string }
  | { type: 'interrupted'; run: RunSpec };

export interface RunGridOptions {
  jobs: number;
  onEvent?(e: RunEvent): void;
  /** Aborting stops launching runs and sends SIGINT to the running children. */
  signal?: AbortSignal;
}

export interface GridOutcome {
  finished: number;
  skipped: number;
  failed: RunSpec[];
  interrupted: RunSpec[];
}

export async function runGrid(gridDir: string, runs: RunSpec[], options: RunGridOptions): Promise<GridOutcome> {
  const outcome: GridOutcome = { finished: 0, skipped: 0, failed: [], interrupted: [] };
  const emit = options.onEvent ?? (() => {});
  const stray = strayChildren(gridDir, runs);
  if (stray.length > 0) {
    throw new UsageError(
      `training processes from an earlier, killed compare are still running in ${gridDir}: ` +
        `${stray.map((s) => `pid ${s.pid} (${s.id})`).join(', ')}; wait for them or stop them (kill ${stray.map((s) => s.pid).join(' ')}), then rerun`,
    );
  }
  const pending: RunSpec[] = [];
  for (const run of runs) {
    if (readRunResult(gridDir, run.id)) {
      outcome.skipped++;
      emit({ type: 'skip', run });
    } else pending.push(run);
  }
  const running = new Set<ReturnType<typeof spawn>>();
  const onAbort = () => {
    for (const child of running) child.kill('SIGINT');
  };
  options.signal?.addEventListener('abort', onAbort);

  const runOne = async (run: RunSpec): Promise<void> => {
    // Absolute, so a stray child is recognisable by its command line whatever the caller's cwd.
    const dir = resolve(runDir(gridDir, run.id));
    const done = checkpointEpochs(dir);
    const resume = done !== undefined && done < run.epochs;
    if (!resume) rmSync(dir, { recursive: true, force: true }); // a fresh start must not mix with a stale folder
    mkdirSync(dir, { recursive: true });
    if (!resume) writeRunConfig(dir, { ...run.config, out: dir });
    const args = resume ? ['train', '--resume', dir, '--epochs', String(run.epochs)] : ['train', '--config', join(dir, CONFIG_FILE), '--out', dir];
    args.push('--json', '--quiet');
    emit({ type: 'start', run, resumeFrom: resume ? done : undefined });
    const started = performance.now();
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    if (child.pid !== undefined) writeFileSync(join(dir, CHILD_PID_FILE), `${child.pid}\n`);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      if (stderr.length > 2 * STDERR_TAIL_BYTES) stderr = stderr.slice(-STDERR_TAIL_BYTES);
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => {
      child.on('error', (err) => {
        stderr += `\ncould not start ${process.execPath}: ${err.message}\n`;
        res([null, null]);
      });
      child.on('close', (c, s) => res([c, s]));
    });
    running.delete(child);
    rmSync(join(dir, CHILD_PID_FILE), { force: true });
    const wallSeconds = (performance.now() - started) / 1000;
    if (code === 0) {
      const lastLine = stdout.trim().split('\n').pop() ?? '';
      let train: z.infer<typeof TrainJsonSchema> | undefined;
      try {
        const parsed = TrainJsonSchema.safeParse(JSON.parse(lastLine));
        if (parsed.success) train = parsed.data;
      } catch {
        train = undefined;
      }
      if (train) {
        const result: RunResult = {
          format: 'metaquant-compare-result',
          id: run.id,
          method: run.method,
          quantizer: run.quantizer,
          optimizer: run.optimizer,
          seed: run.seed,
          args: argsForConfig(run.config),
          train,
          wallSeconds: Number(wallSeconds.toFixed(3)),
          resumed: resume,
          finishedAt: new Date().toISOString(),
        };
        writeFileAtomic(join(dir, RESULT_FILE), JSON.stringify(result, null, 2) + '\n');
        rmSync(join(dir, ERROR_LOG), { force: true });
        outcome.finished++;
        emit({ type: 'finish', run, result });
        return;
      }
      stderr += `\nthe child exited 0 but its last stdout line is not the --json result: ${JSON.stringify(lastLine.slice(0, 200))}\n`;
    }
    if (options.signal?.aborted) {
      outcome.interrupted.push(run);
      emit({ type: 'interrupted', run });
      return;
    }
    const reason = code === null ? (signal ? `killed by ${signal}` : 'could not start') : `exit code ${code}`;
    const log = join(dir, ERROR_LOG);
    const tail = stderr.slice(-STDERR_TAIL_BYTES);
    const flags = argsForConfig(run.config).join(' ');
    writeFileAtomic(log, `metaquant ${args.join(' ')}\nits config: metaquant train ${flags}\n${reason}\n--- stderr (last ${STDERR_TAIL_BYTES} bytes) ---\n${tail}`);
    outcome.failed.push(run);
    emit({ type: 'fail', run, reason: `${reason}: ${lastErrorLine(tail)}`, log });
  };

  const queue = [...pending];
  const worker = async () => {
    for (let run = queue.shift(); run; run = queue.shift()) {
      if (options.signal?.aborted) {
        outcome.interrupted.push(run);
        continue;
      }
      await runOne(run);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs, pending.length)) }, worker));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  return outcome;
}

function lastErrorLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.find((l) => l.startsWith('metaquant:')) ?? lines[lines.length - 1] ?? '(no error output)';
}
