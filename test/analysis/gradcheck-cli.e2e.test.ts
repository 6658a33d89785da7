// `metaquant gradcheck` as a child process: the --json contract and exit code 2 on bad input
// (the library's gradcheck is tested in process in gradcheck.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

test('metaquant gradcheck --json prints one JSON object; bad input exits 2', () => {
  const main = resolve('dist/src/cli/main.js');
  const args = ['gradcheck', '--meta', 'fcgrad', '--dataset', 'synthetic:8x8x1:4:64:32', '--hidden', '8', '--batch-size', '16', '--coordinates', '2', '--quantized-steps', '1e-1,1e-5', '--json'];
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  // stdout is the one JSON object and nothing else; the progress goes to stderr.
  assert.equal(r.stdout.trim().split('\n').length, 1, r.stdout);
  const report = JSON.parse(r.stdout);
  for (const stage of ['warm-up steps', '(b) central differences', '(c) quantized-loss differences', '(a) the chain and the probed step']) {
    assert.ok(r.stderr.includes(`gradcheck: ${stage}`), `stderr names the stage '${stage}':\n${r.stderr}`);
  }
  // 2 tensors' worth of coordinates at most: (b) counts 2 + 2 × picked loss evaluations per tensor.
  assert.match(r.stderr, /gradcheck: \(b\) central differences \(loss evaluations\): (\d+)\/\1 done in [0-9.]+ s/);
  const quiet = spawnSync(process.execPath, [main, ...args, '--quiet'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(quiet.status, 0, quiet.stderr);
  assert.doesNotMatch(quiet.stderr, /gradcheck:/, '--quiet: no progress');
  assert.deepEqual(JSON.parse(quiet.stdout), report, 'the same report with and without progress');
  for (const key of ['setup', 'chain', 'surrogate', 'quantized', 'notes']) assert.ok(key in report, key);
  assert.equal(report.setup.meta, 'fcgrad');
  assert.equal(report.quantized.length, 2);
  const bad = spawnSync(process.execPath, [main, 'gradcheck', '--estimator', 'ste', '--dataset', 'synthetic', '--backend', 'cpu'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /gradcheck probes MetaQuant/);
});
