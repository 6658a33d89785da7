// `metaquant compare --val-split --sweep --baseline` end to end on tiny synthetic data: the sweep
// multiplies only the runs it applies to, selection and paired rows land in summary.json, and a
// sweep without a validation split or an unknown baseline is refused before any run starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MAIN = resolve('dist/src/cli/main.js');
const cli = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 10 * 60_000, env: { ...process.env, METAQUANT_THREADS: '1' } });
const TINY = ['--dataset', 'synthetic:4x4x1:3:120:60', '--model', 'mlp', '--hidden', '8', '--batch-size', '32', '--epochs', '1', '--quiet'];

test('a sweep trains each method at the values that apply, selects on validation and pairs against the baseline', { timeout: 10 * 60_000 }, () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mq-sweep-')), 'grid');
  const r = cli(['compare', '--methods', 'ste,metaquant:fcgrad', '--seeds', '1,2', '--out', out, '--val-split', '0.25', '--sweep', 'lr=1e-2,1e-1', '--sweep', 'meta-lr=1e-3,1e-2', '--baseline', 'ste', '--jobs', '2', ...TINY]);
  assert.equal(r.status, 0, r.stderr);
  // ste: 2 lr × 2 seeds; fcgrad: 2 lr × 2 meta-lr × 2 seeds.
  assert.equal(readdirSync(join(out, 'runs')).length, 4 + 8);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.baseline, 'ste');
  assert.deepEqual(summary.selection.map((s: { method: string; candidates: number }) => [s.method, s.candidates]), [['ste', 2], ['metaquant:fcgrad', 4]]);
  assert.equal(summary.paired.length, 1);
  assert.equal(summary.paired[0].method, 'metaquant:fcgrad');
  assert.equal(summary.paired[0].n, 2);
  const line = JSON.parse(readFileSync(join(out, 'runs', readdirSync(join(out, 'runs'))[0]!, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]!);
  assert.equal(typeof line.valAccuracy, 'number');
  assert.match(readFileSync(join(out, 'summary.md'), 'utf8'), /## Paired differences against ste/);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /Paired differences against ste/);
});

test('a sweep without --val-split, or an unknown --baseline, is refused before any run', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mq-sweep-')), 'grid');
  const noVal = cli(['compare', '--methods', 'ste', '--out', out, '--sweep', 'lr=1e-2,1e-1', ...TINY]);
  assert.equal(noVal.status, 2);
  assert.match(noVal.stderr, /--val-split/);
  const badBase = cli(['compare', '--methods', 'ste', '--out', out, '--baseline', 'lstm', ...TINY]);
  assert.equal(badBase.status, 2);
  assert.match(badBase.stderr, /--baseline 'lstm' is not a method/);
  assert.equal(existsSync(join(out, 'runs')), false);
});
