import { Command } from 'commander';
import { useBackend } from '../engine/backend.js';
import { formatSummary, summarizeCheckpoint } from '../export/summary.js';

export function summaryCommand(): Command {
  return new Command('summary')
    .description('per-layer weights by bit width, deployed memory and MACs of a trained model, with size totals')
    .requiredOption('--checkpoint <path>', 'run folder or checkpoint file')
    .option('--json', 'print the summary as one JSON object', false)
    .action(async (o: Record<string, unknown>) => {
      await useBackend('wasm');
      const summary = summarizeCheckpoint(String(o.checkpoint));
      process.stdout.write(o.json ? JSON.stringify(summary) + '\n' : formatSummary(summary));
    });
}
