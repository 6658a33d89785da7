import { Command } from 'commander';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MetaquantError, UsageError } from '../util/errors.js';
import { readCompareConfig, type CompareConfig } from '../compare/config-file.js';
import { expandGrid, mergeGrid, readGridFile, writeGridFile, type RunSpec } from '../compare/grid.js';
import { METHOD_SPEC_SYNTAX, QUANTIZER_SPEC_SYNTAX, parseMethodSpec, splitList } from '../compare/method-spec.js';
import { checkpointEpochs, readRunResult, runDir, runGrid } from '../compare/runner.js';
import { writeSummary } from '../compare/summary.js';
import { writeReport } from '../compare/report.js';
import { parseSweepSpec, sweepFromConfig, uniqueAxes } from '../compare/sweep.js';
import { configFromTrainSection, passThroughConfig, passThroughOptions } from '../compare/common-config.js';
import { argsForConfig } from '../config/flags.js';
import { processAlive } from '../run/run-lock.js';
import { parseInteger, parseIntegerList } from './options.js';
import { GridProgress } from './grid-progress.js';
import { QUEUE_HELP, queueOptions, queueSettings, runOnQueue } from './compare-queue.js';
import { redactArgs } from '../queue/redis-url.js';

const HELP = `
Method spec: ${METHOD_SPEC_SYNTAX}
  NAME is a train --method (ste, clipped-ste, metaquant, ...), :META sets --meta, +key=value sets
  what --key value sets and +key what --key sets. Examples: ste, metaquant:fcgrad, metaquant:lstm+phi-path=zeroth-order,
  metaquant:fcgrad+freeze-phi, ste+lr-scale=0.3, ste+momentum=0.9+weight-decay=5e-4.
  A config file may name methods: {"methods": {"ste-matched": "ste+momentum=0.9+weight-decay=5e-4"}}.
Quantizer spec: ${QUANTIZER_SPEC_SYNTAX} (dorefa, dorefa:2, bwn, ternary). Optimizers: sgd, adam.

Any other train flag (e.g. --model mlp --hidden 32 --dataset fashion-mnist --train-limit 5000) applies to
every run; a method's +key=value overrides it. Every run's config is validated before any starts, written
to OUT/runs/<id>/config.json and trained by a child process (metaquant train --config that file);
a run is finished when OUT/runs/<id>/result.json exists. Rerunning the same command skips finished
runs and resumes unfinished ones from their checkpoint. A rerun may add methods/quantizers/optimizers/
seeds, but may not change the config of a run already recorded in OUT/grid.json.
Writes OUT/summary.csv, summary.json, summary.md (accuracy in %, std = sample std, n - 1), OUT/report.html
(one offline file with the table and charts) and OUT/plots/*.svg. 'metaquant report OUT' rebuilds them.`;

const LOCK_FILE = '.compare.lock';

/** This invocation as a shell command line (a queue URL's password redacted), for grid.json and the report. */
function commandLine(): string {
  const quote = (a: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['metaquant', ...redactArgs(process.argv.slice(2))].map(quote).join(' ');
}

/** The recorded command lines plus this one (a rerun of the same command is recorded once). */
const withCommand = (recorded: readonly string[] | undefined, command: string) => [...(recorded ?? []).filter((c) => c !== command), command];

/** One compare per folder at a time: a lock naming the pid, taken over when that process is gone. */
function takeLock(dir: string): () => void {
  const file = join(dir, LOCK_FILE);
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, 'utf8').trim());
    const alive = Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid);
    if (alive) throw new UsageError(`${dir} is in use by another metaquant compare (pid ${pid}); wait for it or stop it (or delete ${file} if that process is not a compare)`);
  }
  writeFileSync(file, `${process.pid}\n`);
  return () => rmSync(file, { force: true });
}

function describeState(dir: string, run: RunSpec): string {
  if (readRunResult(dir, run.id)) return 'finished';
  const done = checkpointEpochs(runDir(dir, run.id));
  return done !== undefined && done < run.epochs ? `resume after epoch ${done}` : 'to run';
}

export function compareCommand(): Command {
  const cmd = new Command('compare').description('train a grid of methods × quantizers × optimizers × seeds in child processes; resumable; writes summaries');
  cmd
    .option('--methods <specs>', `comma-separated method specs (${METHOD_SPEC_SYNTAX}) or config-file method names`)
    .option('--quantizers <specs>', `comma-separated quantizer specs (${QUANTIZER_SPEC_SYNTAX}); default dorefa`)
    .option('--optimizers <names>', 'comma-separated: sgd, adam; default adam')
    .option('--seeds <list>', 'comma-separated integer seeds; default 1', parseIntegerList)
    .option('--epochs <n>', 'epochs per run; default 5', parseInteger)
    .option('--out <dir>', 'grid folder (required here or in the config file)')
    .option('--config <file>', 'JSON or YAML file with any of: methods, quantizers, optimizers, seeds, epochs, jobs, lastK, out, train')
    .option('--jobs <n>', 'training processes at once; default 2', parseInteger)
    .option('--last-k <k>', "k of the reference's statistic (mean over the last k epochs); default 3 or the epochs if fewer", parseInteger)
    .option('--sweep <key=values>', 'train every method at each of these values of a train option, e.g. lr=1e-3,3e-3,1e-2 (repeatable; needs --val-split; each method keeps its best on validation)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--baseline <method>', 'method the others are compared with, paired by seed (default: the first method)')
    .option('--dry-run', 'list the runs and their state, run nothing', false)
    .option('--quiet', 'no progress output', false);
  for (const o of queueOptions()) cmd.addOption(o);
  const passOptions = passThroughOptions();
  for (const o of passOptions) cmd.addOption(o);
  cmd.addHelpText('after', HELP + '\n' + QUEUE_HELP);
  cmd.action(async (o: Record<string, unknown>, command: Command) => {
    const config: CompareConfig = o.config ? readCompareConfig(String(o.config)) : { namedMethods: {}, sweep: {}, train: {} };
    const where = o.config ? String(o.config) : 'config';
    const pick = <T>(flag: T | undefined, file: T | undefined, fallback: T): T => flag ?? file ?? fallback;
    const methodTexts = o.methods !== undefined ? splitList(String(o.methods)) : config.methods;
    if (!methodTexts) throw new UsageError('compare needs --methods (or "methods" in --config); e.g. --methods ste,metaquant:fcgrad');
    const out = (o.out as string | undefined) ?? config.out;
    if (!out) throw new UsageError('compare needs --out DIR (or "out" in --config)');
    const jobs = pick(o.jobs as number | undefined, config.jobs, 2);
    const queue = queueSettings(o);
    if (jobs < 1) throw new UsageError(`--jobs must be at least 1, got ${jobs}`);
    const lastK = pick(o.lastK as number | undefined, config.lastK, undefined as number | undefined);
    if (lastK !== undefined && lastK < 1) throw new UsageError(`--last-k must be at least 1, got ${lastK}`);

    const common = { ...configFromTrainSection(config.train, `${where}: train`), ...passThroughConfig(command) };
    const flagSweeps = ((o.sweep as string[] | undefined) ?? []).map(parseSweepSpec);
    const sweeps = uniqueAxes([...flagSweeps, ...sweepFromConfig(config.sweep, `${where}: sweep`).filter((a) => !flagSweeps.some((f) => f.field === a.field))]);
    if (sweeps.length > 0 && common.valSplit === undefined) {
      throw new UsageError('--sweep selects on validation accuracy: give --val-split F (e.g. 0.1), or val-split under train in the config file');
    }
    const baseline = (o.baseline as string | undefined) ?? config.baseline;
    const runs = expandGrid({
      sweeps,
      methods: methodTexts.map((m) => parseMethodSpec(m, config.namedMethods)),
      quantizers: o.quantizers !== undefined ? splitList(String(o.quantizers)) : (config.quantizers ?? ['dorefa']),
      optimizers: o.optimizers !== undefined ? splitList(String(o.optimizers)) : (config.optimizers ?? ['adam']),
      seeds: pick(o.seeds as number[] | undefined, config.seeds, [1]),
      epochs: pick(o.epochs as number | undefined, config.epochs, 5),
      common,
    });
    const previous = readGridFile(out);
    const all = mergeGrid(out, previous, runs);
    const methodNames = [...new Set(all.map((r) => r.baseMethod ?? r.method))];
    if (baseline !== undefined && !methodNames.includes(baseline)) throw new UsageError(`--baseline '${baseline}' is not a method of this grid; expected one of: ${methodNames.join(', ')}`);

    if (o.dryRun) {
      for (const r of runs) process.stdout.write(`${r.id}\t${describeState(out, r)}\tmetaquant train ${argsForConfig(r.config).join(' ')} --out ${runDir(out, r.id)}\n`);
      process.stdout.write(`${runs.length} runs (${runs.filter((r) => readRunResult(out, r.id)).length} finished) in ${out}\n`);
      return;
    }

    const queued = queue !== undefined;
    mkdirSync(out, { recursive: true });
    const unlock = takeLock(out);
    const controller = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (!controller.signal.aborted) {
        process.stderr.write(
          queued
            ? `\nmetaquant compare: ${signal}: no longer following the grid; its runs stay in the queue and the workers go on; rerun the same command to follow them again\n`
            : `\nmetaquant compare: ${signal}: stopping the running training processes; rerun the same command to continue\n`,
        );
      }
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const progress = new GridProgress(out, runs, Boolean(o.quiet), queued ? undefined : jobs);
    let outcome;
    try {
      writeGridFile(out, all, withCommand(previous?.commands, commandLine()));
      outcome = queue
        ? await runOnQueue(out, runs, queue, { onEvent: progress.onEvent, signal: controller.signal, log: (line) => progress.note(line) })
        : await runGrid(out, runs, { jobs, onEvent: progress.onEvent, signal: controller.signal });
    } finally {
      progress.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      unlock();
    }
    const summary = writeSummary(out, lastK, baseline);
    const report = await writeReport(out, summary);
    process.stderr.write(
      `metaquant compare: ${outcome.finished} run(s) finished now, ${outcome.skipped} already finished, ${outcome.failed.length} failed, ${outcome.interrupted.length} interrupted; ` +
        `${summary.rows.length} cell(s) in ${join(out, 'summary.md')} and ${report.file}\n`,
    );
    if (!o.quiet) process.stdout.write(readFileSync(join(out, 'summary.md'), 'utf8'));
    if (controller.signal.aborted) throw new MetaquantError(`interrupted; rerun the same command to continue the grid in ${out}`, 130);
    if (outcome.failed.length > 0) {
      throw new MetaquantError(`${outcome.failed.length} run(s) failed: ${outcome.failed.map((r) => r.id).join(', ')}; see error.log in each run folder (rerun to retry them)`, 1);
    }
  });
  return cmd;
}
