import { Command, Option } from 'commander';
import { Trainer } from '../train/trainer.js';
import { METHODS, ON_NAN, QUANTIZER_CHOICES } from '../train/config.js';
import { OPTIMIZERS } from '../train/optimizers.js';
import { SCHEDULES } from '../train/schedules.js';
import { META_ACTIVATIONS, META_KINDS } from '../meta/types.js';
import { MQ_MODES, PHI_PATHS } from '../train/metaquant/options.js';
import { ZO_METHODS } from '../train/zeroth-order.js';
import { BACKENDS } from '../engine/backend.js';
import { MODEL_NAMES } from '../models/architectures.js';
import { choiceOption, parseInteger, parseIntegerList, parseNumber } from './options.js';
import { progressCallbacks } from './progress.js';

/** Adds every training flag (shared by `train` and, later, grid commands). */
export function addTrainOptions(cmd: Command): Command {
  return cmd
    .option('--dataset <name>', "mnist (bundled), fashion-mnist, idx:DIR, cifar10, cifar100, synthetic", 'mnist')
    .option('--data-dir <dir>', 'folder holding the data set files')
    .option('--train-limit <n>', 'use only the first n training images', parseInteger)
    .option('--test-limit <n>', 'use only the first n test images', parseInteger)
    .option('--augment', 'pad-4 random crop + horizontal flip (default: on for CIFAR only)')
    .option('--no-augment', 'disable augmentation')
    .addOption(choiceOption('--model <name>', 'architecture', MODEL_NAMES, 'mlp'))
    .option('--hidden <sizes>', 'mlp hidden widths, comma separated (default 256,256)', parseIntegerList)
    .addOption(choiceOption('--quantizer <name>', 'weight quantizer', QUANTIZER_CHOICES, 'dorefa'))
    .option('--bits <k>', 'dorefa bit width (1-8)', parseInteger, 1)
    .option('--per-channel', 'bwn/ternary: one scale per output channel', false)
    .option('--keep-first-last-fp', 'keep the first and last weight layers in float', false)
    .addOption(choiceOption('--estimator <name>', 'gradient through the quantizer', METHODS, 'ste'))
    .option('--lr-scale <x>', 'multiply the STE learning rate by x', parseNumber, 1)
    .option('--hypergrad-beta <beta>', 'ste-hypergrad: learning rate of the learning rate (default: SGD 1e-3, Adam 1e-7, as Baydin et al.)', parseNumber)
    .addOption(choiceOption('--meta <kind>', 'MetaQuant meta network', META_KINDS, 'fcgrad'))
    .option('--meta-hidden <n>', 'meta network hidden width', parseInteger, 100)
    .option('--meta-layers <n>', 'multifc linear layers (reference runs: 3, paper: 2)', parseInteger, 3)
    .addOption(choiceOption('--meta-activation <name>', 'fcgrad/multifc activation', META_ACTIVATIONS, 'none'))
    .option('--meta-lr <beta>', 'meta network Adam learning rate', parseNumber, 1e-3)
    .addOption(choiceOption('--mq-mode <mode>', 'code = the authors\' code (default), paper = the paper\'s equations', MQ_MODES, 'code'))
    .addOption(choiceOption('--phi-path <path>', "how phi's gradient crosses the quantizer: ste (reference), meta (Eq. 8) or zeroth-order (loss differences, no gradient through Q)", PHI_PATHS, 'ste'))
    .addOption(choiceOption('--zo-method <name>', 'zeroth-order phi path: spsa (Rademacher) or es (antithetic Gaussian)', ZO_METHODS, 'spsa'))
    .option('--zo-samples <n>', 'zeroth-order phi path: antithetic perturbation pairs per step (2 losses each)', parseInteger, 2)
    .option('--zo-scale <sigma>', "zeroth-order phi path: perturbation size relative to each phi tensor's RMS", parseNumber, 0.05)
    .option('--lstm-reset', 'zero the LSTM meta state every step', false)
    .option('--freeze-phi', 'ablation: never train phi', false)
    .option('--detach-phi', 'ablation: no path from the loss to phi', false)
    .option('--max-meta-memory <GiB>', 'refuse LSTM meta state larger than this', parseNumber, 8)
    .addOption(choiceOption('--optimizer <name>', 'base optimizer', OPTIMIZERS, 'adam'))
    .option('--lr <alpha>', 'base learning rate', parseNumber, 1e-3)
    .option('--momentum <mu>', 'SGD momentum', parseNumber, 0)
    .option('--nesterov', 'Nesterov momentum', false)
    .option('--weight-decay <lambda>', 'L2 weight decay (default: 5e-4 for MetaQuant+Adam as the reference, else 0)', parseNumber)
    .addOption(choiceOption('--schedule <name>', 'learning-rate schedule', SCHEDULES, 'step'))
    .option('--lr-step <epochs>', 'step schedule: divide the lr by 10 every this many epochs', parseInteger, 30)
    .option('--epochs <n>', 'epochs', parseInteger, 5)
    .option('--batch-size <n>', 'batch size', parseInteger, 128)
    .option('--seed <n>', 'random seed (weights, data order, augmentation, meta network)', parseInteger, 1)
    .addOption(choiceOption('--backend <name>', 'TensorFlow.js backend (tensorflow = @tensorflow/tfjs-node if installed)', BACKENDS, 'wasm'))
    .option('--init <checkpoint>', 'start from the weights of a run folder or checkpoint (e.g. a float model)')
    .option('--out <dir>', 'run folder (default runs/<timestamp>)')
    .addOption(choiceOption('--on-nan <policy>', 'when the loss, meta output or a gradient is NaN/Inf: stop, skip-batch (discard the step), rollback (last checkpoint, halved learning rates)', ON_NAN, 'stop'))
    .option('--max-rollbacks <n>', '--on-nan rollback: give up after this many consecutive rollbacks', parseInteger, 3)
    .option('--checkpoint-every <steps>', 'also write a checkpoint every this many steps (default: every epoch only)', parseInteger)
    .option('--max-memory <GiB>', 'refuse runs estimated above this much memory (default: the free memory)', parseNumber)
    .addOption(new Option('--inject-nan <steps>', 'testing: feed an all-NaN batch at these global steps').argParser(parseIntegerList).hideHelp());
}

/** Maps parsed commander options to the TrainConfig fields. */
export function trainConfigFromOptions(o: Record<string, unknown>): Record<string, unknown> {
  return {
    dataset: o.dataset,
    dataDir: o.dataDir,
    trainLimit: o.trainLimit,
    testLimit: o.testLimit,
    augment: o.augment,
    model: o.model,
    hidden: o.hidden,
    quantizer: o.quantizer,
    bits: o.bits,
    perChannel: o.perChannel,
    keepFirstLastFp: o.keepFirstLastFp,
    estimator: o.estimator,
    lrScale: o.lrScale,
    hypergradBeta: o.hypergradBeta ?? null,
    meta: o.meta,
    metaHidden: o.metaHidden,
    metaLayers: o.metaLayers,
    metaActivation: o.metaActivation,
    metaLr: o.metaLr,
    mqMode: o.mqMode,
    phiPath: o.phiPath,
    zoMethod: o.zoMethod,
    zoSamples: o.zoSamples,
    zoScale: o.zoScale,
    lstmReset: o.lstmReset,
    freezePhi: o.freezePhi,
    detachPhi: o.detachPhi,
    maxMetaMemoryGiB: o.maxMetaMemory,
    optimizer: o.optimizer,
    lr: o.lr,
    momentum: o.momentum,
    nesterov: o.nesterov,
    weightDecay: o.weightDecay ?? null,
    schedule: o.schedule,
    lrStepEpochs: o.lrStep,
    epochs: o.epochs,
    batchSize: o.batchSize,
    seed: o.seed,
    backend: o.backend,
    init: o.init,
    out: o.out,
    onNan: o.onNan,
    maxRollbacks: o.maxRollbacks,
    checkpointEvery: o.checkpointEvery,
    maxMemoryGiB: o.maxMemory,
    injectNanAtSteps: o.injectNan,
  };
}

export function trainCommand(): Command {
  const cmd = new Command('train').description('train a network with quantized weights; writes a run folder');
  addTrainOptions(cmd)
    .option('--resume <dir>', 'continue an interrupted run from its folder (other flags are ignored, except --epochs)')
    .option('--json', 'print one JSON object with the results as the last stdout line', false)
    .option('--quiet', 'no progress output', false)
    .action(async (o: Record<string, unknown>, command: Command) => {
      const trainer = o.resume
        ? await Trainer.resume(String(o.resume), command.getOptionValueSource('epochs') === 'cli' ? { epochs: o.epochs as number } : {})
        : await Trainer.create(trainConfigFromOptions(o));
      process.stderr.write(
        `metaquant train: ${trainer.config.model} on ${trainer.dataset.name} (${trainer.dataset.train.count} train / ${trainer.dataset.test.count} test), ` +
          `${trainer.model.quantizer?.label ?? 'none'}, ` +
          `${trainer.config.estimator}${trainer.config.estimator === 'metaquant' ? `:${trainer.config.meta} (${trainer.config.mqMode} mode)` : ''}, ` +
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
