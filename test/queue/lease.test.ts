// The worker's lease on a job's lock (src/queue/lease.ts), against a stand-in for BullMQ's
// job.extendLock: the deadlines are checked against the lease's definition (send time of the last
// confirmed renewal + lockMs), measured here independently of the code under test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Job } from 'bullmq';
import { LeaseLostError, RunLease } from '../../src/queue/lease.js';

/** A job whose extendLock answers as `answer` says (a promise that never settles = Redis unreachable). */
function fakeJob(answer: (call: number) => Promise<number>): { job: Job; calls: () => number } {
  let calls = 0;
  const job = { id: 'grid/run', extendLock: () => answer(++calls) } as unknown as Job;
  return { job, calls: () => calls };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const never = () => new Promise<number>(() => {});

test('a lease whose renewals are confirmed never stops the training', async () => {
  const lockMs = 1500;
  const { job, calls } = fakeJob(async () => 1);
  const lease = new RunLease(job, 'token', lockMs);
  await lease.confirm();
  const hooks: string[] = [];
  lease.watch({ doubt: () => hooks.push('doubt'), expiring: () => hooks.push('expiring') });
  await sleep(2 * lockMs);
  lease.end();
  assert.deepEqual(hooks, []);
  assert.equal(lease.doubted, false);
  assert.equal(lease.lostReason, undefined);
  assert.ok(calls() >= 4, `renewed every lockMs/4 (${calls()} renewals in 2 lock durations)`);
});

test('Redis unreachable: the training is asked to stop with a quarter of the lease left and killed with a tenth, before the lock can expire', async () => {
  const lockMs = 1200;
  const { job } = fakeJob((call) => (call === 1 ? Promise.resolve(1) : never()));
  const lease = new RunLease(job, 'token', lockMs);
  const before = performance.now(); // no later than the confirmed renewal was sent
  await lease.confirm();
  const after = performance.now(); // no earlier than it was sent
  const at: Record<string, number> = {};
  lease.watch({ doubt: () => (at.doubt ??= performance.now()), expiring: () => (at.expiring ??= performance.now()) });
  await sleep(lockMs + 200);
  lease.end();
  assert.ok(at.doubt !== undefined && at.expiring !== undefined, `both deadlines passed: ${JSON.stringify(at)}`);
  // The lock lives until at least before + lockMs; the deadlines are 3/4 and 9/10 of the way there.
  assert.ok(at.doubt >= before + 0.75 * lockMs - 5 && at.doubt < at.expiring, `asked to stop at ${(at.doubt - before).toFixed(0)} ms`);
  assert.ok(at.expiring >= before + 0.9 * lockMs - 5 && at.expiring < before + lockMs, `killed at ${(at.expiring - before).toFixed(0)} ms, before the lock's expiry (${lockMs} ms)`);
  assert.ok(after - before < 0.1 * lockMs, 'the confirmation itself was immediate (else the bounds above are loose)');
  assert.equal(lease.doubted, true);
});

test('a renewal refused (the lock is another worker\'s or gone): lost at once, training killed, confirm refuses', async () => {
  const lockMs = 2000;
  const { job } = fakeJob((call) => Promise.resolve(call <= 1 ? 1 : 0));
  const lease = new RunLease(job, 'token', lockMs);
  await lease.confirm();
  let killedAt: number | undefined;
  lease.watch({ doubt: () => {}, expiring: () => (killedAt ??= performance.now()) });
  const start = performance.now();
  await sleep(lockMs / 4 + 300); // one renewal, refused
  assert.ok(killedAt !== undefined && killedAt - start < lockMs / 2, 'killed as soon as the refusal came, long before any deadline');
  assert.match(lease.lostReason ?? '', /expired or went to another worker/);
  await assert.rejects(lease.confirm(), LeaseLostError);
  lease.end();
});

test('a renewal answered late does not count as fresh: confirm asks again until a third of the lease is left', async () => {
  const lockMs = 600;
  // The first answer takes 3/4 of the lock's duration (Redis slow), the next ones are immediate.
  const { job, calls } = fakeJob((call) => (call === 1 ? sleep(0.75 * lockMs).then(() => 1) : Promise.resolve(1)));
  const lease = new RunLease(job, 'token', lockMs);
  await lease.confirm();
  assert.equal(calls(), 2, 'a second, prompt renewal');
  lease.end();
});
