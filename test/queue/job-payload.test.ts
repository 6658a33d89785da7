// The worker's checks on a queue job, in process: the payload (size, versions, schema, config),
// the data roots, the queue URL and its redaction, and the shared-folder transport.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTrainConfig } from '../../src/config/schema.js';
import { configIdentity, makeJob, parseJob, MAX_JOB_BYTES, RefusedJobError } from '../../src/queue/job-payload.js';
import { resolveDataPaths } from '../../src/queue/data-roots.js';
import { parseQueueUrl, redactArgs, redactUrl, PASSWORD_ENV } from '../../src/queue/redis-url.js';
import { localVersions, versionMismatch } from '../../src/queue/versions.js';
import { FolderArtifacts } from '../../src/queue/artifacts.js';

const GRID = '0123456789abcdef';
const config = parseTrainConfig({ dataset: 'synthetic:8x8x1:4:64:16', model: 'mlp', hidden: [4], epochs: 2, lr: 0.01 });
const job = makeJob(GRID, 'ste__dorefa__adam__s1', config, { kind: 'redis', maxBytes: 1024 });
/** The job as it arrives: JSON through Redis. */
const wire = (v: unknown) => JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
const refused = (data: unknown, reason: RegExp) =>
  assert.throws(() => parseJob(data), (err: unknown) => err instanceof RefusedJobError && /^job refused: /.test(err.message) && reason.test(err.message));

test('a job made by the coordinator passes the worker\'s checks unchanged', () => {
  const parsed = parseJob(wire(job));
  assert.deepEqual(parsed.config, config);
  assert.equal(parsed.run, 'ste__dorefa__adam__s1');
  assert.deepEqual(parsed.versions, localVersions());
});

test('hostile or foreign payloads are refused, naming what is wrong', () => {
  refused('rm -rf /', /expected an object/);
  refused([job], /expected an object .* got an array/);
  refused({ ...wire(job), config: { ...config, dataset: 'x'.repeat(MAX_JOB_BYTES) } }, new RegExp(`a training job is at most ${MAX_JOB_BYTES} bytes`));
  refused({ ...wire(job), versions: undefined }, /does not say which metaquant made it/);
  refused({ ...wire(job), versions: { metaquant: '9.9.9', configSchema: localVersions().configSchema } }, /runs metaquant 9\.9\.9 .* install the same metaquant/);
  refused({ ...wire(job), versions: { ...localVersions(), configSchema: '0000000000000000' } }, /config schema 0000000000000000/);
  refused({ ...wire(job), argv: ['--lr', '1'] }, /unknown key\(s\) 'argv'/);
  refused({ ...wire(job), config: { ...config, lrStpe: 3 } }, /lrStpe: unknown key \(did you mean 'lrStep'\?\)/);
  refused({ ...wire(job), config: { ...config, out: '/tmp/elsewhere' } }, /the worker chooses the run folder/);
  refused({ ...wire(job), config: { ...config, epochs: -1 } }, /epochs/);
  refused({ ...wire(job), run: '..' }, /run: expected a folder name/);
  refused({ ...wire(job), run: '../../etc' }, /run: expected a folder name/);
  refused({ ...wire(job), grid: '../x' }, /grid: expected 16-64 lowercase hex digits/);
  refused({ ...wire(job), transport: { kind: 'ftp' } }, /transport/);
  refused({ ...wire(job), format: 'something-else' }, /format/);
});

test('paths in a job must lie inside the worker\'s data roots, symbolic links followed', () => {
  const root = mkdtempSync(join(tmpdir(), 'mq-roots-'));
  mkdirSync(join(root, 'kmnist'));
  symlinkSync(tmpdir(), join(root, 'out-link'));
  const real = realpathSync(root);
  // Without roots, only the built-in data sets.
  assert.deepEqual(resolveDataPaths(config, []), config);
  assert.deepEqual(resolveDataPaths(parseTrainConfig({ dataset: 'fashion-mnist' }), []).dataDir, undefined);
  assert.throws(() => resolveDataPaths(parseTrainConfig({ dataset: 'mnist', dataDir: join(root, 'kmnist') }), []), /reads only the built-in data sets .* --data-root DIR/);
  // Inside a root: resolved, relative or absolute.
  assert.equal(resolveDataPaths(parseTrainConfig({ dataset: 'mnist', dataDir: 'kmnist' }), [root]).dataDir, join(real, 'kmnist'));
  assert.equal(resolveDataPaths(parseTrainConfig({ dataset: `idx:${join(root, 'kmnist')}` }), [root]).dataset, `idx:${join(real, 'kmnist')}`);
  // Outside: absolute, .., a link that leads out, a missing file.
  for (const [input, what] of [
    [{ dataset: 'idx:/etc' }, /config\.dataset \(idx:DIR\) '\/etc' is not inside/],
    [{ dataDir: '../../../../../../etc' }, /config\.dataDir '.*etc' is not inside/],
    [{ dataDir: 'out-link' }, /config\.dataDir 'out-link' is not inside/],
    [{ init: '/etc/passwd' }, /config\.init '\/etc\/passwd' is not inside/],
    [{ dataDir: 'missing' }, /config\.dataDir 'missing' is not inside/],
  ] as const) {
    assert.throws(() => resolveDataPaths(parseTrainConfig(Object.assign({ dataset: 'mnist' }, input)), [root]), (err: unknown) => err instanceof RefusedJobError && what.test(err.message));
  }
});

test('a config\'s identity leaves out its file paths (machines mount data in different places)', () => {
  const a = parseTrainConfig({ dataset: 'idx:/data/a', dataDir: '/x', lr: 0.1 });
  assert.equal(configIdentity(a), configIdentity(parseTrainConfig({ dataset: 'idx:/mnt/other', dataDir: '/y', lr: 0.1 })));
  assert.notEqual(configIdentity(a), configIdentity(parseTrainConfig({ dataset: 'idx:/data/a', dataDir: '/x', lr: 0.2 })));
});

test('the queue URL: user, password, database, TLS; the password never shown', () => {
  const a = parseQueueUrl('redis://mq:p%40ss@queue.example:6380/2', {});
  assert.deepEqual({ ...a.connection, retryStrategy: undefined }, { host: 'queue.example', port: 6380, db: 2, username: 'mq', password: 'p@ss', maxRetriesPerRequest: null, retryStrategy: undefined });
  assert.equal(a.display, 'redis://mq:***@queue.example:6380/2');
  assert.deepEqual(parseQueueUrl('rediss://h', {}).connection.tls, { servername: 'h' });
  assert.deepEqual(parseQueueUrl('rediss://127.0.0.1', {}).connection.tls, {}, 'no SNI for an IP address (RFC 6066)');
  assert.equal(parseQueueUrl('redis://h', { [PASSWORD_ENV]: 'from-env' }).connection.password, 'from-env');
  assert.equal(parseQueueUrl('redis://:in-url@h', { [PASSWORD_ENV]: 'from-env' }).connection.password, 'in-url');
  assert.throws(() => parseQueueUrl('http://h', {}), /unsupported scheme 'http:'/);
  assert.throws(() => parseQueueUrl('redis://:secret@h/99', {}), (err: unknown) => /database number/.test((err as Error).message) && !(err as Error).message.includes('secret'));
  assert.equal(redactUrl('redis://:a@b/c@host:1'), 'redis://:***@host:1');
  assert.equal(redactUrl('redis://host:1'), 'redis://host:1');
  assert.deepEqual(redactArgs(['compare', '--queue', 'rediss://u:pw@h', '--queue=redis://:pw@h']), ['compare', '--queue', 'rediss://u:***@h', '--queue=redis://:***@h']);
});

test('versions: the same build matches itself; another version or schema is named in the message', () => {
  const ours = localVersions();
  assert.match(ours.configSchema, /^[0-9a-f]{16}$/);
  assert.equal(versionMismatch(ours, { ...ours }, 'a', 'b'), undefined);
  assert.match(versionMismatch({ ...ours, metaquant: '0.0.1' }, ours, 'worker w', 'this coordinator')!, /worker w runs metaquant 0\.0\.1 .* and this coordinator metaquant/);
});

test('the shared-folder transport: published files come back whole, with a growing sequence number', async () => {
  const store = new FolderArtifacts(mkdtempSync(join(tmpdir(), 'mq-shared-')));
  assert.equal(await store.sequence(GRID, 'r'), 0);
  assert.equal(await store.fetch(GRID, 'r'), undefined);
  assert.equal(await store.publish(GRID, 'r', { checkpoint: Buffer.from([1, 2, 3]), metrics: Buffer.from('{"epoch":1}\n') }), 1);
  assert.equal(await store.publish(GRID, 'r', { checkpoint: Buffer.from([4, 5]) }), 2);
  const files = await store.fetch(GRID, 'r');
  assert.deepEqual([files?.seq, [...files!.checkpoint!], files?.metrics?.toString()], [2, [4, 5], '{"epoch":1}\n']);
  await store.remove(GRID, 'r');
  assert.equal(await store.sequence(GRID, 'r'), 0);
  assert.throws(() => new FolderArtifacts('/no/such/folder'), /--artifacts \/no\/such\/folder: no such folder/);
});
