// `metaquant worker`: takes runs from the queue, trains each with a `metaquant train` child in its
// own run folder, publishes every checkpoint (so another worker can resume it), and completes the
// job with the child's result. BullMQ does the rest: locks, stalled-job recovery after a crash,
// attempts, concurrency.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { Worker, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { MetaquantError } from '../util/errors.js';
import { decodeCheckpoint, writeCheckpoint, CHECKPOINT_FILE } from '../run/checkpoint.js';
import { CONFIG_FILE, writeRunConfig } from '../run/run-config.js';
import { parseTrainConfig, type TrainConfig } from '../config/schema.js';
import { parseJob, configIdentity, RefusedJobError, type TrainJob } from './job-payload.js';
import { resolveDataPaths } from './data-roots.js';
import { FolderArtifacts, RedisArtifacts, TransferTooLargeError, type ArtifactStore, type RunFiles } from './artifacts.js';
import { startTrainChild, lastErrorLine, type TrainChild } from './train-child.js';
import { QUEUE_PREFIX, closeRedis, connectOrExplain, registerWorker, type JobProgress, type JobReturn } from './protocol.js';
import type { QueueAddress } from './redis-url.js';

export interface WorkerSettings {
  address: QueueAddress;
  queueName: string;
  name: string;
  concurrency: number;
  threads?: number;
  /** Folders jobs may read data from (resolved, existing). */
  dataRoots: string[];
  /** Where this worker's run folders go (one per job: WORK/<grid>/<run>). */
  workDir: string;
  /** The shared folder transport, or undefined. */
  artifactsDir?: string;
  /** The Redis transport's bound in bytes; 0 = no Redis transport. */
  maxTransferBytes: number;
  /** BullMQ lock duration: after this long without a sign of life a run is given to another worker. */
  lockMs: number;
  log(line: string): void;
}

export const defaultWorkerName = () => `${hostname()}-${process.pid}`;

/** Raised inside a job when its lock went to another worker (this worker was presumed dead). */
class LostLockError extends MetaquantError {}

export class QueueWorker {
  private readonly redis: Redis;
  private readonly stores: { redis?: RedisArtifacts; folder?: FolderArtifacts } = {};
  private worker?: Worker;
  private readonly children = new Map<string, { child: TrainChild; lost: boolean }>();
  private stopping = false;
  private unregister?: () => Promise<void>;

  constructor(private readonly s: WorkerSettings) {
    if (!s.artifactsDir && s.maxTransferBytes <= 0) {
      throw new MetaquantError(
        'this worker has no way to send runs back: give --artifacts DIR (a folder the coordinator shares) or allow the Redis transport (--max-transfer MiB > 0); ' +
          'a worker never keeps results only on its own disk',
        2,
      );
    }
    this.redis = new Redis({ ...s.address.connection });
    this.redis.on('error', () => {}); // connection trouble is reported through the BullMQ worker's 'error' events
    const namespace = `${QUEUE_PREFIX}:${s.queueName}`;
    if (s.maxTransferBytes > 0) this.stores.redis = new RedisArtifacts(this.redis, namespace, s.maxTransferBytes);
    if (s.artifactsDir) this.stores.folder = new FolderArtifacts(s.artifactsDir);
  }

  async start(): Promise<void> {
    mkdirSync(this.s.workDir, { recursive: true });
    await connectOrExplain(this.redis, this.s.address.display, 30_000);
    this.unregister = await registerWorker(this.redis, this.s.queueName, this.s.name, this.s.concurrency);
    this.worker = new Worker(this.s.queueName, (job, token) => this.process(job, token!), {
      connection: this.s.address.connection,
      prefix: QUEUE_PREFIX,
      name: this.s.name,
      concurrency: this.s.concurrency,
      lockDuration: this.s.lockMs,
      stalledInterval: Math.max(500, Math.round(this.s.lockMs / 2)),
      // A run whose worker died is handed on this many times before it counts as failed.
      maxStalledCount: 5,
      autorun: true,
    });
    let lastError = '';
    this.worker.on('error', (err) => {
      if (err.message !== lastError) this.s.log(`queue: ${err.message}`); // e.g. Redis restarting; BullMQ reconnects
      lastError = err.message;
    });
    this.worker.on('lockRenewalFailed', (ids: string[]) => {
      for (const id of ids) {
        const entry = this.children.get(id);
        if (!entry) continue;
        entry.lost = true;
        this.s.log(`lost the lock of ${id} (this worker was presumed dead); stopping its training`);
        entry.child.stop('SIGTERM');
      }
    });
    await this.worker.waitUntilReady();
    this.s.log(`worker ${this.s.name}: waiting for runs on ${this.s.address.display} (queue '${this.s.queueName}', ${this.s.concurrency} at a time, run folders in ${this.s.workDir})`);
  }

  /** SIGINT/SIGTERM: each running child checkpoints and stops, its job goes back to the queue, the worker exits. */
  async stop(signal: 'SIGINT' | 'SIGTERM'): Promise<void> {
    this.stopping = true;
    this.s.log(`worker ${this.s.name}: ${signal}: checkpointing ${this.children.size} run(s) and handing them back to the queue`);
    for (const { child } of this.children.values()) child.stop(signal);
    await this.worker?.close();
    await this.unregister?.();
    await closeRedis(this.redis);
  }

  private store(job: TrainJob): ArtifactStore {
    if (job.transport.kind === 'folder') {
      if (!this.stores.folder) throw new MetaquantError(`run ${job.run}: its coordinator sends files through a shared folder and this worker was started without --artifacts DIR`);
      return this.stores.folder;
    }
    if (!this.stores.redis) throw new MetaquantError(`run ${job.run}: its coordinator sends files through Redis and this worker has the Redis transport off (--max-transfer 0)`);
    return this.stores.redis;
  }

  private async process(job: Job, token: string): Promise<JobReturn> {
    let train: TrainJob;
    let config: TrainConfig;
    try {
      train = parseJob(job.data);
      config = resolveDataPaths(train.config, this.s.dataRoots);
    } catch (err) {
      if (!(err instanceof RefusedJobError)) throw err;
      this.s.log(`${job.id}: ${err.message}`);
      throw new UnrecoverableError(err.message); // failed at once: retrying cannot help
    }
    if (job.id !== `${train.grid}/${train.run}`) throw new UnrecoverableError(`job refused: its id '${job.id}' is not its grid/run '${train.grid}/${train.run}'`);
    const store = this.store(train);
    const dir = join(this.s.workDir, train.grid, train.run);
    rmSync(dir, { recursive: true, force: true }); // an earlier attempt's folder on this machine
    mkdirSync(dir, { recursive: true });
    const resumeFrom = await this.prepare(train, config, store, dir);
    const args = resumeFrom !== undefined ? ['--resume', dir, '--epochs', String(config.epochs)] : ['--config', join(dir, CONFIG_FILE), '--out', dir];
    args.push('--json', '--quiet');
    await job.updateProgress({ worker: this.s.name, epochs: 0, seq: 0 } satisfies JobProgress);

    const limit = train.transport.kind === 'redis' ? Math.min(train.transport.maxBytes, this.s.maxTransferBytes) : Infinity;
    const child = startTrainChild({
      args,
      dir,
      threads: this.s.threads,
      onFiles: async (files: RunFiles) => {
        const bytes = (files.checkpoint?.length ?? 0) + (files.metrics?.length ?? 0);
        if (bytes > limit) throw new TransferTooLargeError(train.run, bytes, limit);
        // Still ours? A worker presumed dead must not overwrite its successor's checkpoint.
        if ((await job.extendLock(token, this.s.lockMs)) === 0) throw new LostLockError(`${job.id}: the lock went to another worker`);
        const seq = await store.publish(train.grid, train.run, files);
        const epochs = files.metrics ? files.metrics.toString('utf8').split('\n').filter((l) => l.trim() !== '').length : 0;
        await job.updateProgress({ worker: this.s.name, epochs, seq } satisfies JobProgress);
      },
    });
    this.s.log(`start ${train.run}${resumeFrom !== undefined ? ` (resuming from ${resumeFrom})` : ''} (training process ${child.pid})`);
    const entry = { child, lost: false };
    this.children.set(job.id!, entry);
    if (this.stopping) child.stop('SIGTERM'); // a signal came while the run was being prepared
    let exit;
    try {
      exit = await child.done;
    } catch (err) {
      if (err instanceof LostLockError || entry.lost) throw new Error(`${job.id}: this worker lost the job to another one`);
      if (err instanceof TransferTooLargeError) throw new UnrecoverableError(err.message); // the same on every attempt
      throw err;
    } finally {
      this.children.delete(job.id!);
    }
    if (exit.code === 0 && exit.result) {
      this.s.log(`finished ${train.run}: test accuracy ${(exit.result.testAccuracy * 100).toFixed(2)}% in ${exit.wallSeconds.toFixed(1)} s`);
      rmSync(dir, { recursive: true, force: true }); // its files are published; nothing stays behind
      return { train: exit.result, wallSeconds: Number(exit.wallSeconds.toFixed(3)), resumed: resumeFrom !== undefined, worker: this.s.name };
    }
    if (entry.lost) throw new Error(`${job.id}: this worker lost the job to another one`);
    if (this.stopping && (exit.code === 130 || exit.code === 143 || exit.signal === 'SIGINT' || exit.signal === 'SIGTERM')) {
      // Its interrupt checkpoint is published (the child's last files): back to the queue, not an attempt.
      this.s.log(`handed ${train.run} back to the queue`);
      await job.moveToWait(token);
      throw new WaitingError();
    }
    const reason = exit.code === null ? `killed by ${exit.signal ?? 'a signal'}` : `exit code ${exit.code}`;
    await job.log(`metaquant train ${args.join(' ')}\n${reason}\n--- stderr ---\n${exit.stderrTail}`).catch(() => {});
    const message = `${reason}: ${lastErrorLine(exit.stderrTail)}`;
    this.s.log(`FAILED ${train.run} on ${this.s.name}: ${message}`);
    throw new Error(message);
  }

  /**
   * Fills the run folder: the published checkpoint when there is one (verified to be this run's,
   * its file paths set to this machine's), else config.json. Returns where a resumed run starts.
   */
  private async prepare(job: TrainJob, config: TrainConfig, store: ArtifactStore, dir: string): Promise<string | undefined> {
    writeRunConfig(dir, { ...config, out: dir });
    const stored = await store.fetch(job.grid, job.run);
    if (!stored?.checkpoint) return undefined;
    const file = `${job.run}/${CHECKPOINT_FILE} (from ${store.description})`;
    let payload: { config?: unknown; epochsDone?: unknown; position?: { epoch?: number; batch?: number } };
    try {
      payload = decodeCheckpoint(stored.checkpoint, file) as typeof payload;
    } catch (err) {
      throw new UnrecoverableError(`job refused: ${(err as Error).message}`);
    }
    let saved: string;
    try {
      saved = configIdentity(parseTrainConfig(stripOut(payload.config)));
    } catch (err) {
      throw new UnrecoverableError(`job refused: ${file}: its config is not a valid training config (${(err as Error).message})`);
    }
    if (saved !== configIdentity(job.config)) throw new UnrecoverableError(`job refused: ${file} belongs to another training config than run ${job.run}'s`);
    const done = typeof payload.epochsDone === 'number' ? payload.epochsDone : 0;
    if (done >= config.epochs) return undefined; // complete but not collected: train again from the start
    writeCheckpoint(dir, { ...payload, config: { ...config, out: dir } });
    const p = payload.position;
    return p && p.batch ? `epoch ${(p.epoch ?? 0) + 1}, step ${p.batch}` : `the end of epoch ${done}`;
  }
}

function stripOut(config: unknown): unknown {
  if (typeof config !== 'object' || config === null) return config;
  const { out: _out, ...rest } = config as Record<string, unknown>;
  return rest;
}
