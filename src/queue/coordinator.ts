// `compare --queue`: the grid's unfinished runs become BullMQ jobs (job id = grid id/run id, so a
// rerun or a restarted coordinator never queues a run twice); workers train them; the coordinator
// follows each job's state, copies each published checkpoint and metrics.jsonl into OUT/runs/<id>
// as they arrive, and writes result.json (atomically, last) when a job completes: the same OUT/
// as a local grid. The coordinator holds no state of its own: killed and restarted, it reads the
// queue and OUT again and carries on.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { MetaquantError, UsageError } from '../util/errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { writeRunConfig } from '../run/run-config.js';
import { CHECKPOINT_FILE, decodeCheckpoint } from '../run/checkpoint.js';
import { METRICS_FILE } from '../run/run-folder.js';
import { argsForConfig } from '../config/flags.js';
import type { RunSpec } from '../compare/grid.js';
import { checkpointEpochs, readRunResult, runDir, ERROR_LOG, RESULT_FILE, type GridOutcome, type RunEvent, type RunResult } from '../compare/runner.js';
import { FolderArtifacts, RedisArtifacts, type ArtifactStore } from './artifacts.js';
import { GRID_ID, JOB_NAME, jobId, makeJob, type Transport } from './job-payload.js';
import { JobProgressSchema, JobReturnSchema, QUEUE_PREFIX, closeRedis, connectOrExplain, liveWorkers } from './protocol.js';
import { localVersions, versionMismatch } from './versions.js';
import type { QueueAddress } from './redis-url.js';

export interface QueueGridOptions {
  address: QueueAddress;
  queueName: string;
  /** Files through Redis (bounded) or a folder shared with the workers (this machine's path to it). */
  transport: { kind: 'redis'; maxBytes: number } | { kind: 'folder'; dir: string };
  /** Attempts per run before it counts as failed. */
  attempts: number;
  onEvent?(e: RunEvent): void;
  /** Notes for the user (no worker yet, Redis lost the queue…). */
  log?(line: string): void;
  /** Aborting stops following the grid; the queued runs stay queued for the next coordinator. */
  signal?: AbortSignal;
  pollMs?: number;
  /** How long to wait for Redis at the start before giving up with an error. */
  connectTimeoutMs?: number;
}

export const QUEUE_GRID_FILE = 'queue.json';
const QueueGridSchema = z.object({ format: z.literal('metaquant-queue-grid'), grid: z.string().regex(GRID_ID) });

/** The grid's id in the queue, made once per grid folder (OUT/queue.json): two grids never share jobs. */
export function queueGridId(dir: string): string {
  const file = join(dir, QUEUE_GRID_FILE);
  if (existsSync(file)) {
    const parsed = QueueGridSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) throw new MetaquantError(`${file}: not a metaquant queue-grid file (expected {"format": "metaquant-queue-grid", "grid": HEX}); delete it to start the grid's queue afresh`, 2);
    return parsed.data.grid;
  }
  const grid = randomBytes(8).toString('hex');
  writeFileAtomic(file, JSON.stringify({ format: 'metaquant-queue-grid', grid }, null, 2) + '\n');
  return grid;
}

interface Tracked {
  run: RunSpec;
  dir: string;
  state: 'queued' | 'active';
  worker?: string;
  /** Sequence number of the published files last copied into OUT. */
  seq: number;
  epochs: number;
  /** Failed attempts seen so far. */
  attempts: number;
}

export async function runQueuedGrid(gridDir: string, runs: RunSpec[], options: QueueGridOptions): Promise<GridOutcome> {
  const outcome: GridOutcome = { finished: 0, skipped: 0, failed: [], interrupted: [] };
  const emit = options.onEvent ?? (() => {});
  const log = options.log ?? (() => {});
  const grid = queueGridId(gridDir);
  const redis = new Redis({ ...options.address.connection });
  redis.on('error', () => {}); // reconnects on its own; commands wait for it
  const queue = new Queue(options.queueName, { connection: options.address.connection, prefix: QUEUE_PREFIX });
  let queueError = '';
  queue.on('error', (err) => {
    if (err.message !== queueError) log(`queue: ${err.message} (retrying)`);
    queueError = err.message;
  });
  try {
    await connectOrExplain(redis, options.address.display, options.connectTimeoutMs ?? 15_000);
    await checkWorkers(redis, options, log);
    const store: ArtifactStore = options.transport.kind === 'folder' ? new FolderArtifacts(options.transport.dir) : new RedisArtifacts(redis, `${QUEUE_PREFIX}:${options.queueName}`, options.transport.maxBytes);
    const transport: Transport = options.transport.kind === 'folder' ? { kind: 'folder' } : { kind: 'redis', maxBytes: options.transport.maxBytes };
    const pending = new Map<string, Tracked>();
    for (const run of runs) {
      if (readRunResult(gridDir, run.id)) {
        outcome.skipped++;
        emit({ type: 'skip', run });
      } else pending.set(run.id, { run, dir: resolve(runDir(gridDir, run.id)), state: 'queued', seq: 0, epochs: 0, attempts: 0 });
    }

    /** Queues a run that has no job: OUT's checkpoint (if it has one) goes to the store for the worker to resume from. */
    const enqueue = async (t: Tracked) => {
      const done = checkpointEpochs(t.dir);
      const resume = done !== undefined && done < t.run.epochs;
      if (!resume) {
        rmSync(t.dir, { recursive: true, force: true });
        mkdirSync(t.dir, { recursive: true });
        writeRunConfig(t.dir, { ...t.run.config, out: t.dir });
      } else if ((await store.sequence(grid, t.run.id)) === 0) {
        const read = (f: string) => (existsSync(join(t.dir, f)) ? readFileSync(join(t.dir, f)) : undefined);
        const metrics = read(METRICS_FILE);
        await store.publish(grid, t.run.id, { checkpoint: read(CHECKPOINT_FILE)!, ...(metrics ? { metrics } : {}) });
      }
      await queue.add(JOB_NAME, makeJob(grid, t.run.id, t.run.config, transport), {
        jobId: jobId(grid, t.run.id),
        attempts: options.attempts,
        backoff: { type: 'fixed', delay: 1000 },
        removeOnComplete: false,
        removeOnFail: false,
      });
    };

    let added = 0;
    let reattached = 0;
    for (const t of pending.values()) {
      const job = await queue.getJob(jobId(grid, t.run.id));
      if (!job) {
        await enqueue(t);
        added++;
      } else {
        reattached++;
        // A rerun retries the runs that failed before, as a local rerun does.
        if ((await job.getState()) === 'failed') await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      }
    }
    log(`grid ${grid} on ${options.address.display} (queue '${options.queueName}', files through ${store.description}): ${added} run(s) queued now, ${reattached} already in the queue, ${outcome.skipped} finished`);

    const follow = async (t: Tracked): Promise<void> => {
      // The state first: a job read before it became final would lack its result or reason.
      const state = await queue.getJobState(jobId(grid, t.run.id));
      const job = state === 'unknown' ? undefined : await queue.getJob(jobId(grid, t.run.id));
      if (!job) {
        log(`${t.run.id}: its job is gone from the queue (was Redis emptied?); queuing it again`);
        return enqueue(t);
      }
      if (state === 'completed') return collect(t, job);
      if (state === 'failed') return fail(t, job);
      await syncFiles(t);
      const progress = JobProgressSchema.safeParse(job.progress);
      if (state === 'active') {
        const worker = job.processedBy ?? (progress.success ? progress.data.worker : undefined);
        if (t.state !== 'active' || t.worker !== worker) emit({ type: 'start', run: t.run, worker, ...(t.epochs > 0 ? { resumeFrom: t.epochs } : {}) });
        t.state = 'active';
        t.worker = worker;
      } else if (t.state === 'active') {
        const retry = job.attemptsMade > t.attempts;
        emit({ type: 'queued', run: t.run, reason: retry ? `attempt ${job.attemptsMade} failed (${job.failedReason ?? 'no reason'}); queued again` : `back in the queue${t.worker ? ` (from ${t.worker})` : ''}` });
        t.state = 'queued';
      }
      t.attempts = job.attemptsMade;
    };

    /** Copies newly published files into OUT/runs/<id>; a new metrics line is an epoch event. */
    const syncFiles = async (t: Tracked): Promise<void> => {
      if ((await store.sequence(grid, t.run.id)) <= t.seq) return;
      const files = await store.fetch(grid, t.run.id);
      if (!files || files.seq <= t.seq) return;
      if (files.checkpoint) {
        decodeCheckpoint(files.checkpoint, `${t.run.id}/${CHECKPOINT_FILE} from ${store.description}`); // never store garbage in OUT
        writeFileAtomic(join(t.dir, CHECKPOINT_FILE), files.checkpoint);
      }
      if (files.metrics) {
        writeFileAtomic(join(t.dir, METRICS_FILE), files.metrics);
        const epochs = files.metrics.toString('utf8').split('\n').filter((l) => l.trim() !== '').length;
        for (let e = t.epochs + 1; e <= epochs; e++) emit({ type: 'epoch', run: t.run, epoch: e, worker: t.worker });
        t.epochs = Math.max(t.epochs, epochs);
      }
      t.seq = files.seq;
    };

    const collect = async (t: Tracked, job: Job): Promise<void> => {
      const ret = JobReturnSchema.safeParse(job.returnvalue);
      if (!ret.success) return fail(t, job, `the worker's result is not a training result (${ret.error.issues[0]?.message})`);
      await syncFiles(t);
      if (!existsSync(join(t.dir, CHECKPOINT_FILE))) return fail(t, job, `the run completed on ${ret.data.worker} but its files never reached ${store.description}`);
      const result: RunResult = {
        format: 'metaquant-compare-result',
        id: t.run.id,
        method: t.run.method,
        quantizer: t.run.quantizer,
        optimizer: t.run.optimizer,
        seed: t.run.seed,
        args: argsForConfig(t.run.config),
        train: { ...ret.data.train, out: t.dir },
        wallSeconds: ret.data.wallSeconds,
        resumed: ret.data.resumed,
        finishedAt: new Date(job.finishedOn ?? Date.now()).toISOString(),
        worker: ret.data.worker,
      };
      writeFileAtomic(join(t.dir, RESULT_FILE), JSON.stringify(result, null, 2) + '\n');
      rmSync(join(t.dir, ERROR_LOG), { force: true });
      await store.remove(grid, t.run.id);
      pending.delete(t.run.id);
      outcome.finished++;
      emit({ type: 'finish', run: t.run, result });
    };

    const fail = async (t: Tracked, job: Job, why?: string): Promise<void> => {
      await syncFiles(t).catch(() => {});
      const reason = why ?? job.failedReason ?? 'failed (no reason recorded)';
      const { logs } = await queue.getJobLogs(job.id!).catch(() => ({ logs: [] as string[] }));
      const logFile = join(t.dir, ERROR_LOG);
      writeFileAtomic(
        logFile,
        `run ${t.run.id} failed in the queue after ${job.attemptsMade} attempt(s)${job.processedBy ? `, last on ${job.processedBy}` : ''}\n` +
          `its config: metaquant train ${argsForConfig(t.run.config).join(' ')}\n${reason}\n${logs.length > 0 ? `--- worker log ---\n${logs[logs.length - 1]}\n` : ''}`,
      );
      pending.delete(t.run.id);
      outcome.failed.push(t.run);
      emit({ type: 'fail', run: t.run, reason, log: logFile });
    };

    const pollMs = options.pollMs ?? 500;
    while (pending.size > 0 && !options.signal?.aborted) {
      for (const t of [...pending.values()]) {
        if (options.signal?.aborted) break;
        await follow(t);
      }
      if (pending.size > 0) await pause(pollMs, options.signal);
    }
    for (const t of pending.values()) {
      outcome.interrupted.push(t.run);
      emit({ type: 'interrupted', run: t.run });
    }
    return outcome;
  } finally {
    await queue.close().catch(() => {});
    await closeRedis(redis);
  }
}

/** Refuses to queue while a worker of another metaquant is connected (it would refuse every run). */
async function checkWorkers(redis: Redis, options: QueueGridOptions, log: (line: string) => void): Promise<void> {
  const workers = await liveWorkers(redis, options.queueName);
  const ours = localVersions();
  for (const w of workers) {
    const problem = versionMismatch(w.versions, ours, `worker ${w.name} (on ${w.host})`, 'this coordinator');
    if (problem) throw new UsageError(`${problem}; stop that worker or upgrade it, then rerun`);
  }
  if (workers.length === 0) log(`no worker is connected to queue '${options.queueName}' yet; the runs wait until one starts (metaquant worker --queue URL)`);
  else log(`${workers.length} worker(s): ${workers.map((w) => `${w.name} (${w.concurrency} at a time)`).join(', ')}`);
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      res();
    }
    signal?.addEventListener('abort', done);
  });
}
