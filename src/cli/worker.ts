import { Command, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { UsageError } from '../util/errors.js';
import { parseInteger, parseNumber } from './options.js';
import { QueueWorker, defaultWorkerName } from '../queue/worker.js';
import { parseQueueUrl, PASSWORD_ENV } from '../queue/redis-url.js';
import { DEFAULT_QUEUE_NAME, QUEUE_NAME } from '../queue/protocol.js';
import { DEFAULT_MAX_TRANSFER_MIB, MiB } from '../queue/artifacts.js';

const HELP = `
A worker takes runs queued by 'metaquant compare --queue URL', trains each with a 'metaquant train'
child (the same code), publishes each checkpoint so that another worker can resume the run, and sends
the run's files back: through Redis (at most --max-transfer MiB a run) or through a folder shared
with the coordinator (--artifacts DIR). Jobs are untrusted: a job is a run id and a training config,
checked like 'train --config'; data is read only from the built-in data sets and --data-root folders;
files are written only to this worker's run folders (--work-dir) and the --artifacts folder.
SIGINT/SIGTERM: running children checkpoint, their jobs go back to the queue, the worker exits.
The password may be given in ${PASSWORD_ENV} instead of the URL (the command line is visible to ps).`;

function existingFolder(flag: string, dir: string): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${flag} ${dir}: no such folder`);
  return resolve(dir);
}

export function workerCommand(): Command {
  const cmd = new Command('worker').description('train queued grid runs (compare --queue) on this machine');
  cmd
    .requiredOption('--queue <url>', 'Redis: redis://[user:password@]host[:port][/db], or rediss:// for TLS')
    .option('--queue-name <name>', 'queue to serve (compare --queue-name)', DEFAULT_QUEUE_NAME)
    .option('--concurrency <n>', 'runs trained at once (one training process each)', parseInteger, 1)
    .option('--threads <n>', "native-kernel threads per training process (METAQUANT_THREADS); default: the process's own choice", parseInteger)
    .option('--data-root <dir>', 'a folder jobs may read data from (repeatable); default: the built-in data sets only', (v: string, prev: string[] = []) => [...prev, v])
    .option('--artifacts <dir>', 'a folder shared with the coordinator, for run files (instead of Redis)')
    .option('--max-transfer <MiB>', 'largest run files sent through Redis; 0 = never through Redis (needs --artifacts)', parseNumber, DEFAULT_MAX_TRANSFER_MIB)
    .option('--work-dir <dir>', 'where this worker trains (one folder per run); default: a temporary folder')
    .option('--name <name>', 'worker name shown in the coordinator\'s progress; default HOST-PID')
    .addOption(new Option('--stalled-after <seconds>', 'a run whose worker gave no sign of life for this long goes to another worker (BullMQ lock)').argParser(parseNumber).default(30));
  cmd.addHelpText('after', HELP);
  cmd.action(async (o: Record<string, unknown>) => {
    const concurrency = o.concurrency as number;
    if (concurrency < 1) throw new UsageError(`--concurrency must be at least 1, got ${concurrency}`);
    const threads = o.threads as number | undefined;
    if (threads !== undefined && threads < 1) throw new UsageError(`--threads must be at least 1, got ${threads}`);
    const maxTransfer = o.maxTransfer as number;
    if (!(maxTransfer >= 0)) throw new UsageError(`--max-transfer must be 0 or more MiB, got ${maxTransfer}`);
    const stalledAfter = o.stalledAfter as number;
    if (!(stalledAfter >= 1)) throw new UsageError(`--stalled-after must be at least 1 second, got ${stalledAfter}`);
    const queueName = String(o.queueName);
    if (!QUEUE_NAME.test(queueName)) throw new UsageError(`--queue-name '${queueName}': use 1-64 letters, digits, _ or -`);
    const name = (o.name as string | undefined) ?? defaultWorkerName();
    if (!/^[A-Za-z0-9._:@-]{1,100}$/.test(name)) throw new UsageError(`--name '${name}': use 1-100 letters, digits and . _ : @ -`);
    const worker = new QueueWorker({
      address: parseQueueUrl(String(o.queue)),
      queueName,
      name,
      concurrency,
      threads,
      dataRoots: ((o.dataRoot as string[] | undefined) ?? []).map((d) => existingFolder('--data-root', d)),
      workDir: resolve((o.workDir as string | undefined) ?? join(tmpdir(), `metaquant-worker-${name}`)),
      artifactsDir: o.artifacts !== undefined ? existingFolder('--artifacts', String(o.artifacts)) : undefined,
      maxTransferBytes: Math.floor(maxTransfer * MiB),
      lockMs: Math.round(stalledAfter * 1000),
      log: (line) => process.stderr.write(`metaquant worker: ${line}\n`),
    });
    await worker.start();
    await new Promise<void>((done) => {
      let stopping = false;
      const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
        if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143); // a second signal: at once (checkpoints are atomic)
        stopping = true;
        worker.stop(signal).then(done, (err: unknown) => {
          process.stderr.write(`metaquant worker: while stopping: ${(err as Error).message}\n`);
          done();
        });
      };
      process.on('SIGINT', () => onSignal('SIGINT'));
      process.on('SIGTERM', () => onSignal('SIGTERM'));
    });
    process.stderr.write('metaquant worker: stopped\n');
  });
  return cmd;
}
