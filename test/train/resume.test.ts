// Bit-identical resume: a run stopped (at an epoch end, mid-epoch by a signal, or by a crash
// after a --checkpoint-every checkpoint) and resumed ends with exactly the weights, optimizer
// and meta state, and metrics lines of the same run trained straight through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Trainer, type TrainCallbacks } from '../../src/train/trainer.js';
import { InterruptedError } from '../../src/util/errors.js';

const dir = () => join(mkdtempSync(join(tmpdir(), 'mq-resume-')), 'run');
// 128 examples / batch 16 = 8 steps per epoch, 4 epochs.
const BASE = { dataset: 'synthetic:8x8x1:4:128:32', model: 'mlp', hidden: [16], epochs: 4, batchSize: 16, lr: 0.01, backend: 'cpu', seed: 5 } as const;
const STE = { ...BASE, estimator: 'ste', optimizer: 'adam' } as const;
const LSTM = { ...BASE, estimator: 'metaquant', meta: 'lstm', metaHidden: 4, optimizer: 'sgd', momentum: 0.9 } as const;
const TIMING = new Set(['seconds', 'imagesPerSecond', 'stepSeconds', 'metaSeconds']);

interface Outcome {
  weights: Record<string, Buffer>;
  stepState: string;
  metrics: Record<string, number>[];
}

function bytesOf(v: unknown): unknown {
  if (v instanceof Float32Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (Array.isArray(v)) return v.map(bytesOf);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, bytesOf(x)]));
  return v;
}

function outcome(t: Trainer): Outcome {
  const weights: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(t.model.params.snapshot())) weights[k] = Buffer.from(Float32Array.from(v.data).buffer);
  const metrics = readFileSync(join(t.out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => Object.fromEntries(Object.entries(JSON.parse(l) as Record<string, number>).filter(([k]) => !TIMING.has(k))));
  return { weights, stepState: JSON.stringify(bytesOf(t.step.getState())), metrics };
}

async function straight(config: object): Promise<Outcome> {
  const t = await Trainer.create({ ...config, out: dir() });
  await t.run();
  const o = outcome(t);
  t.dispose();
  return o;
}

/** Runs until `stopAt(globalStep)` says how to stop, then resumes from the folder to the end. */
async function interruptedThenResumed(config: object, stopAt: number, how: 'signal' | 'crash'): Promise<Outcome> {
  const out = dir();
  const first = await Trainer.create({ ...config, out });
  const controller = new AbortController();
  let steps = 0;
  const callbacks: TrainCallbacks = {
    onBatch: () => {
      if (++steps !== stopAt) return;
      if (how === 'crash') throw new Error('simulated crash');
      controller.abort('SIGTERM');
    },
  };
  await assert.rejects(first.run(callbacks, { signal: controller.signal }), how === 'crash' ? /simulated crash/ : (e: unknown) => e instanceof InterruptedError && e.exitCode === 143);
  first.dispose();
  const resumed = await Trainer.resume(out);
  await resumed.run();
  const o = outcome(resumed);
  resumed.dispose();
  return o;
}

function assertSame(a: Outcome, b: Outcome, what: string): void {
  assert.deepEqual(Object.keys(a.weights), Object.keys(b.weights));
  for (const k of Object.keys(a.weights)) assert.ok(a.weights[k]!.equals(b.weights[k]!), `${what}: ${k} differs bitwise`);
  assert.equal(a.stepState, b.stepState, `${what}: optimizer/meta state differs`);
  assert.deepEqual(a.metrics, b.metrics, `${what}: metrics.jsonl differs`);
}

test('STE: stopped at an epoch end, mid-epoch by SIGTERM, or crashed after a --checkpoint-every checkpoint, resume is bit-identical', async () => {
  const reference = await straight(STE);
  assert.equal(reference.metrics.length, 4);
  // Global step 16 = the end of epoch 2 (the signal is honoured at the epoch's checkpoint).
  assertSame(reference, await interruptedThenResumed(STE, 16, 'signal'), 'epoch-end stop');
  // Step 13 = epoch 2, step 5: mid-epoch checkpoint written on the signal.
  assertSame(reference, await interruptedThenResumed(STE, 13, 'signal'), 'mid-epoch SIGTERM');
  // Checkpoints every 3 steps; a crash at step 14 loses steps 13-14, which the resume replays.
  const every3 = await straight({ ...STE, checkpointEvery: 3 });
  assertSame(reference, every3, '--checkpoint-every changes nothing');
  assertSame(reference, await interruptedThenResumed({ ...STE, checkpointEvery: 3 }, 14, 'crash'), 'crash after a mid-epoch checkpoint');
});

test('MetaQuant with an LSTM meta network: mid-epoch and epoch-end resume are bit-identical', async () => {
  const reference = await straight(LSTM);
  assert.ok(reference.metrics.every((m) => typeof m.cosMetaSte === 'number' && typeof m.flipRatio === 'number'));
  assertSame(reference, await interruptedThenResumed(LSTM, 16, 'signal'), 'LSTM epoch-end stop');
  assertSame(reference, await interruptedThenResumed({ ...LSTM, checkpointEvery: 2 }, 11, 'crash'), 'LSTM crash after a mid-epoch checkpoint');
});

test('--meta-warmup: stopped during the warm-up and resumed, the run switches objective at the same step, bit-identically', async () => {
  // 8 steps per epoch; meta steps start at global step 2, so a warm-up of 10 ends after global step 11.
  const config = { ...LSTM, epochs: 3, metaWarmup: 10 } as const;
  const reference = await straight(config);
  assert.notDeepEqual(reference.metrics, (await straight({ ...LSTM, epochs: 3 })).metrics, 'the warm-up changes the run');
  assertSame(reference, await interruptedThenResumed(config, 6, 'signal'), 'stopped mid-epoch during the warm-up');
  assertSame(reference, await interruptedThenResumed({ ...config, checkpointEvery: 3 }, 10, 'crash'), 'crashed during the warm-up, replayed across the switch');
  const regression = { ...config, phiObjective: 'ste-regression' } as const;
  assertSame(await straight(regression), await interruptedThenResumed(regression, 13, 'signal'), 'ste-regression objective after the warm-up');
});

test('paper-mode MetaQuant (FC-Grad) resumes bit-identically mid-epoch', async () => {
  const config = { ...BASE, epochs: 2, estimator: 'metaquant', meta: 'fcgrad', mqMode: 'paper', optimizer: 'adam' } as const;
  assertSame(await straight(config), await interruptedThenResumed(config, 5, 'signal'), 'paper mode');
});
