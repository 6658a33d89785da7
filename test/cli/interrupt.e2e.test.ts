// Interrupting `metaquant train` for real, in child processes: SIGINT/SIGTERM write a checkpoint
// and exit 130/143 naming the resume command; SIGKILL at random moments (many during checkpoint
// writes, with --checkpoint-every 1) always leaves a valid checkpoint that --resume continues.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCheckpointPayload } from '../../src/run/checkpoint-payload.js';
import { Rng } from '../../src/util/rng.js';

const MAIN = resolve('dist/src/cli/main.js');
const TRAIN = ['train', '--dataset', 'synthetic:8x8x1:4:256:32', '--model', 'mlp', '--hidden', '128', '--batch-size', '8', '--backend', 'cpu', '--quiet'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(args: string[]): { child: ChildProcess; stderr: () => string; exit: Promise<{ code: number | null; signal: string | null }> } {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const exit = new Promise<{ code: number | null; signal: string | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { child, stderr: () => err, exit };
}

/** Inode of the checkpoint (each atomic rename makes a new one), or 0 when there is none. */
function checkpointInode(out: string): number {
  try {
    return statSync(join(out, 'checkpoint.mqc')).ino;
  } catch {
    return 0;
  }
}

/** Waits until the process has written a checkpoint it did not find (i.e. it is training). */
async function waitForNewCheckpoint(out: string, before: number, exit: Promise<unknown>): Promise<void> {
  let done = false;
  void exit.then(() => (done = true));
  for (let i = 0; i < 6000 && !done; i++) {
    const ino = checkpointInode(out);
    if (ino !== 0 && ino !== before) return;
    await sleep(10);
  }
  throw new Error(`no new checkpoint appeared in ${out}`);
}

const tempFiles = (out: string) => readdirSync(out).filter((n) => n.endsWith('.tmp'));

/** Resolves as soon as a checkpoint's temporary file appears in `out` (a write in progress). */
function nextCheckpointWrite(out: string): { seen: Promise<void>; close: () => void } {
  let close = () => {};
  const seen = new Promise<void>((resolve) => {
    const w = watch(out, (_event, name) => {
      if (name && name.startsWith('.checkpoint.mqc.') && name.endsWith('.tmp')) resolve();
    });
    close = () => w.close();
  });
  return { seen, close };
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  test(`${signal}: finishes the step, writes a checkpoint, exits ${code} naming the resume command`, async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mq-sig-')), 'run');
    const p = start([...TRAIN, '--epochs', '500', '--checkpoint-every', '5', '--out', out]);
    await waitForNewCheckpoint(out, 0, p.exit);
    p.child.kill(signal);
    const r = await p.exit;
    assert.equal(r.code, code, p.stderr());
    assert.match(p.stderr(), new RegExp(`interrupted by ${signal}; checkpoint written at epoch \\d+, after step \\d+ in ${out}; continue with: metaquant train --resume ${out}`));
    // The checkpoint is the one written on the signal (the resume itself is exercised by the SIGKILL test).
    const { payload } = readCheckpointPayload(out);
    assert.match(p.stderr(), new RegExp(`checkpoint written at epoch ${payload.position!.epoch + 1}, after step ${payload.position!.batch} `));
  });
}

test('SIGKILL at 20 seeded random moments (--checkpoint-every 1): a valid checkpoint every time, and --resume completes', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mq-kill-')), 'run');
  mkdirSync(out, { recursive: true });
  const rng = new Rng('kill-test');
  const kills = 20;
  let duringWrite = 0;
  let lastStep = 0;
  for (let k = 0; k < kills; k++) {
    const before = checkpointInode(out);
    const p = start(k === 0 ? [...TRAIN, '--epochs', '500', '--checkpoint-every', '1', '--out', out] : ['train', '--resume', out, '--quiet']);
    await waitForNewCheckpoint(out, before, p.exit);
    if (k % 2 === 0) {
      // A random moment within the next steps.
      await sleep(rng.next() * 250);
    } else {
      // The moment a checkpoint write starts, plus a random 0-3 ms: aims at the write itself.
      const write = nextCheckpointWrite(out);
      await write.seen;
      write.close();
      await sleep(rng.next() * 3);
    }
    p.child.kill('SIGKILL');
    const r = await p.exit;
    assert.equal(r.signal, 'SIGKILL', `kill ${k}: the run ended before the kill: ${p.stderr()}`);
    if (tempFiles(out).length > 0) duringWrite++;
    const { payload } = readCheckpointPayload(out);
    assert.ok(payload.globalStep! >= lastStep, `kill ${k}: the checkpoint went back from step ${lastStep} to ${payload.globalStep}`);
    lastStep = payload.globalStep!;
  }
  const { payload } = readCheckpointPayload(out);
  const epochs = payload.position!.epoch + 1;
  const done = spawnSync(process.execPath, [MAIN, 'train', '--resume', out, '--epochs', String(epochs), '--json'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(done.status, 0, done.stderr);
  assert.deepEqual(tempFiles(out), [], 'resume removes the temporary files killed writes left');
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { epoch: number }).epoch), Array.from({ length: epochs }, (_, i) => i + 1));
  // Reported so the corpus of moments is visible in the test log.
  console.log(`# SIGKILL test: ${kills} kills, ${duringWrite} during a checkpoint write (temp file left), final step ${lastStep}, ${epochs} epochs`);
});
