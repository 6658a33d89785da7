// Run folder safety end to end: a finished run is never replaced silently, one writer per folder
// (run.lock, stale locks taken over), --resume of a finished run, run.json's status transitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MAIN = resolve('dist/src/cli/main.js');
const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
const TINY = ['--dataset', 'synthetic:8x8x1:4:64:16', '--model', 'mlp', '--hidden', '8', '--epochs', '1', '--batch-size', '16', '--backend', 'cpu', '--quiet'];
const tmp = () => mkdtempSync(join(tmpdir(), 'mq-runfolder-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const runJson = (out: string) => JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as Record<string, unknown>;

test('a second train into a finished run folder is refused and loses nothing; --overwrite replaces it, stale exports included', () => {
  const out = join(tmp(), 'run');
  const first = run(['train', ...TINY, '--out', out, '--json']);
  assert.equal(first.status, 0, first.stderr);
  const checkpoint = readFileSync(join(out, 'checkpoint.mqc'));
  const again = run(['train', ...TINY, '--seed', '2', '--out', out]);
  assert.equal(again.status, 2, again.stderr);
  assert.match(again.stderr, /already holds a run/);
  assert.match(again.stderr, new RegExp(`--resume ${out.replace(/[/\\]/g, '.')}`));
  assert.match(again.stderr, /--overwrite/);
  assert.ok(readFileSync(join(out, 'checkpoint.mqc')).equals(checkpoint), 'the checkpoint is untouched');

  mkdirSync(join(out, 'tfjs'));
  writeFileSync(join(out, 'tfjs', 'model.json'), '{}');
  const over = run(['train', ...TINY, '--seed', '2', '--out', out, '--overwrite']);
  assert.equal(over.status, 0, over.stderr);
  assert.ok(!existsSync(join(out, 'tfjs')), 'the old export is gone with the old run');
  assert.ok(!readFileSync(join(out, 'checkpoint.mqc')).equals(checkpoint), 'a new run');
  assert.ok(!existsSync(join(out, 'run.lock')), 'the lock is released at the end');
});

test('--overwrite leaves a folder that is not a run folder alone', () => {
  const out = tmp();
  writeFileSync(join(out, 'thesis.tex'), 'precious');
  const r = run(['train', ...TINY, '--out', out, '--overwrite']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /not a run folder/);
  assert.equal(readFileSync(join(out, 'thesis.tex'), 'utf8'), 'precious');
});

test('--resume of a finished run prints its result and exits 0; --resume X --out Y is refused; run.json and config.json describe the run', () => {
  const out = join(tmp(), 'run');
  const first = run(['train', ...TINY, '--method', 'metaquant', '--meta', 'fcgrad', '--optimizer', 'adam', '--out', out, '--json']);
  assert.equal(first.status, 0, first.stderr);
  const result = JSON.parse(first.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  const again = run(['train', '--resume', out, '--json']);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /already finished its 1 epochs; nothing to train/);
  const same = JSON.parse(again.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  assert.equal(same.testAccuracy, result.testAccuracy);
  assert.equal(same.epochs, 1);

  const elsewhere = run(['train', '--resume', out, '--out', join(out, '..', 'other')]);
  assert.equal(elsewhere.status, 2, elsewhere.stderr);
  assert.match(elsewhere.stderr, /--resume .* continues the run in its own folder; --out .* names another/);

  const record = runJson(out);
  assert.equal(record.status, 'finished');
  assert.equal(record.hostname, hostname());
  assert.deepEqual((record.argv as string[]).slice(0, 2), ['train', '--dataset']);
  assert.equal(record.metaquantVersion, JSON.parse(readFileSync('package.json', 'utf8')).version);
  assert.ok(Date.parse(String(record.endedAt)) >= Date.parse(String(record.startedAt)));
  assert.equal(record.epochsDone, 1);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.weightDecay, 5e-4, 'the effective weight decay (MetaQuant + Adam), not null');
  assert.equal(config.augment, false);
});

test('a NaN stop leaves run.json failed, with the reason', () => {
  const out = join(tmp(), 'run');
  const r = run(['train', ...TINY, '--epochs', '2', '--inject-nan', '6', '--out', out]);
  assert.equal(r.status, 1, r.stderr);
  const record = runJson(out);
  assert.equal(record.status, 'failed');
  assert.match(String(record.message), /NaN/);
  assert.equal(record.epochsDone, 1);
});

test('one writer per folder: a second train is refused naming the holder; SIGINT marks the run interrupted; stale and foreign locks', async () => {
  const out = join(tmp(), 'run');
  const child = spawn(process.execPath, [MAIN, 'train', ...TINY, '--dataset', 'synthetic:8x8x1:4:256:32', '--batch-size', '8', '--epochs', '500', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  for (let i = 0; i < 3000 && !(existsSync(join(out, 'run.json')) && existsSync(join(out, 'run.lock'))); i++) await sleep(20);
  assert.equal(runJson(out).status, 'running');
  for (const args of [['train', '--resume', out], ['train', ...TINY, '--out', out, '--overwrite']]) {
    const second = run(args);
    assert.equal(second.status, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`in use by another metaquant process \\(pid ${child.pid} on ${hostname()}`));
  }
  child.kill('SIGINT');
  assert.equal(await exited, 130, stderr);
  assert.equal(runJson(out).status, 'interrupted');
  assert.ok(!existsSync(join(out, 'run.lock')));
  // Rerunning the original command after Ctrl-C does not start from scratch: it names --resume.
  const rerun = run(['train', ...TINY, '--dataset', 'synthetic:8x8x1:4:256:32', '--batch-size', '8', '--epochs', '500', '--out', out]);
  assert.equal(rerun.status, 2, rerun.stderr);
  assert.match(rerun.stderr, /already holds a run \(.*its run\.json says interrupted after \d+ epochs\); continue it with --resume /);

  // A lock whose process is gone (same host) is stale: taken over.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(join(out, 'run.lock'), JSON.stringify({ pid: Number(dead.stdout), hostname: hostname(), since: 'then', argv: [] }));
  const resumed = run(['train', '--resume', out, '--epochs', String(1 + (runJson(out).epochsDone as number))]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(runJson(out).status, 'finished');
  assert.equal((runJson(out).earlier as unknown[]).length, 1, 'the interrupted session is kept');

  // Another host's lock cannot be checked from here: refused, naming the host and the file.
  writeFileSync(join(out, 'run.lock'), JSON.stringify({ pid: 1, hostname: 'elsewhere', since: 'then', argv: ['train'] }));
  const foreign = run(['train', '--resume', out]);
  assert.equal(foreign.status, 2);
  assert.match(foreign.stderr, /pid 1 on elsewhere.*delete .*run\.lock/);
});
