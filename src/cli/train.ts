import { Command } from 'commander';
import { Trainer } from '../train/trainer.js';
import { addTrainFlags, configFromFlags } from '../config/flags.js';
import { readConfigFile } from '../run/run-config.js';
import { progressCallbacks } from './progress.js';

const CONFIG_HELP = `
--config FILE reads the options from a JSON or YAML (.yaml/.yml) file whose keys are the fields of a
run's config.json, i.e. the flag names in camelCase or as written here (lrStep or lr-step), e.g.
  {"model": "lenet5", "method": "metaquant", "meta": "lstm", "lrStep": 10, "hidden": [64]}
A run folder's config.json works as one. Flags given on the command line override the file; an
unknown key or a bad value is an error naming the file and the key.
--method is the canonical name of the training method; --estimator is accepted as an alias.`;

/** The config a `train` command line describes: the --config file, then the flags given. */
function trainConfigInput(o: Record<string, unknown>, command: Command): Record<string, unknown> {
  return { ...(o.config ? readConfigFile(String(o.config)) : {}), ...configFromFlags(command) };
}

export function trainCommand(): Command {
  const cmd = new Command('train').description('train a network with quantized weights; writes a run folder');
  addTrainFlags(cmd, { showDefaults: true })
    .option('--config <file>', 'JSON or YAML file of training options (config.json keys); flags given here override it')
    .option('--resume <dir>', 'continue an interrupted run from its folder (other flags are ignored, except --epochs)')
    .option('--json', 'print one JSON object with the results as the last stdout line', false)
    .option('--quiet', 'no progress output', false)
    .action(async (o: Record<string, unknown>, command: Command) => {
      const trainer = o.resume
        ? await Trainer.resume(String(o.resume), command.getOptionValueSource('epochs') === 'cli' ? { epochs: o.epochs as number } : {})
        : await Trainer.create(trainConfigInput(o, command));
      process.stderr.write(
        `metaquant train: ${trainer.config.model} on ${trainer.dataset.name} (${trainer.dataset.train.count} train / ${trainer.dataset.val ? `${trainer.dataset.val.count} validation / ` : ''}${trainer.dataset.test.count} test), ` +
          `${trainer.model.quantizer?.label ?? 'none'}, ` +
          `${trainer.config.method}${trainer.config.method === 'metaquant' ? `:${trainer.config.meta} (${trainer.config.mqMode} mode)` : ''}, ` +
          `${trainer.config.optimizer} lr ${trainer.config.lr}, backend ${trainer.config.backend}; run folder ${trainer.out}\n`,
      );
      if (trainer.step.notice) process.stderr.write(`metaquant train: ${trainer.step.notice}\n`);
      const result = await withInterruptSignals((signal) => trainer.run(progressCallbacks(trainer.config.epochs, Boolean(o.quiet)), { signal }));
      trainer.dispose();
      const summary = {
        testAccuracy: result.testAccuracy,
        testLoss: result.testLoss,
        epochs: result.epochs,
        seconds: Number(result.seconds.toFixed(2)),
        imagesPerSecond: Number(result.imagesPerSecond.toFixed(1)),
        out: result.out,
      };
      if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else process.stdout.write(`test accuracy ${(result.testAccuracy * 100).toFixed(2)}% (loss ${result.testLoss.toFixed(4)}) after ${result.epochs} epochs; run folder ${result.out}\n`);
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
