// The `metaquant` command end to end, in child processes, on a small synthetic data set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MAIN = resolve('dist/src/cli/main.js');
const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
const SMALL = ['--dataset', 'synthetic:8x8x1:4:256:64', '--model', 'mlp', '--hidden', '32', '--epochs', '2', '--batch-size', '32', '--lr', '0.01'];

function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

test('train writes a run folder and prints one JSON line; eval reads it back', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mq-cli-')), 'run');
  const r = run(['train', ...SMALL, '--out', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const result = lastJson(r.stdout);
  for (const key of ['testAccuracy', 'testLoss', 'epochs', 'seconds', 'imagesPerSecond', 'out']) assert.ok(key in result, key);
  assert.equal(result.epochs, 2);
  assert.ok((result.testAccuracy as number) > 0.5, `learns the synthetic task: ${String(result.testAccuracy)}`);
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(metrics.length, 2);
  for (const k of ['epoch', 'trainLoss', 'trainAccuracy', 'testLoss', 'testAccuracy', 'lr', 'seconds', 'imagesPerSecond']) assert.ok(k in metrics[0], k);
  assert.ok(existsSync(join(out, 'config.json')) && existsSync(join(out, 'checkpoint.mqc')));
  const e = run(['eval', '--checkpoint', out, '--json']);
  assert.equal(e.status, 0, e.stderr);
  const ev = lastJson(e.stdout);
  assert.ok(Math.abs((ev.testAccuracy as number) - (result.testAccuracy as number)) < 1e-9, 'eval reproduces the final test accuracy');
});

test('MetaQuant trains from the CLI and logs its diagnostics', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mq-cli-')), 'run');
  const r = run(['train', ...SMALL, '--estimator', 'metaquant', '--meta', 'fcgrad', '--optimizer', 'sgd', '--out', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')[1]!);
  for (const k of ['metaC', 'cosMetaSte', 'flipRatio', 'metaSeconds', 'stepSeconds']) assert.equal(typeof m[k], 'number', k);
  assert.doesNotMatch(r.stderr, /SGD-M/, 'plain SGD: no quirk');
  // Code mode with the reference's SGD-M settings says in one line that it reproduces its momentum.
  const sgdm = run(['train', ...SMALL, '--epochs', '1', '--estimator', 'metaquant', '--optimizer', 'sgd', '--momentum', '0.9', '--weight-decay', '5e-4', '--out', `${out}-sgdm`]);
  assert.equal(sgdm.status, 0, sgdm.stderr);
  assert.equal(sgdm.stderr.split('\n').filter((l) => /SGD-M/.test(l)).length, 1, sgdm.stderr);
});

test('an unknown flag value is a usage error (exit 2) that lists the valid values', () => {
  const r = run(['train', '--quantizer', 'foo']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /dorefa/);
  assert.match(r.stderr, /foo/);
  const d = run(['train', '--dataset', 'nope', '--epochs', '1']);
  assert.equal(d.status, 2);
  assert.match(d.stderr, /nope/);
  assert.doesNotMatch(d.stderr, /at .*\.js:\d+/, 'no stack trace without --debug');
});

test('a corrupt checkpoint gets one clear error naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mq-cli-'));
  const file = join(dir, 'checkpoint.mqc');
  spawnSync('sh', ['-c', `printf 'MQCKPT\\ngarbage' > ${file}`]);
  const r = run(['eval', '--checkpoint', dir]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /checkpoint\.mqc/);
});
