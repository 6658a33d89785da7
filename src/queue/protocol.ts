// What coordinator and workers say to each other besides the job itself: the job's progress
// (which worker, how many epochs, which published files), its return value, and the workers'
// sign-in (name, versions, heartbeat) that lets the coordinator check versions before queuing.
import { hostname } from 'node:os';
import { z } from 'zod';
import type { Redis } from 'ioredis';
import { TrainJsonSchema } from '../compare/runner.js';
import { MetaquantError } from '../util/errors.js';
import { localVersions, type Versions } from './versions.js';

/** BullMQ's key prefix for metaquant's queues (and metaquant's own keys beside them). */
export const QUEUE_PREFIX = 'metaquant';
export const DEFAULT_QUEUE_NAME = 'grids';
/** The queue names a user may pick (they become parts of Redis keys). */
export const QUEUE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export const JobProgressSchema = z.object({
  worker: z.string().max(200),
  /** Epochs in the run's metrics.jsonl as last published. */
  epochs: z.number().int().min(0),
  /** The published files' sequence number (0: none yet). */
  seq: z.number().int().min(0),
});
export type JobProgress = z.infer<typeof JobProgressSchema>;

export const JobReturnSchema = z.object({
  train: TrainJsonSchema,
  wallSeconds: z.number(),
  resumed: z.boolean(),
  worker: z.string().max(200),
});
export type JobReturn = z.infer<typeof JobReturnSchema>;

const WorkerInfoSchema = z.object({
  versions: z.object({ metaquant: z.string(), configSchema: z.string() }),
  host: z.string(),
  pid: z.number(),
  concurrency: z.number(),
  seen: z.number(),
});
export type WorkerInfo = z.infer<typeof WorkerInfoSchema> & { name: string };

const HEARTBEAT_MS = 5_000;
/** A worker not heard from for this long is gone (killed, or its machine is). */
const LIVE_MS = 20_000;

const workersKey = (queueName: string) => `${QUEUE_PREFIX}:${queueName}:workers`;

/** Signs a worker in and keeps its entry fresh; the returned function signs it out. */
export async function registerWorker(redis: Redis, queueName: string, name: string, concurrency: number): Promise<() => Promise<void>> {
  const beat = () => {
    const info = { versions: localVersions(), host: hostname(), pid: process.pid, concurrency, seen: Date.now() };
    return redis.hset(workersKey(queueName), name, JSON.stringify(info)).catch(() => 0); // Redis away: the next beat retries
  };
  await beat();
  const timer = setInterval(beat, HEARTBEAT_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await redis.hdel(workersKey(queueName), name).catch(() => 0);
  };
}

/** The workers heard from recently; malformed entries are skipped. */
export async function liveWorkers(redis: Redis, queueName: string, now = Date.now()): Promise<WorkerInfo[]> {
  const entries = await redis.hgetall(workersKey(queueName));
  const workers: WorkerInfo[] = [];
  for (const [name, text] of Object.entries(entries)) {
    try {
      const parsed = WorkerInfoSchema.safeParse(JSON.parse(text));
      if (parsed.success && now - parsed.data.seen < LIVE_MS) workers.push({ name, ...parsed.data });
    } catch {
      // not one of ours
    }
  }
  return workers.sort((a, b) => a.name.localeCompare(b.name));
}

/** Pings Redis until it answers or the timeout; the error names the (redacted) URL and Redis's answer. */
export async function connectOrExplain(redis: Redis, display: string, timeoutMs: number): Promise<void> {
  let lastError = 'no answer';
  const onError = (err: Error) => (lastError = err.message);
  redis.on('error', onError);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new MetaquantError(`cannot reach the queue at ${display} within ${timeoutMs / 1000} s: ${lastError}`)), timeoutMs);
  });
  try {
    await Promise.race([redis.ping(), timeout]);
  } catch (err) {
    if (err instanceof MetaquantError) throw err;
    throw new MetaquantError(`the queue at ${display} refused the connection: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
    redis.off('error', onError);
  }
}

/** Closes a client: politely when connected, at once when not (QUIT would wait for a connection forever). */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status !== 'ready') return void redis.disconnect();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([redis.quit().catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
  clearTimeout(timer);
  redis.disconnect();
}

export type { Versions };
