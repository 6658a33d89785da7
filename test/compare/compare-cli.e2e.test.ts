// `metaquant compare` end to end on tiny synthetic data: resume after SIGKILL, failed runs,
// SIGINT, config files and usage errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CommanderError } from 'commander';
import { compareCommand } from '../../src/cli/compare.js';
import { MetaquantError } from '../../src/util/errors.js';

const MAIN = resolve('dist/src/cli/main.js');
const cli = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '') : []);
/** No test here waits on time; this only stops a hung test (a machine 10× slower still passes). */
const HANG = { timeout: 10 * 60_000 };

/**
 * Resolves as soon as `check()` holds, re-checking on every file event in `dir` (watched through
 * inotify once it exists; until then its nearest existing parent), so the wait is as long as the
 * work takes, on any machine, with no polling interval and no timeout. Rejects if `proc` exits first.
 */
function when(what: string, dir: string, check: () => boolean, proc: ChildProcess): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    let watcher: FSWatcher | undefined;
    let watched = '';
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      watcher?.close();
      proc.off('exit', onExit);
      if (error) reject(error);
      else resolvePromise();
    };
    const onExit = (code: number | null, signal: string | null) => finish(new Error(`the process exited (${code ?? signal}) before ${what}`));
    const evaluate = () => {
      if (settled) return;
      if (check()) return finish();
      let target = dir;
      while (!existsSync(target)) target = dirname(target);
      const id = `${target}:${statSync(target).ino}`; // a folder removed and made again is watched anew
      if (id === watched) return;
      watcher?.close();
      watched = id;
      watcher = watch(target, evaluate);
      evaluate(); // whatever happened before the watch began
    };
    proc.on('exit', onExit);
    if (proc.exitCode !== null || proc.signalCode !== null) onExit(proc.exitCode, proc.signalCode);
    evaluate();
  });
}

/**
 * The pid in a `.child.pid` file once it is written in full. A file event can arrive between the
 * file's creation and its write, and Number('') is 0, which to process.kill means "my whole process
 * group".
 */
function pidIn(file: string): number | undefined {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const pid = Number(text);
  return text.endsWith('\n') && Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** SIGKILL for a process that should still be alive; one that has already gone is not an error here. */
function killIfAlive(pid: number): void {
  assert.ok(Number.isInteger(pid) && pid > 0, `not a process id: ${pid}`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

test('a grid killed with SIGKILL resumes: finished runs are not redone, the half-finished run is resumed and then counted', HANG, async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mq-compare-')), 'grid');
  // The kill follows the file event of the second run's first metrics line (its checkpoint was
  // renamed into place before it); the two epochs of 256 steps left take longer than that on any
  // machine, however loaded, since they slow down with it.
  const args = ['compare', '--methods', 'ste', '--seeds', '1,2', '--epochs', '3', '--jobs', '1', '--out', out, '--quiet',
    '--dataset', 'synthetic:8x8x1:4:4096:64', '--model', 'mlp', '--hidden', '8', '--batch-size', '16', '--lr', '0.01'];
  const first = join(out, 'runs', 'ste__dorefa__adam__s1');
  const second = join(out, 'runs', 'ste__dorefa__adam__s2');
  // Its own process group, so SIGKILL takes the runner and its training child at once (a crash, a closed terminal).
  const grid = spawn(process.execPath, [MAIN, ...args], { detached: true, stdio: 'ignore' });
  const exited = new Promise((r) => grid.on('exit', r));
  try {
    await when('the first run finished and the second checkpointed an epoch', second, () => existsSync(join(first, 'result.json')) && lines(join(second, 'metrics.jsonl')).length >= 1, grid);
  } finally {
    process.kill(-grid.pid!, 'SIGKILL');
  }
  await exited;
  assert.ok(!existsSync(join(second, 'result.json')), 'the half-finished run is not counted as finished');
  const epochsBefore = lines(join(second, 'metrics.jsonl')).length;
  assert.ok(epochsBefore >= 1 && epochsBefore < 3, `killed mid-run (${epochsBefore} epochs)`);
  const dry = cli([...args, '--dry-run']);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /ste__dorefa__adam__s1\tfinished/);
  assert.match(dry.stdout, /ste__dorefa__adam__s2\tresume after epoch [12]/);

  const firstResult = readFileSync(join(first, 'result.json'), 'utf8');
  const firstTimes = ['result.json', 'metrics.jsonl', 'checkpoint.mqc'].map((f) => statSync(join(first, f)).mtimeMs);
  const rerun = cli(args);
  assert.equal(rerun.status, 0, rerun.stderr);
  assert.match(rerun.stderr, /1 run\(s\) finished now, 1 already finished, 0 failed/);
  assert.equal(readFileSync(join(first, 'result.json'), 'utf8'), firstResult, 'the finished run was not redone');
  assert.deepEqual(['result.json', 'metrics.jsonl', 'checkpoint.mqc'].map((f) => statSync(join(first, f)).mtimeMs), firstTimes);
  const resumed = JSON.parse(readFileSync(join(second, 'result.json'), 'utf8'));
  assert.equal(resumed.resumed, true);
  assert.equal(resumed.train.epochs, 3);
  assert.deepEqual(lines(join(second, 'metrics.jsonl')).map((l) => JSON.parse(l).epoch), [1, 2, 3]);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.cells.length, 1);
  assert.equal(summary.cells[0].n, 2);
  assert.equal(summary.lastK, 3);
  const finals = summary.runs.map((r: { finalAccuracy: number }) => r.finalAccuracy);
  assert.ok(Math.abs(summary.cells[0].finalMean - (finals[0] + finals[1]) / 2) < 1e-12);
  assert.ok(!existsSync(join(out, '.compare.lock')), 'the lock is released');
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /data-chart="test-accuracy"/);

});

test('a failing run is reported with its stderr tail and does not stop the grid; config file with named methods', HANG, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mq-compare-'));
  const out = join(dir, 'grid');
  const config = join(dir, 'grid.yaml');
  // The LSTM meta state cannot fit a 1e-9 GiB bound: that run fails at start, after the grid was checked.
  writeFileSync(config, `methods:\n  plain: ste\n  too-big: "metaquant:lstm+max-meta-memory=1e-9"\noptimizers: [sgd]\nepochs: 1\ntrain:\n  dataset: "synthetic:8x8x1:4:256:64"\n  model: mlp\n  hidden: [8]\n  lr: 0.5\n`);
  const r = cli(['compare', '--config', config, '--out', out, '--lr', '0.01', '--batch-size', '32']);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /FAILED too-big \/ dorefa \/ sgd \/ seed 1: exit code 2: metaquant: the LSTM meta state needs/);
  assert.match(r.stderr, /1 run\(s\) failed: too-big__dorefa__sgd__s1/);
  const log = readFileSync(join(out, 'runs', 'too-big__dorefa__sgd__s1', 'error.log'), 'utf8');
  assert.match(log, /--max-meta-memory 1e-9/);
  assert.match(log, /max-meta-memory/);
  const ok = JSON.parse(readFileSync(join(out, 'runs', 'plain__dorefa__sgd__s1', 'result.json'), 'utf8'));
  assert.equal(ok.train.epochs, 1);
  // Flags override the file: --lr 0.01 comes after the file's lr 0.5.
  assert.equal(JSON.parse(readFileSync(join(out, 'runs', 'plain__dorefa__sgd__s1', 'config.json'), 'utf8')).lr, 0.01);
  const md = readFileSync(join(out, 'summary.md'), 'utf8');
  assert.match(md, /\| plain \| dorefa \| sgd \| 1 \|/);
  assert.match(md, /\| too-big \| dorefa \| sgd \| 0 \(1 failed, 0 unfinished\) \|/);
  assert.equal(readFileSync(join(out, 'summary.csv'), 'utf8').trim().split('\n').length, 2);
});

test('SIGINT stops the training children and leaves the interrupted run unfinished', HANG, async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mq-compare-')), 'grid');
  // 10,000 epochs: far more than any machine trains before the signal; the child never finishes.
  const args = ['compare', '--methods', 'ste', '--seeds', '1', '--epochs', '10000', '--out', out, '--quiet',
    '--dataset', 'synthetic:8x8x1:4:512:64', '--model', 'mlp', '--hidden', '8', '--batch-size', '16'];
  const grid = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  grid.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((r) => grid.on('exit', (code) => r(code)));
  const run = join(out, 'runs', 'ste__dorefa__adam__s1');
  await when('the training child started', run, () => pidIn(join(run, '.child.pid')) !== undefined && existsSync(join(run, 'config.json')), grid);
  const child = pidIn(join(run, '.child.pid'))!;
  grid.kill('SIGINT');
  assert.equal(await exited, 130, stderr);
  assert.match(stderr, /SIGINT: stopping the running training processes/);
  assert.match(stderr, /0 run\(s\) finished now.*1 interrupted/);
  assert.throws(() => process.kill(child, 0), /ESRCH/, 'the training child has exited');
  assert.ok(!existsSync(join(run, 'result.json')));
  assert.ok(!existsSync(join(run, '.child.pid')));
});

test('a rerun refuses while a training child of a killed compare is still running in the folder', HANG, async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mq-compare-')), 'grid');
  // 10,000 epochs, so the orphaned child is still training when the rerun looks (it is killed below);
  // with 50 an idle machine finished it first. The runner is killed only after the child's first
  // epoch: a child still starting up writes to its stderr pipe, and with the runner gone that write
  // fails and ends it (seen under load); after that, a --quiet --json child writes nothing until the end.
  const args = ['compare', '--methods', 'ste', '--epochs', '10000', '--out', out, '--quiet',
    '--dataset', 'synthetic:8x8x1:4:512:64', '--model', 'mlp', '--hidden', '8', '--batch-size', '16'];
  const run = join(out, 'runs', 'ste__dorefa__adam__s1');
  const grid = spawn(process.execPath, [MAIN, ...args], { stdio: 'ignore' });
  const exited = new Promise((r) => grid.on('exit', r));
  let child = 0;
  try {
    await when('the child finished an epoch', run, () => pidIn(join(run, '.child.pid')) !== undefined && lines(join(run, 'metrics.jsonl')).length >= 1, grid);
    child = pidIn(join(run, '.child.pid'))!;
  } finally {
    grid.kill('SIGKILL'); // the runner only: its child lives on
  }
  await exited;
  try {
    const rerun = cli(args);
    assert.equal(rerun.status, 2, rerun.stderr);
    assert.match(rerun.stderr, new RegExp(`still running in .*pid ${child} \\(ste__dorefa__adam__s1\\)`));
  } finally {
    killIfAlive(child);
  }
});

test('usage errors: missing --out, bad specs and train flags are one clear line, exit 2', HANG, async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--methods', 'ste'], /compare needs --out DIR/],
    [['--out', '/tmp/x'], /compare needs --methods/],
    [['--methods', 'ste,sgd', '--out', '/tmp/x'], /unknown method 'sgd'/],
    [['--methods', 'ste+momentum=abc', '--out', '/tmp/x'], /method 'ste\+momentum=abc'.*expected a number, got 'abc'/],
    [['--methods', 'ste', '--quantizers', 'bwn:2', '--out', '/tmp/x'], /only dorefa or lsq can take a bit width/],
    [['--methods', 'ste', '--out', '/tmp/x', '--modle', 'mlp'], /unknown option '--modle'/],
    [['--methods', 'ste', '--out', '/tmp/x', '--model', 'foo'], /Allowed choices are mlp/],
    [['--methods', 'ste', '--out', '/tmp/x', '--config', '/nonexistent.yaml'], /nonexistent\.yaml: no such file/],
    [['--methods', 'ste', '--out', '/tmp/x', '--jobs', '0'], /--jobs must be at least 1/],
  ];
  for (const [args, message] of cases) {
    const cmd = compareCommand().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    await assert.rejects(cmd.parseAsync(args, { from: 'user' }), (e: unknown) => {
      const usage = (e instanceof MetaquantError && e.exitCode === 2) || (e instanceof CommanderError && e.exitCode !== 0);
      return usage && message.test((e as Error).message);
    }, args.join(' '));
  }
  let help = '';
  const cmd = compareCommand().exitOverride().configureOutput({ writeOut: (s) => (help += s) });
  await assert.rejects(cmd.parseAsync(['--help'], { from: 'user' }), (e: unknown) => e instanceof CommanderError && e.exitCode === 0);
  assert.match(help, /NAME\[:META\]\[\+key\[=value\]\]/);
  assert.match(help, /--hidden <sizes>/, 'train flags are listed');
  // Through the real CLI: exit code 2 and no stack trace.
  const r = cli(['compare', '--methods', 'ste+momentum=abc', '--out', '/tmp/x']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^metaquant: method 'ste\+momentum=abc'/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
});
