// Through Redis, a worker's publish of a run's files is fenced by the run's BullMQ lock: written only
// while the lock key holds the worker's token, checked in the same script as the write (a real
// redis-server, started here).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { FencedOffError, RedisArtifacts } from '../../src/queue/artifacts.js';
import { parseQueueUrl } from '../../src/queue/redis-url.js';
import { TestRedis, haveRedis } from '../helpers/redis-server.js';

const skip = haveRedis() || process.env.CI ? false : 'redis-server is not installed (apt-get install redis-server)';
const redis = new TestRedis();
let client: Redis;

before(async () => {
  if (skip) return;
  await redis.start();
  client = new Redis(parseQueueUrl(redis.url).connection);
});

after(async () => {
  client?.disconnect();
  await redis.stop();
});

test('a fenced publish writes only while the lock holds the token; nothing is written otherwise', { skip }, async () => {
  const store = new RedisArtifacts(client, 'metaquant:fence-test', 4096);
  const fence = { lockKey: 'metaquant:fence-test:grid/run:lock', token: 'worker-a-token' };
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i)); // every byte value: the script is binary-safe

  await client.set(fence.lockKey, fence.token, 'PX', 60_000);
  assert.equal(await store.publish('grid', 'run', { checkpoint: every, metrics: Buffer.from('{"epoch":1}\n') }, fence), 1);
  assert.equal(await store.publish('grid', 'run', { checkpoint: every }, fence), 2);

  await client.set(fence.lockKey, 'worker-b-token', 'PX', 60_000); // the run went to another worker
  await assert.rejects(store.publish('grid', 'run', { checkpoint: Buffer.from('stale') }, fence), FencedOffError);
  await client.del(fence.lockKey); // the lock expired
  await assert.rejects(store.publish('grid', 'run', { metrics: Buffer.from('stale') }, fence), FencedOffError);

  const stored = await store.fetch('grid', 'run');
  assert.equal(stored?.seq, 2);
  assert.ok(stored?.checkpoint?.equals(every), 'the checkpoint is the holder\'s, byte for byte');
  assert.equal(stored?.metrics?.toString(), '{"epoch":1}\n');
  // Unfenced (the coordinator's own publish before a run is queued) writes as before.
  assert.equal(await store.publish('grid', 'run', { checkpoint: Buffer.from('coordinator') }), 3);
});
