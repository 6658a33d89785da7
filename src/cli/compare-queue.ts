// compare's `--queue` mode: its flags, their validation, and the hand-over to the coordinator.
import { Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../util/errors.js';
import { parseInteger, parseNumber } from './options.js';
import type { RunSpec } from '../compare/grid.js';
import type { GridOutcome, RunEvent } from '../compare/runner.js';
import { runQueuedGrid, type QueueGridOptions } from '../queue/coordinator.js';
import { parseQueueUrl, PASSWORD_ENV } from '../queue/redis-url.js';
import { DEFAULT_QUEUE_NAME, QUEUE_NAME } from '../queue/protocol.js';
import { DEFAULT_MAX_TRANSFER_MIB, MiB } from '../queue/artifacts.js';

export const QUEUE_HELP = `
--queue URL trains the runs on workers ('metaquant worker --queue URL' on any number of machines)
instead of child processes here: redis://[user:password@]host[:port][/db], or rediss:// (TLS); the
password may be given in ${PASSWORD_ENV} instead. The run files come back through Redis (at most
--max-transfer MiB a run) or through a folder every machine shares (--artifacts DIR, this machine's
path to it). OUT/ is the same as a local grid's. Ctrl-C or a crash leaves the runs queued; rerun the
same command to follow them again.`;

export function queueOptions(): Option[] {
  return [
    new Option('--queue <url>', 'train on queue workers: Redis URL redis://[user:password@]host[:port][/db] or rediss:// (see below)'),
    new Option('--queue-name <name>', `queue the workers serve (default ${DEFAULT_QUEUE_NAME})`),
    new Option('--artifacts <dir>', '--queue: a folder shared with the workers for run files (instead of Redis)'),
    new Option('--max-transfer <MiB>', `--queue: largest run files sent through Redis (default ${DEFAULT_MAX_TRANSFER_MIB}; 0 = never, needs --artifacts)`).argParser(parseNumber),
    new Option('--attempts <n>', '--queue: tries per run before it counts as failed (default 3)').argParser(parseInteger),
  ];
}

export type QueueSettings = Omit<QueueGridOptions, 'onEvent' | 'log' | 'signal'>;

/** The queue flags checked before anything is written; undefined without --queue. */
export function queueSettings(o: Record<string, unknown>): QueueSettings | undefined {
  if (o.queue === undefined) {
    for (const flag of ['queueName', 'artifacts', 'maxTransfer', 'attempts']) {
      if (o[flag] !== undefined) throw new UsageError(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} applies to --queue only`);
    }
    return undefined;
  }
  if (o.jobs !== undefined) throw new UsageError('--jobs applies to local grids; with --queue, each worker\'s --concurrency says how many runs it trains at once');
  const queueName = (o.queueName as string | undefined) ?? DEFAULT_QUEUE_NAME;
  if (!QUEUE_NAME.test(queueName)) throw new UsageError(`--queue-name '${queueName}': use 1-64 letters, digits, _ or -`);
  const attempts = (o.attempts as number | undefined) ?? 3;
  if (attempts < 1) throw new UsageError(`--attempts must be at least 1, got ${attempts}`);
  const maxTransfer = (o.maxTransfer as number | undefined) ?? DEFAULT_MAX_TRANSFER_MIB;
  if (!(maxTransfer >= 0)) throw new UsageError(`--max-transfer must be 0 or more MiB, got ${maxTransfer}`);
  let transport: QueueSettings['transport'];
  if (o.artifacts !== undefined) {
    const dir = resolve(String(o.artifacts));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--artifacts ${dir}: no such folder (it must be a folder the workers share)`);
    transport = { kind: 'folder', dir };
  } else if (maxTransfer > 0) {
    transport = { kind: 'redis', maxBytes: Math.floor(maxTransfer * MiB) };
  } else {
    throw new UsageError('--queue with --max-transfer 0 has no way to bring the runs back: give --artifacts DIR (a folder the workers share) or allow files through Redis (--max-transfer MiB > 0)');
  }
  return { address: parseQueueUrl(String(o.queue)), queueName, transport, attempts };
}

export function runOnQueue(
  out: string,
  runs: RunSpec[],
  settings: QueueSettings,
  hooks: { onEvent(e: RunEvent): void; signal: AbortSignal; log(line: string): void },
): Promise<GridOutcome> {
  return runQueuedGrid(out, runs, { ...settings, ...hooks });
}
