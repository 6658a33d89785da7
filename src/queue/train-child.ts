// One `metaquant train` child of a worker: the same command and code as a local training run,
// started with an IPC channel so that it dies with the worker (child-guard.ts). While it runs, its
// run folder is watched and each new checkpoint (with metrics.jsonl) is handed to `onFiles`.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { CLI_MAIN, TrainJsonSchema } from '../compare/runner.js';
import { CHECKPOINT_FILE } from '../run/checkpoint.js';
import { METRICS_FILE } from '../run/run-folder.js';
import type { RunFiles } from './artifacts.js';

const GUARD = pathToFileURL(new URL('./child-guard.js', import.meta.url).pathname).href;
const STDERR_TAIL_BYTES = 16 * 1024;

export interface TrainChildOptions {
  /** Arguments after `metaquant train`. */
  args: string[];
  /** The run folder the child writes (watched for checkpoints). */
  dir: string;
  /** METAQUANT_THREADS for the child (native kernel threads); unset: the child's default. */
  threads?: number;
  /** Called (one call at a time) whenever the checkpoint or the metrics changed. */
  onFiles(files: RunFiles): Promise<void>;
  pollMs?: number;
}

export interface TrainChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The child's `--json` result line, when it printed one. */
  result?: z.infer<typeof TrainJsonSchema>;
  stderrTail: string;
  wallSeconds: number;
}

export interface TrainChild {
  pid: number | undefined;
  /** SIGINT/SIGTERM ask the child to checkpoint and stop (as Ctrl-C does for `metaquant train`); SIGKILL stops it now. */
  stop(signal: 'SIGINT' | 'SIGTERM' | 'SIGKILL'): void;
  /** Resolves as soon as the process is gone (before its last files are handed on). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves after the child exited and its last files were handed to onFiles. */
  done: Promise<TrainChildExit>;
}

/** Identity of a file's current version (atomic writes replace the inode). */
function stamp(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return '';
  }
}

export function startTrainChild(options: TrainChildOptions): TrainChild {
  const started = performance.now();
  const env = { ...process.env, ...(options.threads ? { METAQUANT_THREADS: String(options.threads) } : {}) };
  const child = spawn(process.execPath, ['--import', GUARD, CLI_MAIN, 'train', ...options.args], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    if (stderr.length > 2 * STDERR_TAIL_BYTES) stderr = stderr.slice(-STDERR_TAIL_BYTES);
  });

  const files = { checkpoint: join(options.dir, CHECKPOINT_FILE), metrics: join(options.dir, METRICS_FILE) };
  let published = '';
  let busy: Promise<void> = Promise.resolve();
  let failure: unknown;
  const sync = () => {
    busy = busy.then(async () => {
      const now = `${stamp(files.checkpoint)}|${stamp(files.metrics)}`;
      if (now === published || !existsSync(files.checkpoint)) return;
      const read = (f: string) => (existsSync(f) ? readFileSync(f) : undefined);
      const checkpoint = read(files.checkpoint);
      const metrics = read(files.metrics);
      await options.onFiles({ ...(checkpoint ? { checkpoint } : {}), ...(metrics ? { metrics } : {}) });
      published = now;
    }).catch((err: unknown) => {
      // The upload failed for good (e.g. too large for the transport): stop training, report it.
      failure ??= err;
      child.kill('SIGTERM');
    });
    return busy;
  };
  const timer = setInterval(sync, options.pollMs ?? 200);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const done = new Promise<TrainChildExit>((resolve, reject) => {
    child.on('error', (err) => {
      stderr += `\ncould not start ${process.execPath}: ${err.message}\n`;
    });
    child.on('close', async (code, signal) => {
      clearInterval(timer);
      await sync(); // the files the child wrote last (its final or interrupt checkpoint)
      if (failure) return reject(failure);
      const wallSeconds = (performance.now() - started) / 1000;
      let result: TrainChildExit['result'];
      if (code === 0) {
        try {
          const parsed = TrainJsonSchema.safeParse(JSON.parse(stdout.trim().split('\n').pop() ?? ''));
          if (parsed.success) result = parsed.data;
        } catch {
          result = undefined;
        }
      }
      resolve({ code, signal, result, stderrTail: stderr.slice(-STDERR_TAIL_BYTES), wallSeconds });
    });
  });
  return { pid: child.pid, stop: (signal) => child.kill(signal), exited, done };
}

/** The line of a child's stderr that says what went wrong (metaquant's own one-line errors first). */
export function lastErrorLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.find((l) => l.startsWith('metaquant:')) ?? lines[lines.length - 1] ?? '(no error output)';
}
