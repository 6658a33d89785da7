// The queue is a network service: a worker refuses hostile jobs (recorded as failed, never retried,
// nothing written), failing runs end failed after a bounded number of attempts without blocking
// the grid, and coordinator and worker refuse each other's other versions and missing transports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { parseTrainConfig } from '../../src/config/schema.js';
import { makeJob, jobId, JOB_NAME } from '../../src/queue/job-payload.js';
import { parseQueueUrl } from '../../src/queue/redis-url.js';
import { QUEUE_PREFIX, DEFAULT_QUEUE_NAME } from '../../src/queue/protocol.js';
import { TestRedis, haveRedis } from '../helpers/redis-server.js';
import { CliProcess } from '../helpers/cli-process.js';

// Skipped where redis-server is missing, except in CI (which installs it): there a missing server fails.
const skip = haveRedis() || process.env.CI ? false : 'redis-server is not installed (apt-get install redis-server)';
const root = mkdtempSync(join(tmpdir(), 'mq-hostile-'));
const dataRoot = join(root, 'data');
const work = join(root, 'work');
const redis = new TestRedis();
let worker: CliProcess;
let queue: Queue;
let client: Redis;
const GRID = '00112233445566778899aabbccddeeff';
const TINY = { dataset: 'synthetic:8x8x1:4:64:16', model: 'mlp', hidden: [4], batchSize: 16, epochs: 1 };

before(async () => {
  if (skip) return;
  mkdirSync(join(dataRoot, 'inside'), { recursive: true });
  symlinkSync('/etc', join(dataRoot, 'escape')); // a link inside the root that leads out of it
  await redis.start();
  const { connection } = parseQueueUrl(redis.url);
  queue = new Queue(DEFAULT_QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
  client = new Redis(connection);
  worker = new CliProcess('worker', ['worker', '--queue', redis.url, '--name', 'guard', '--data-root', dataRoot, '--work-dir', work, '--stalled-after', '3']);
  await worker.waitFor(/waiting for runs/);
});

after(async () => {
  worker?.kill('SIGTERM');
  await worker?.exited;
  await queue?.close();
  client?.disconnect();
  await redis.stop();
});

/** Adds raw job data (as anyone with access to Redis could) and waits for the job to end. */
async function submit(run: string, data: unknown): Promise<{ state: string; reason: string; attempts: number }> {
  const id = jobId(GRID, run);
  await queue.add(JOB_NAME, data, { jobId: id, attempts: 3 });
  for (;;) {
    const state = await queue.getJobState(id); // the state first: a job read before it is final lacks failedReason
    if (state === 'failed' || state === 'completed') {
      const job = (await queue.getJob(id))!;
      return { state, reason: job.failedReason ?? '', attempts: job.attemptsMade };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const valid = (run: string, extra: Record<string, unknown> = {}) => makeJob(GRID, run, parseTrainConfig({ ...TINY, ...extra }), { kind: 'redis', maxBytes: 2 ** 20 });

test('hostile jobs are refused with a clear reason, recorded as failed at once, and nothing is written for them', { skip }, async () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['unknown-key', { ...valid('unknown-key'), config: { ...valid('x').config, lrStpe: 3 } }, /lrStpe: unknown key \(did you mean 'lrStep'\?\)/],
    ['argv', { ...valid('argv'), args: ['--lr', '1', '--out', '/tmp'] }, /unknown key\(s\) 'args'/],
    ['outside-root', valid('outside-root', { dataset: 'idx:/etc' }), /config\.dataset \(idx:DIR\) '\/etc' is not inside this worker's data roots/],
    ['dot-dot', valid('dot-dot', { dataDir: '../../../../etc' }), /config\.dataDir '\.\.\/\.\.\/\.\.\/\.\.\/etc' is not inside this worker's data roots/],
    ['symlink', valid('symlink', { dataDir: 'escape' }), /config\.dataDir 'escape' is not inside/],
    ['init', valid('init', { init: '/etc/passwd' }), /config\.init '\/etc\/passwd' is not inside/],
    ['out', { ...valid('out'), config: { ...valid('x').config, out: join(root, 'evil') } }, /worker chooses the run folder/],
    ['oversize', { ...valid('oversize'), config: { ...valid('x').config, dataset: 'x'.repeat(100_000) } }, /its data is \d+ bytes; a training job is at most 65536 bytes/],
    ['old-version', { ...valid('old-version'), versions: { metaquant: '0.0.1', configSchema: 'feedfacefeedface' } }, /the coordinator that queued it runs metaquant 0\.0\.1 .*install the same metaquant/],
    ['no-version', { format: 'metaquant-train-job', grid: GRID, run: 'no-version', config: {} }, /does not say which metaquant made it/],
    ['bad-value', { ...valid('bad-value'), config: { ...valid('x').config, bits: 99 } }, /bits: .*8/],
    ['not-object', 'rm -rf /', /expected an object/],
  ];
  for (const [run, data, reason] of cases) {
    const r = await submit(run, data);
    assert.equal(r.state, 'failed', `${run}: ${r.reason}`);
    assert.match(r.reason, /^job refused: /, run);
    assert.match(r.reason, reason, run);
    assert.equal(r.attempts, 1, `${run}: refused once, not retried`);
    assert.ok(!existsSync(join(work, GRID, run)), `${run}: no run folder was made`);
  }
  assert.ok(!existsSync(join(root, 'evil')));
  assert.ok(!worker.output.includes(redis.password));
  // A sound job between them still trains, reading data from inside the root only.
  const ok = await submit('sound', valid('sound'));
  assert.equal(ok.state, 'completed', ok.reason);
  assert.deepEqual(readdirSync(join(work, GRID)), [], 'the finished run folder is cleaned up once its files are published');
});

test('a failing run is reported failed with its error after --attempts, and the grid completes around it', { skip }, async () => {
  const out = join(root, 'grid-nan');
  // The second method sees an all-NaN batch at step 3; --on-nan stop (the default) ends that run.
  const grid = new CliProcess('compare', ['compare', '--queue', redis.url, '--methods', 'ste,ste+inject-nan=3', '--epochs', '1', '--attempts', '2', '--out', out,
    '--dataset', 'synthetic:8x8x1:4:128:16', '--model', 'mlp', '--hidden', '4', '--batch-size', '16']);
  assert.equal(await grid.exited, 1, grid.output);
  assert.match(grid.output, /FAILED ste\+inject-nan=3 \/ dorefa \/ adam \/ seed 1: exit code 1: metaquant: training stopped: the loss.* became NaN\/Inf at epoch 1, step 3/);
  assert.match(grid.output, /1 run\(s\) finished now, 0 already finished, 1 failed/);
  const failedId = readdirSync(join(out, 'runs')).find((d) => d.includes('inject'))!;
  const log = readFileSync(join(out, 'runs', failedId, 'error.log'), 'utf8');
  assert.match(log, /failed in the queue after 2 attempt\(s\), last on guard/);
  assert.match(log, /--- worker log ---/);
  assert.equal(worker.lines(new RegExp(`FAILED ${failedId.replace(/[+]/g, '\\+')}`)).length, 2, 'exactly --attempts tries');
  assert.match(readFileSync(join(out, 'summary.md'), 'utf8'), /\| ste\+inject-nan=3 \| dorefa \| adam \| 0 \(1 failed, 0 unfinished\) \|/);
});

test('run files above the Redis bound fail the run with a message naming --artifacts', { skip }, async () => {
  const out = join(root, 'grid-big');
  const grid = new CliProcess('compare', ['compare', '--queue', redis.url, '--methods', 'ste', '--epochs', '1', '--max-transfer', '0.001', '--out', out,
    '--dataset', 'synthetic:8x8x1:4:64:16', '--model', 'mlp', '--hidden', '4', '--batch-size', '16']);
  assert.equal(await grid.exited, 1, grid.output);
  assert.match(grid.output, /its files are [\d.]+ MiB, above the 0\.0 MiB that may pass through Redis \(--max-transfer\); give the coordinator and every worker a shared folder with --artifacts DIR/);
});

test('versions, transports and credentials are checked with clear messages', { skip }, async () => {
  const out = join(root, 'grid-v');
  const args = ['--methods', 'ste', '--epochs', '1', '--out', out, '--dataset', 'synthetic:8x8x1:4:64:16', '--model', 'mlp', '--hidden', '4'];
  // A worker of another metaquant is signed in: the coordinator refuses to queue.
  const key = `${QUEUE_PREFIX}:${DEFAULT_QUEUE_NAME}:workers`;
  // It beats as a live worker does (a single entry would count as gone after 20 s on a loaded machine).
  const beat = () => client.hset(key, 'old-worker', JSON.stringify({ versions: { metaquant: '0.0.1', configSchema: 'feedfacefeedface' }, host: 'elsewhere', pid: 1, concurrency: 1, seen: Date.now() }));
  await beat();
  const heartbeat = setInterval(() => void beat(), 2000);
  const refused = new CliProcess('compare', ['compare', '--queue', redis.url, ...args]);
  const refusedCode = await refused.exited;
  clearInterval(heartbeat);
  assert.equal(refusedCode, 2, refused.output);
  assert.match(refused.output, /worker old-worker \(on elsewhere\) runs metaquant 0\.0\.1 \(config schema feedfacefeedface\) and this coordinator metaquant \S+ .*install the same metaquant/);
  await client.hdel(key, 'old-worker');

  const wrong = new CliProcess('compare', ['compare', '--queue', redis.url.replace(redis.password, 'not-the-password'), ...args]);
  assert.equal(await wrong.exited, 1, wrong.output);
  assert.match(wrong.output, /the queue at redis:\/\/mq-test:\*\*\*@127\.0\.0\.1:\d+ refused the connection: WRONGPASS/);
  assert.ok(!wrong.output.includes('not-the-password'));

  const noTransport = new CliProcess('compare', ['compare', '--queue', redis.url, '--max-transfer', '0', ...args]);
  assert.equal(await noTransport.exited, 2);
  assert.match(noTransport.output, /no way to bring the runs back: give --artifacts DIR/);
  const workerNoTransport = new CliProcess('worker', ['worker', '--queue', redis.url, '--max-transfer', '0']);
  assert.equal(await workerNoTransport.exited, 2);
  assert.match(workerNoTransport.output, /this worker has no way to send runs back: give --artifacts DIR .* a worker never keeps results only on its own disk/);
  for (const p of [refused, wrong, noTransport, workerNoTransport]) assert.ok(!p.output.includes(redis.password), `${p.label} printed the password`);
});
