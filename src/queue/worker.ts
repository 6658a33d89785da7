// `metaquant worker`: takes runs from the queue, trains each with a `metaquant train` child in its
// own run folder, publishes every checkpoint (so another worker can resume it), and completes the
// job with the child's result. BullMQ does the rest: locks, stalled-job recovery after a crash,
// attempts, concurrency. BullMQ hands a job on when its lock expires, even while the first worker
// still trains it; the worker's lease on that lock (lease.ts) makes sure it has stopped by then and
// that only the lock's holder publishes files or reports a result.
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
import { FencedOffError, FolderArtifacts, RedisArtifacts, TransferTooLargeError, type ArtifactStore, type RunFiles } from './artifacts.js';
import { startTrainChild, lastErrorLine, type TrainChild } from './train-child.js';
import { LeaseLostError, RunLease } from './lease.js';
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

/** A job this worker is on: its lease, and its training child once started. */
interface Running {
  lease: RunLease;
  child?: TrainChild;
}

/** The run id of a job (its id is grid/run, checked before training). */
const runOf = (job: Job) => String(job.id).slice(String(job.id).indexOf('/') + 1);

export class QueueWorker {
  private readonly redis: Redis;
  private readonly stores: { redis?: RedisArtifacts; folder?: FolderArtifacts } = {};
  private worker?: Worker;
  private readonly running = new Map<string, Running>();
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
    // BullMQ's own renewal failed: the lease asks Redis itself (it may be a late answer for an older token).
    this.worker.on('lockRenewalFailed', (ids: string[]) => ids.forEach((id) => this.running.get(id)?.lease.check()));
    // Logged once BullMQ has recorded the result (a completion with a lost lock is refused), so a
    // run is reported finished once, whatever happened to its workers.
    this.worker.on('completed', (job: Job, ret: JobReturn) => {
      this.s.log(`finished ${runOf(job)}: test accuracy ${(ret.train.testAccuracy * 100).toFixed(2)}% in ${ret.wallSeconds.toFixed(1)} s`);
    });
    await this.worker.waitUntilReady();
    this.s.log(`worker ${this.s.name}: waiting for runs on ${this.s.address.display} (queue '${this.s.queueName}', ${this.s.concurrency} at a time, run folders in ${this.s.workDir})`);
  }

  /** SIGINT/SIGTERM: each running child checkpoints and stops, its job goes back to the queue, the worker exits. */
  async stop(signal: 'SIGINT' | 'SIGTERM'): Promise<void> {
    this.stopping = true;
    this.s.log(`worker ${this.s.name}: ${signal}: checkpointing ${this.running.size} run(s) and handing them back to the queue`);
    for (const { child } of this.running.values()) child?.stop(signal);
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
    const entry: Running = { lease: new RunLease(job, token, this.s.lockMs) };
    this.running.set(job.id, entry);
    try {
      return await this.train(job, token, train, config, entry);
    } catch (err) {
      const lost = entry.lease.lostReason ?? (err instanceof LeaseLostError || err instanceof FencedOffError ? err.message : undefined);
      if (lost === undefined) throw err;
      // The run is (or will be) another worker's, resumed from the last checkpoint this worker
      // published under its lease. BullMQ refuses any move with this worker's token; WaitingError
      // makes it leave the job alone and fetch the next one.
      this.s.log(`lost ${train.run}: ${lost}; another worker resumes it from its last published checkpoint`);
      throw new WaitingError();
    } finally {
      entry.lease.end();
      if (this.running.get(job.id) === entry) this.running.delete(job.id);
    }
  }

  private async train(job: Job, token: string, train: TrainJob, config: TrainConfig, entry: Running): Promise<JobReturn> {
    const { lease } = entry;
    await lease.confirm(); // before anything is done for the run: it is this worker's
    lease.watch({
      doubt: () => {
        if (!entry.child) return;
        this.s.log(`${train.run}: the queue did not confirm this worker's lock for ${((this.s.lockMs * 3) / 4000).toFixed(1)} s (Redis unreachable?); checkpointing and stopping its training before the lock can expire`);
        entry.child.stop('SIGTERM');
      },
      expiring: () => entry.child?.stop('SIGKILL'),
    });
    const store = this.store(train);
    const dir = join(this.s.workDir, train.grid, train.run);
    rmSync(dir, { recursive: true, force: true }); // an earlier attempt's folder on this machine
    mkdirSync(dir, { recursive: true });
    const resumeFrom = await this.prepare(train, config, store, dir);
    const args = resumeFrom !== undefined ? ['--resume', dir, '--epochs', String(config.epochs)] : ['--config', join(dir, CONFIG_FILE), '--out', dir];
    args.push('--json', '--quiet');
    await job.updateProgress({ worker: this.s.name, epochs: 0, seq: 0 } satisfies JobProgress);
    if (lease.lostReason !== undefined) throw new LeaseLostError(lease.lostReason);
    if (lease.doubted) return this.handBack(job, token, train, lease, 'its lock could not be renewed in time');

    const limit = train.transport.kind === 'redis' ? Math.min(train.transport.maxBytes, this.s.maxTransferBytes) : Infinity;
    const fence = { lockKey: `${this.worker!.toKey(job.id!)}:lock`, token };
    const child = startTrainChild({
      args,
      dir,
      threads: this.s.threads,
      onFiles: async (files: RunFiles) => {
        const bytes = (files.checkpoint?.length ?? 0) + (files.metrics?.length ?? 0);
        if (bytes > limit) throw new TransferTooLargeError(train.run, bytes, limit);
        // Still ours? A worker presumed dead must not overwrite its successor's checkpoint.
        await lease.confirm();
        const seq = await store.publish(train.grid, train.run, files, fence);
        const epochs = files.metrics ? files.metrics.toString('utf8').split('\n').filter((l) => l.trim() !== '').length : 0;
        await job.updateProgress({ worker: this.s.name, epochs, seq } satisfies JobProgress);
      },
    });
    entry.child = child;
    this.s.log(`start ${train.run}${resumeFrom !== undefined ? ` (resuming from ${resumeFrom})` : ''} (training process ${child.pid})`);
    void child.exited.then(({ code, signal }) => this.s.log(`${train.run}: training process ${child.pid} ended (${code ?? signal})`));
    if (this.stopping) child.stop('SIGTERM'); // a signal came while the run was being prepared
    let exit;
    try {
      exit = await child.done;
    } catch (err) {
      if (err instanceof TransferTooLargeError) throw new UnrecoverableError(err.message); // the same on every attempt
      throw err;
    }
    if (lease.lostReason !== undefined) throw new LeaseLostError(lease.lostReason);
    if (exit.code === 0 && exit.result) {
      await lease.confirm(); // the result is reported by the lock's holder only (BullMQ completes it next)
      rmSync(dir, { recursive: true, force: true }); // its files are published; nothing stays behind
      return { train: exit.result, wallSeconds: Number(exit.wallSeconds.toFixed(3)), resumed: resumeFrom !== undefined, worker: this.s.name };
    }
    if (lease.doubted) return this.handBack(job, token, train, lease, 'its lock could not be renewed in time');
    if (this.stopping && (exit.code === 130 || exit.code === 143 || exit.signal === 'SIGINT' || exit.signal === 'SIGTERM')) {
      return this.handBack(job, token, train, lease, 'this worker is stopping');
    }
    const reason = exit.code === null ? `killed by ${exit.signal ?? 'a signal'}` : `exit code ${exit.code}`;
    await job.log(`metaquant train ${args.join(' ')}\n${reason}\n--- stderr ---\n${exit.stderrTail}`).catch(() => {});
    const message = `${reason}: ${lastErrorLine(exit.stderrTail)}`;
    this.s.log(`FAILED ${train.run} on ${this.s.name}: ${message}`);
    throw new Error(message);
  }

  /** Its interrupt checkpoint is published (the child's last files): back to the queue, not an attempt. */
  private async handBack(job: Job, token: string, train: TrainJob, lease: RunLease, why: string): Promise<never> {
    await lease.confirm(); // throws when the lock is gone: then the run is lost, not handed back
    lease.end();
    await job.moveToWait(token);
    this.s.log(`handed ${train.run} back to the queue (${why})`);
    throw new WaitingError();
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
