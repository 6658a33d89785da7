import { Command } from 'commander';
import { resolve } from 'node:path';
import { Trainer, type EpochMetrics, type TrainResult } from '../train/trainer.js';
import { addTrainFlags, configFromFlags } from '../config/flags.js';
import { parseTrainConfig } from '../config/schema.js';
import { readConfigFile } from '../run/run-config.js';
import { defaultRunDir } from '../run/run-folder.js';
import { acquireRunLock, type RunLock } from '../run/run-lock.js';
import { RunRecorder } from '../run/run-record.js';
import { checkResumableFolder, isFinished, prepareFreshRunFolder } from '../run/run-guard.js';
import { readCheckpointPayload } from '../run/checkpoint-payload.js';
import { InterruptedError, UsageError } from '../util/errors.js';
import { progressCallbacks } from './progress.js';

const CONFIG_HELP = `
--config FILE reads the options from a JSON or YAML (.yaml/.yml) file whose keys are the fields of a
run's config.json, i.e. the flag names in camelCase or as written here (lrStep or lr-step), e.g.
  {"model": "lenet5", "method": "metaquant", "meta": "lstm", "lrStep": 10, "hidden": [64]}
A run folder's config.json works as one. Flags given on the command line override the file; an
unknown key or a bad value is an error naming the file and the key.
--method is the canonical name of the training method; --estimator is accepted as an alias.

Run folders: --out DIR that already holds a run is refused (continue it with --resume DIR, or
replace it with --overwrite); one process writes a folder at a time (DIR/run.lock names it).
--resume of a run that completed its epochs prints its result and exits 0 (--epochs N trains on).
DIR/run.json records the command, version, host, times and status of each session.`;

/** The config a `train` command line describes: the --config file, then the flags given. */
function trainConfigInput(o: Record<string, unknown>, command: Command): Record<string, unknown> {
  return { ...(o.config ? readConfigFile(String(o.config)) : {}), ...configFromFlags(command) };
}

/** What train prints: the run's result without its per-epoch history. */
type Summary = Omit<TrainResult, 'history'>;

function summaryOf(result: Pick<TrainResult, 'testAccuracy' | 'testLoss' | 'epochs' | 'seconds' | 'imagesPerSecond' | 'out'>): Summary {
  return {
    testAccuracy: result.testAccuracy,
    testLoss: result.testLoss,
    epochs: result.epochs,
    seconds: Number(result.seconds.toFixed(2)),
    imagesPerSecond: Number(result.imagesPerSecond.toFixed(1)),
    out: result.out,
  };
}

/** A finished run's result as its history has it (training seconds and images/s over all epochs). */
function finishedSummary(history: readonly EpochMetrics[], out: string): Summary {
  const last = history[history.length - 1]!;
  const seconds = history.reduce((s, m) => s + m.seconds, 0);
  const images = history.reduce((s, m) => s + m.imagesPerSecond * m.seconds, 0);
  return summaryOf({ testAccuracy: last.testAccuracy, testLoss: last.testLoss, epochs: history.length, seconds, imagesPerSecond: images / Math.max(seconds, 1e-9), out });
}

function printSummary(summary: Summary, json: boolean): void {
  if (json) process.stdout.write(JSON.stringify(summary) + '\n');
  else process.stdout.write(`test accuracy ${(summary.testAccuracy * 100).toFixed(2)}% (loss ${summary.testLoss.toFixed(4)}) after ${summary.epochs} epochs; run folder ${summary.out}\n`);
}

export function trainCommand(): Command {
  const cmd = new Command('train').description('train a network with quantized weights; writes a run folder');
  addTrainFlags(cmd, { showDefaults: true })
    .option('--config <file>', 'JSON or YAML file of training options (config.json keys); flags given here override it')
    .option('--resume <dir>', 'continue an interrupted run from its folder (other flags are ignored, except --epochs)')
    .option('--overwrite', 'replace the run already in the --out folder (deletes everything in it, exports included)', false)
    .option('--json', 'print one JSON object with the results as the last stdout line', false)
    .option('--quiet', 'no progress output', false)
    .action(async (o: Record<string, unknown>, command: Command) => {
      const epochsOverride = command.getOptionValueSource('epochs') === 'cli' ? (o.epochs as number) : undefined;
      let lock: RunLock;
      let trainer: Trainer;
      if (o.resume) {
        const dir = String(o.resume);
        if (o.out !== undefined && resolve(String(o.out)) !== resolve(dir)) throw new UsageError(`--resume ${dir} continues the run in its own folder; --out ${String(o.out)} names another (leave --out out)`);
        if (o.overwrite) throw new UsageError('--resume continues a run and --overwrite replaces it: give one of them');
        checkResumableFolder(dir);
        lock = acquireRunLock(dir);
        try {
          const { payload } = readCheckpointPayload(dir);
          if (isFinished(payload, epochsOverride)) {
            process.stderr.write(`metaquant train: ${dir} already finished its ${payload.epochsDone} epochs; nothing to train (continue with --resume ${dir} --epochs N for more)\n`);
            printSummary(finishedSummary(payload.history, dir), Boolean(o.json));
            return;
          }
          trainer = await Trainer.resume(dir, epochsOverride !== undefined ? { epochs: epochsOverride } : {});
        } finally {
          if (!trainer!) lock.release();
        }
      } else {
        const input = trainConfigInput(o, command);
        const out = typeof input.out === 'string' ? input.out : defaultRunDir();
        lock = acquireRunLock(out);
        try {
          prepareFreshRunFolder(out, { overwrite: Boolean(o.overwrite), configFile: o.config ? String(o.config) : undefined });
          trainer = await Trainer.create(parseTrainConfig({ ...input, out })); // a file's key 'data' is an unknown key here
        } finally {
          if (!trainer!) lock.release();
        }
      }
      try {
        const record = new RunRecorder(trainer.out, { resumed: Boolean(o.resume) });
        process.stderr.write(
          `metaquant train: ${trainer.config.model} on ${trainer.dataset.name} (${trainer.dataset.train.count} train / ${trainer.dataset.val ? `${trainer.dataset.val.count} validation / ` : ''}${trainer.dataset.test.count} test), ` +
            `${trainer.model.quantizer?.label ?? 'none'}${trainer.model.activation ? ` weights, ${trainer.model.activation.quantizer.label} activations` : ''}, ` +
            `${trainer.config.method}${trainer.config.method === 'metaquant' ? `:${trainer.config.meta} (${trainer.config.mqMode} mode)` : ''}, ` +
            `${trainer.config.optimizer} lr ${trainer.config.lr}, backend ${trainer.config.backend}; run folder ${trainer.out}\n`,
        );
        if (trainer.step.notice) process.stderr.write(`metaquant train: ${trainer.step.notice}\n`);
        let result: TrainResult;
        try {
          result = await withInterruptSignals((signal) => trainer.run(progressCallbacks(trainer.config.epochs, Boolean(o.quiet)), { signal }));
        } catch (err) {
          record.end(err instanceof InterruptedError ? 'interrupted' : 'failed', { epochsDone: trainer.history.length, message: (err as Error).message });
          throw err;
        }
        record.end('finished', { epochsDone: result.epochs });
        trainer.dispose();
        printSummary(summaryOf(result), Boolean(o.json));
      } finally {
        lock.release();
      }
    });
  cmd.addHelpText('after', CONFIG_HELP);
  return cmd;
}

/**
 * SIGINT/SIGTERM during training: the first one lets the current step finish, write a checkpoint
 * and exit 130/143 (see Trainer.run); a second one exits at once (the last checkpoint is intact,
 * as checkpoints are written atomically).
 */
async function withInterruptSignals<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const handler = (name: 'SIGINT' | 'SIGTERM') => {
    if (controller.signal.aborted) process.exit(name === 'SIGINT' ? 130 : 143);
    process.stderr.write(`\nmetaquant: ${name} received; finishing this step and writing a checkpoint (again to quit at once)\n`);
    controller.abort(name);
  };
  const onInt = () => handler('SIGINT');
  const onTerm = () => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    return await body(controller.signal);
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
