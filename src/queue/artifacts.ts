// How a run's files travel between a worker and the coordinator: the worker publishes its latest
// checkpoint.mqc and metrics.jsonl after each checkpoint; the coordinator copies them into OUT/runs/<id>
// and, when a run must resume elsewhere, a worker reads the checkpoint back. Two transports:
//   - through Redis (one hash per run), bounded by --max-transfer so a large model cannot fill
//     the server's memory;
//   - a folder every machine mounts (--artifacts DIR: NFS, SMB, a cloud-disk mount), for models
//     whose checkpoints are too large to pass through Redis.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { MetaquantError } from '../util/errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export interface RunFiles {
  checkpoint?: Buffer;
  metrics?: Buffer;
}

/** The files as last published, and their sequence number (1, 2, …; 0 = nothing published). */
export interface StoredRunFiles extends RunFiles {
  seq: number;
}

/**
 * A worker's proof that the run is still its own: BullMQ's lock key and the worker's token. The
 * Redis store publishes only if the key still holds the token (one script, so atomically); the
 * folder store cannot check Redis atomically and relies on the worker's lease (lease.ts).
 */
export interface Fence {
  lockKey: string;
  token: string;
}

/** A fenced publish found the run's lock in other hands: nothing was written. */
export class FencedOffError extends MetaquantError {}

export interface ArtifactStore {
  /** For messages: 'Redis (at most 64 MiB a run)' or the folder. */
  readonly description: string;
  publish(grid: string, run: string, files: RunFiles, fence?: Fence): Promise<number>;
  sequence(grid: string, run: string): Promise<number>;
  fetch(grid: string, run: string): Promise<StoredRunFiles | undefined>;
  remove(grid: string, run: string): Promise<void>;
  close(): Promise<void>;
}

export const MiB = 2 ** 20;
export const DEFAULT_MAX_TRANSFER_MIB = 64;

const size = (f: RunFiles) => (f.checkpoint?.length ?? 0) + (f.metrics?.length ?? 0);

/** A run's files exceed what may go through Redis. */
export class TransferTooLargeError extends MetaquantError {
  constructor(run: string, bytes: number, maxBytes: number) {
    super(
      `run ${run}: its files are ${(bytes / MiB).toFixed(1)} MiB, above the ${(maxBytes / MiB).toFixed(1)} MiB that may pass through Redis (--max-transfer); ` +
        `give the coordinator and every worker a shared folder with --artifacts DIR, or raise --max-transfer on both`,
    );
  }
}

/** KEYS: lock, files hash; ARGV: token, has checkpoint, checkpoint, has metrics, metrics. */
const FENCED_PUBLISH = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if ARGV[2] == '1' then redis.call('HSET', KEYS[2], 'checkpoint', ARGV[3]) end
if ARGV[4] == '1' then redis.call('HSET', KEYS[2], 'metrics', ARGV[5]) end
return redis.call('HINCRBY', KEYS[2], 'seq', 1)`;

export class RedisArtifacts implements ArtifactStore {
  readonly description: string;

  /** `redis` is the caller's client (it reconnects on its own; commands wait for it). */
  constructor(
    private readonly redis: Redis,
    private readonly namespace: string,
    private readonly maxBytes: number,
  ) {
    this.description = `Redis (at most ${(maxBytes / MiB).toFixed(0)} MiB a run)`;
  }

  private key(grid: string, run: string): string {
    return `${this.namespace}:files:${grid}:${run}`;
  }

  async publish(grid: string, run: string, files: RunFiles, fence?: Fence): Promise<number> {
    if (size(files) > this.maxBytes) throw new TransferTooLargeError(run, size(files), this.maxBytes);
    const key = this.key(grid, run);
    if (fence) {
      const has = (b?: Buffer) => (b ? ['1', b] : ['0', '']);
      const seq = Number(await this.redis.eval(FENCED_PUBLISH, 2, fence.lockKey, key, fence.token, ...has(files.checkpoint), ...has(files.metrics)));
      if (seq < 0) throw new FencedOffError(`run ${run}: its lock is no longer this worker's; its files were not published`);
      return seq;
    }
    const fields: Record<string, Buffer> = {};
    if (files.checkpoint) fields.checkpoint = files.checkpoint;
    if (files.metrics) fields.metrics = files.metrics;
    const replies = await this.redis.multi().hset(key, fields).hincrby(key, 'seq', 1).exec();
    const failed = replies?.find(([err]) => err);
    if (!replies || failed) throw new MetaquantError(`could not store run ${run}'s files in Redis: ${failed?.[0]?.message ?? 'transaction aborted'}`);
    return Number(replies[1]![1]);
  }

  async sequence(grid: string, run: string): Promise<number> {
    return Number((await this.redis.hget(this.key(grid, run), 'seq')) ?? 0);
  }

  async fetch(grid: string, run: string): Promise<StoredRunFiles | undefined> {
    const key = this.key(grid, run);
    // Lengths first: a value above the bound (a hostile or misconfigured writer) is never loaded.
    const [checkpointBytes, metricsBytes] = await Promise.all([this.redis.hstrlen(key, 'checkpoint'), this.redis.hstrlen(key, 'metrics')]);
    if (checkpointBytes + metricsBytes > this.maxBytes) throw new TransferTooLargeError(run, checkpointBytes + metricsBytes, this.maxBytes);
    const [seq, checkpoint, metrics] = await this.redis.hmgetBuffer(key, 'seq', 'checkpoint', 'metrics');
    if (!seq) return undefined;
    return { seq: Number(seq.toString()), ...(checkpoint ? { checkpoint } : {}), ...(metrics ? { metrics } : {}) };
  }

  async remove(grid: string, run: string): Promise<void> {
    await this.redis.del(this.key(grid, run));
  }

  async close(): Promise<void> {}
}

const CHECKPOINT = 'checkpoint.mqc';
const METRICS = 'metrics.jsonl';
const SEQ = 'seq';

export class FolderArtifacts implements ArtifactStore {
  readonly description: string;

  constructor(private readonly dir: string) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new MetaquantError(`--artifacts ${dir}: no such folder (it must be a folder every machine of the grid mounts)`, 2);
    this.description = `the shared folder ${dir}`;
  }

  private folder(grid: string, run: string): string {
    return join(this.dir, grid, run);
  }

  async publish(grid: string, run: string, files: RunFiles, _fence?: Fence): Promise<number> {
    const folder = this.folder(grid, run);
    mkdirSync(folder, { recursive: true });
    const seq = (await this.sequence(grid, run)) + 1;
    if (files.checkpoint) writeFileAtomic(join(folder, CHECKPOINT), files.checkpoint);
    if (files.metrics) writeFileAtomic(join(folder, METRICS), files.metrics);
    writeFileAtomic(join(folder, SEQ), `${seq}\n`); // last: a reader that sees it sees the files
    return seq;
  }

  async sequence(grid: string, run: string): Promise<number> {
    try {
      const n = Number(readFileSync(join(this.folder(grid, run), SEQ), 'utf8').trim());
      return Number.isInteger(n) && n > 0 ? n : 0;
    } catch {
      return 0;
    }
  }

  async fetch(grid: string, run: string): Promise<StoredRunFiles | undefined> {
    const seq = await this.sequence(grid, run);
    if (seq === 0) return undefined;
    const read = (name: string) => {
      const file = join(this.folder(grid, run), name);
      return existsSync(file) ? readFileSync(file) : undefined;
    };
    const checkpoint = read(CHECKPOINT);
    const metrics = read(METRICS);
    return { seq, ...(checkpoint ? { checkpoint } : {}), ...(metrics ? { metrics } : {}) };
  }

  async remove(grid: string, run: string): Promise<void> {
    rmSync(this.folder(grid, run), { recursive: true, force: true });
  }

  async close(): Promise<void> {}
}
