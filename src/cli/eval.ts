import { Command } from 'commander';
import { useBackend, BACKENDS, type BackendName } from '../engine/backend.js';
import { loadDataset } from '../data/index.js';
import { loadModel } from '../run/checkpoint-payload.js';
import { evaluate } from '../train/evaluate.js';
import { UsageError } from '../util/errors.js';
import { choiceOption, parseInteger } from './options.js';

export function evalCommand(): Command {
  return new Command('eval')
    .description('evaluate a trained checkpoint on a data set (quantized weights, no look-ahead)')
    .requiredOption('--checkpoint <path>', 'run folder or checkpoint file')
    .option('--dataset <name>', 'data set (default: the one the run trained on)')
    .option('--data-dir <dir>', 'folder holding the data set files')
    .option('--test-limit <n>', 'use only the first n test images', parseInteger)
    .addOption(choiceOption('--split <name>', 'which split to evaluate', ['test', 'train'], 'test'))
    .addOption(choiceOption('--backend <name>', 'TensorFlow.js backend', BACKENDS, 'wasm'))
    .option('--json', 'print one JSON object as the last stdout line', false)
    .action(async (o: Record<string, unknown>) => {
      await useBackend(o.backend as BackendName);
      const { model, payload } = loadModel(String(o.checkpoint));
      const ownData = o.dataset === undefined;
      const loaded = await loadDataset({
        dataset: (o.dataset as string | undefined) ?? payload.config.dataset,
        dataDir: (o.dataDir as string | undefined) ?? (ownData ? payload.config.dataDir : undefined),
        testLimit: o.testLimit as number | undefined,
        // Older checkpoints store no normalisation: the run's own training images give it back.
        trainLimit: ownData ? payload.config.trainLimit : undefined,
      });
      // The input normalisation is part of the trained model: the checkpoint's, as training used it
      // (with --train-limit it differs from the full training split's).
      const stored = payload.normalization;
      const dataset = stored && stored.mean.length === loaded.channels ? { ...loaded, mean: stored.mean, std: stored.std } : loaded;
      const [h, w, c] = model.config.inputShape;
      if (dataset.height !== h || dataset.width !== w || dataset.channels !== c || dataset.numClasses !== model.config.numClasses) {
        throw new UsageError(
          `the checkpoint expects ${h}×${w}×${c} images and ${model.config.numClasses} classes; ` +
            `${dataset.name} has ${dataset.height}×${dataset.width}×${dataset.channels} and ${dataset.numClasses}`,
        );
      }
      const result = evaluate(model, dataset, o.split as 'test' | 'train', payload.config.evalBatchSize); // training's batching: the same sums
      model.dispose();
      if (o.json) process.stdout.write(JSON.stringify({ testAccuracy: result.accuracy, testLoss: result.loss, count: result.count }) + '\n');
      else process.stdout.write(`${dataset.name} ${o.split}: accuracy ${(result.accuracy * 100).toFixed(2)}%, loss ${result.loss.toFixed(4)} on ${result.count} images\n`);
    });
}
