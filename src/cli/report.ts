import { Command } from 'commander';
import { rebuildReport } from '../compare/report.js';
import { parseInteger } from './options.js';

/** `metaquant report DIR`: rebuilds summary.csv/json/md, plots/*.svg and report.html of a compare folder. */
export function reportCommand(): Command {
  return new Command('report')
    .description('rebuild the summaries, charts and report.html of a metaquant compare folder from its finished runs')
    .argument('<dir>', 'the folder given to compare --out')
    .option('--last-k <k>', "k of the reference's statistic; default 3 or the epochs if fewer", parseInteger)
    .option('--baseline <method>', 'method the others are compared with, paired by seed (default: the first method)')
    .action(async (dir: string, o: { lastK?: number; baseline?: string }) => {
      const { summary, report } = await rebuildReport(dir, o.lastK, o.baseline);
      process.stderr.write(`metaquant report: ${summary.data.finished.length} finished run(s), ${summary.rows.length} cell(s), ${report.charts.length} chart(s) in ${report.file}\n`);
    });
}
