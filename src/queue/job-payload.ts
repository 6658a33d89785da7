// A queue job is one grid run: its id, its validated training config and how its files travel,
// stamped with the coordinator's versions. Never command-line arguments. A worker treats every job
// as untrusted input (the queue is a network service): size first, then versions, then a strict
// schema, then the training config through the same validation `metaquant train --config` uses.
import { z } from 'zod';
import { MetaquantError } from '../util/errors.js';
import { canonicalConfigJson, parseTrainConfig, type TrainConfig } from '../config/schema.js';
import { localVersions, versionMismatch, type Versions } from './versions.js';

export const JOB_FORMAT = 'metaquant-train-job';
export const JOB_NAME = 'train';
/** A run's config is a few hundred bytes; anything near this bound is not one of ours. */
export const MAX_JOB_BYTES = 64 * 1024;

/** A job the worker will not run; recorded as a failed run with this message, never retried. */
export class RefusedJobError extends MetaquantError {
  constructor(message: string) {
    super(`job refused: ${message}`, 2);
  }
}

/** Grid ids are random hex (OUT/queue.json); run ids are folder names under OUT/runs. */
export const GRID_ID = /^[0-9a-f]{16,64}$/;
const RUN_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;

const TransportSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('redis'), maxBytes: z.number().int().positive() }),
  z.strictObject({ kind: z.literal('folder') }),
]);
export type Transport = z.infer<typeof TransportSchema>;

const VersionsSchema = z.strictObject({ metaquant: z.string().max(100), configSchema: z.string().max(100) });

const JobSchema = z.strictObject({
  format: z.literal(JOB_FORMAT),
  versions: VersionsSchema,
  grid: z.string().regex(GRID_ID, 'expected 16-64 lowercase hex digits'),
  run: z.string().regex(RUN_ID, 'expected a folder name of letters, digits, . _ - (not starting with .)'),
  config: z.record(z.string(), z.unknown()),
  transport: TransportSchema,
});

export interface TrainJob {
  format: typeof JOB_FORMAT;
  versions: Versions;
  grid: string;
  run: string;
  /** The run's validated config without `out` (the worker chooses the run folder). */
  config: TrainConfig;
  transport: Transport;
}

/** The job id: the grid's id and the run's id, so re-adding a run of the same grid never duplicates it. */
export const jobId = (grid: string, run: string) => `${grid}/${run}`;

export function makeJob(grid: string, run: string, config: TrainConfig, transport: Transport): TrainJob {
  const { out: _out, ...rest } = config;
  const job: TrainJob = { format: JOB_FORMAT, versions: localVersions(), grid, run, config: rest, transport };
  const bytes = Buffer.byteLength(JSON.stringify(job));
  if (bytes > MAX_JOB_BYTES) throw new MetaquantError(`run ${run}: its job would be ${bytes} bytes, more than the ${MAX_JOB_BYTES} a worker accepts`);
  return job;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validates a job's data as received. Throws RefusedJobError naming what is wrong: too large,
 * other versions, not a job, or a config that `metaquant train` would not accept. Paths in the
 * config are checked against the worker's data roots separately (data-roots.ts).
 */
export function parseJob(data: unknown): TrainJob {
  let bytes: number;
  try {
    bytes = Buffer.byteLength(JSON.stringify(data) ?? '');
  } catch {
    throw new RefusedJobError('its data cannot be serialised as JSON');
  }
  if (bytes > MAX_JOB_BYTES) throw new RefusedJobError(`its data is ${bytes} bytes; a training job is at most ${MAX_JOB_BYTES} bytes`);
  if (!isRecord(data)) throw new RefusedJobError(`expected an object {format: '${JOB_FORMAT}', …}, got ${Array.isArray(data) ? 'an array' : typeof data}`);
  // Versions first: a job from another version may fail the schema for reasons its version explains.
  const versions = VersionsSchema.safeParse(data.versions);
  if (!versions.success) throw new RefusedJobError(`it does not say which metaquant made it (expected versions: {metaquant, configSchema}); is it a metaquant ${JOB_FORMAT}?`);
  const mismatch = versionMismatch(versions.data, localVersions(), 'the coordinator that queued it', 'this worker');
  if (mismatch) throw new RefusedJobError(mismatch);
  const parsed = JobSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.join('.') || '(top level)';
    const what = issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.map((k) => `'${k}'`).join(', ')} (a job carries only format, versions, grid, run, config, transport)` : issue.message;
    throw new RefusedJobError(`not a valid ${JOB_FORMAT}: ${where}: ${what}`);
  }
  const job = parsed.data;
  if (Object.prototype.hasOwnProperty.call(job.config, 'out')) throw new RefusedJobError(`config.out is set; the worker chooses the run folder (a job may not name where to write)`);
  let config: TrainConfig;
  try {
    config = parseTrainConfig(job.config);
  } catch (err) {
    if (err instanceof MetaquantError) throw new RefusedJobError(`run ${job.run}: ${err.message}`);
    throw err;
  }
  return { ...job, config };
}

/** The config's identity with its file paths left out (they differ between machines). */
export function configIdentity(config: TrainConfig): string {
  const { dataDir: _d, init: _i, dataset, ...rest } = config;
  return canonicalConfigJson({ ...rest, dataset: dataset.trim().toLowerCase().startsWith('idx:') ? 'idx:' : dataset } as TrainConfig);
}
