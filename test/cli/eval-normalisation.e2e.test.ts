// eval uses the input normalisation the checkpoint stores, so it reproduces training's final test
// metric exactly even when --train-limit made that normalisation differ from the full split's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MAIN = resolve('dist/src/cli/main.js');
const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });

test('eval after --train-limit equals training final test metric exactly', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mq-evalnorm-')), 'run');
  // Bundled MNIST: its first 300 training digits have another mean/std than all 8,000.
  const t = run(['train', '--dataset', 'mnist', '--train-limit', '300', '--test-limit', '400', '--model', 'mlp', '--hidden', '16', '--epochs', '1', '--batch-size', '50', '--backend', 'cpu', '--quiet', '--out', out]);
  assert.equal(t.status, 0, t.stderr);
  const last = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').pop()!) as { testAccuracy: number; testLoss: number };
  const e = run(['eval', '--checkpoint', out, '--test-limit', '400', '--backend', 'cpu', '--json']);
  assert.equal(e.status, 0, e.stderr);
  const ev = JSON.parse(e.stdout.trim().split('\n').pop()!) as { testAccuracy: number; testLoss: number; count: number };
  assert.equal(ev.count, 400);
  assert.equal(ev.testAccuracy, last.testAccuracy);
  assert.equal(ev.testLoss, last.testLoss);
});
