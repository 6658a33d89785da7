// compare --queue with real workers on a real Redis (started here): the grid's results equal the
// same grid run locally, bit for bit, through a worker killed with SIGKILL mid-run, a worker
// stopped with SIGTERM, Redis down for longer than the workers' locks and the coordinator killed
// and restarted; no run is ever trained by two workers at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint } from '../../src/run/checkpoint.js';
import { TestRedis, haveRedis } from '../helpers/redis-server.js';
import { CliProcess, exists, until } from '../helpers/cli-process.js';

// Skipped where redis-server is missing, except in CI (which installs it): there a missing server fails.
const skip = haveRedis() || process.env.CI ? false : 'redis-server is not installed (apt-get install redis-server)';
const root = mkdtempSync(join(tmpdir(), 'mq-queue-'));
const redis = new TestRedis();
// 6 runs of 2 epochs × 256 steps, a checkpoint every 16 steps: long enough that a kill after the
// first published checkpoint lands mid-run, short enough for the suite.
const GRID = ['--methods', 'ste,clipped-ste', '--seeds', '1,2,3', '--epochs', '2', '--quiet',
  '--dataset', 'synthetic:8x8x1:4:4096:64', '--model', 'mlp', '--hidden', '8', '--batch-size', '16', '--lr', '0.01', '--checkpoint-every', '16'];
const IDS = ['ste', 'clipped-ste'].flatMap((m) => [1, 2, 3].map((s) => `${m}__dorefa__adam__s${s}`));
const local = join(root, 'local');
const workers: CliProcess[] = [];
/** The workers' lock duration (--stalled-after), seconds. */
const LOCK_S = 3;

function startWorker(name: string, extra: string[] = []): CliProcess {
  const w = new CliProcess(name, ['worker', '--queue', redis.url, '--name', name, '--stalled-after', String(LOCK_S), '--work-dir', join(root, 'work', name), ...extra]);
  workers.push(w);
  return w;
}

before(async () => {
  if (skip) return;
  await redis.start();
  const grid = new CliProcess('local compare', ['compare', ...GRID, '--jobs', '2', '--out', local]);
  assert.equal(await grid.exited, 0, grid.output);
});

after(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  await redis.stop();
});

/** summary.json without its timings. */
function summaryWithoutTimes(dir: string): unknown {
  const strip = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(strip) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([k]) => !/seconds/i.test(k)).map(([k, x]) => [k, strip(x)])) : v;
  return strip(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')));
}

function metricsWithoutTimes(dir: string, id: string): unknown[] {
  return readFileSync(join(dir, 'runs', id, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
    const { seconds: _s, imagesPerSecond: _i, ...rest } = JSON.parse(l);
    return rest;
  });
}

function params(dir: string, id: string): Record<string, Float32Array> {
  const payload = readCheckpoint(join(dir, 'runs', id)) as { params: Record<string, { data: Float32Array }> };
  return Object.fromEntries(Object.entries(payload.params).map(([k, v]) => [k, v.data]));
}

/** The queue grid's OUT equals the local one: summary (timings aside), every run's metrics and final weights bit for bit. */
function assertSameAsLocal(out: string): void {
  assert.deepEqual(summaryWithoutTimes(out), summaryWithoutTimes(local));
  for (const id of IDS) {
    assert.deepEqual(metricsWithoutTimes(out, id), metricsWithoutTimes(local, id), `${id}: metrics.jsonl`);
    const [ours, theirs] = [params(out, id), params(local, id)];
    assert.deepEqual(Object.keys(ours), Object.keys(theirs));
    for (const k of Object.keys(ours)) assert.ok(Buffer.from(ours[k]!.buffer).equals(Buffer.from(theirs[k]!.buffer)), `${id}: ${k} differs from the local run's`);
    assert.ok(exists(join(out, 'runs', id, 'config.json')) && exists(join(out, 'runs', id, 'result.json')));
  }
  assert.ok(exists(join(out, 'report.html')) && exists(join(out, 'summary.md')) && exists(join(out, 'summary.csv')));
}

/** One training process of a run on a worker, from its worker's log: started and (once logged) ended, on the test's clock. */
interface Training {
  worker: string;
  run: string;
  pid: number;
  start: number;
  end?: number;
}

function trainings(ws: CliProcess[]): Training[] {
  return ws.flatMap((w) => {
    const found: Training[] = [];
    for (const { at, line } of w.timeline) {
      const started = line.match(/start (\S+) .*\(training process (\d+)\)/);
      if (started) found.push({ worker: w.label, run: started[1]!, pid: Number(started[2]), start: at });
      const ended = line.match(/: training process (\d+) ended/);
      const t = ended && found.find((f) => f.pid === Number(ended[1]) && f.end === undefined);
      if (t) t.end = at;
    }
    return found;
  });
}

/** No run was ever trained by two processes at once: each training of a run ended before the next one started. */
function assertNeverConcurrent(ws: CliProcess[]): void {
  const all = trainings(ws);
  for (const id of IDS) {
    const runs = all.filter((t) => t.run === id).sort((a, b) => a.start - b.start);
    for (let i = 1; i < runs.length; i++) {
      const [before, next] = [runs[i - 1]!, runs[i]!];
      assert.ok(before.end !== undefined && before.end < next.start, `${id}: trained on ${next.worker} (pid ${next.pid}) while still training on ${before.worker} (pid ${before.pid})`);
    }
  }
}

/** Each run trained to the end exactly once, over all workers. */
function assertNoDuplicates(ws: CliProcess[]): void {
  for (const id of IDS) {
    const finished = ws.flatMap((w) => w.lines(new RegExp(`finished ${id}:`)));
    assert.equal(finished.length, 1, `${id} finished ${finished.length} times`);
  }
}

function assertNoPassword(out: string, processes: CliProcess[]): void {
  for (const p of processes) assert.ok(!p.output.includes(redis.password), `${p.label} printed the password`);
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
  for (const file of walk(out)) assert.ok(!readFileSync(file).includes(redis.password), `${file} holds the password`);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Waits for the worker's first run to publish a checkpoint that reached OUT mid-run; returns its id and training pid. */
async function firstRunMidway(w: CliProcess, out: string): Promise<{ id: string; pid: number }> {
  const [, id, pid] = await w.waitFor(/start (\S+) \(training process (\d+)\)/);
  const file = join(out, 'runs', id!, 'checkpoint.mqc');
  await until(`a checkpoint of ${id} in OUT`, () => exists(file));
  const saved = readCheckpoint(file) as { epochsDone: number };
  assert.ok(saved.epochsDone < 2 && !exists(join(out, 'runs', id!, 'result.json')), `${id} is still mid-run when its worker is stopped`);
  return { id: id!, pid: Number(pid) };
}

test('3 workers: the summary equals the local grid; a worker killed with SIGKILL mid-run and one stopped with SIGTERM lose nothing', { skip }, async () => {
  const out = join(root, 'queue-a');
  const [w1, w2, w3] = ['w1', 'w2', 'w3'].map((n) => startWorker(n));
  await Promise.all([w1, w2, w3].map((w) => w!.waitFor(/waiting for runs/)));
  const grid = new CliProcess('compare', ['compare', '--queue', redis.url, ...GRID, '--out', out]);

  const [killed, stopped] = await Promise.all([firstRunMidway(w1!, out), firstRunMidway(w2!, out)]);
  w1!.kill('SIGKILL');
  w2!.kill('SIGTERM');
  await until('the SIGKILLed worker\'s training process to exit with it', () => !alive(killed.pid), 30_000);
  assert.equal(await w2!.exited, 0, w2!.output);
  assert.match(w2!.output, new RegExp(`handed ${stopped.id} back to the queue`));
  assert.ok(!alive(stopped.pid));
  const w4 = startWorker('w4');

  assert.equal(await grid.exited, 0, grid.output);
  assertSameAsLocal(out);
  assertNoDuplicates([w1!, w2!, w3!, w4]);
  // Both stopped runs resumed on another worker from a checkpoint taken during the run.
  for (const { id } of [killed, stopped]) {
    const resumed = [w3!, w4].flatMap((w) => w.lines(new RegExp(`start ${id} \\(resuming from`)));
    assert.equal(resumed.length, 1, `${id} resumed once: ${resumed.join(' | ')}`);
    assert.equal(JSON.parse(readFileSync(join(out, 'runs', id, 'result.json'), 'utf8')).resumed, true);
  }
  assert.match(grid.output, /6 run\(s\) finished now, 0 already finished, 0 failed/);
  assertNoPassword(out, [grid, w1!, w2!, w3!, w4]);
});

test('Redis down for longer than the workers\' lock, and the coordinator killed and restarted: the grid completes; no run is trained by two workers at once or finished twice (shared-folder transport)', { skip }, async () => {
  const out = join(root, 'queue-b');
  const shared = join(root, 'shared');
  mkdirSync(shared);
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
  const ws = ['w5', 'w6'].map((n) => startWorker(n, ['--artifacts', shared, '--max-transfer', '0']));
  await Promise.all(ws.map((w) => w.waitFor(/waiting for runs/)));
  const args = ['compare', '--queue', redis.url, '--artifacts', shared, ...GRID, '--out', out];
  const verbose = args.filter((a) => a !== '--quiet');
  const first = new CliProcess('compare', verbose);
  await first.waitFor(/\[1\/6\] finished/);
  await until('a run in training', () => trainings(ws).some((t) => t.end === undefined));

  // Redis away for three lock durations: every lock held now expires (its expiry time survives the
  // restart), so BullMQ hands those runs to whichever worker asks first once Redis is back. Each
  // worker must have stopped training them by then, and must give them up rather than report them.
  const down = performance.now();
  await redis.stop();
  await new Promise((r) => setTimeout(r, 3 * LOCK_S * 1000));
  const cut = trainings(ws).filter((t) => t.start < down && (t.end === undefined || t.end > down));
  assert.ok(cut.length > 0, 'a run was in training when Redis stopped');
  for (const t of cut) assert.ok(!alive(t.pid), `${t.run}: its training on ${t.worker} (pid ${t.pid}) outlived the worker's lock while Redis was down`);
  await redis.start();
  const afterRestart = first.output.length;
  await first.waitFor(/epoch \d\/2|finished/, 180_000, afterRestart); // progress goes on through the new Redis
  first.kill('SIGKILL');
  await first.exited;
  const done = IDS.filter((id) => exists(join(out, 'runs', id, 'result.json'))).length;
  assert.ok(done < 6, 'the coordinator was killed before the grid finished');

  const second = new CliProcess('compare again', verbose);
  assert.equal(await second.exited, 0, second.output);
  assert.match(second.output, /0 run\(s\) queued now, \d+ already in the queue/);
  assertSameAsLocal(out);
  assertNoDuplicates(ws);
  assertNeverConcurrent(ws);
  // The runs whose locks expired were given up by their workers (neither reported nor handed back).
  for (const t of cut) assert.equal(ws.find((w) => w.label === t.worker)!.lines(new RegExp(`lost ${t.run}: `)).length, 1, `${t.worker} gave up ${t.run} once`);
  for (const w of ws) assert.equal(w.child.exitCode, null, `${w.label} is still serving`);
  assertNoPassword(out, [first, second, ...ws]);
});
