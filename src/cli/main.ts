#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { MetaquantError } from '../util/errors.js';
import { packageVersion } from '../util/package-version.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { compareCommand } from './compare.js';
import { summaryCommand } from './summary.js';
import { exportCommand } from './export.js';
import { demoCommand } from './demo.js';
import { reportCommand } from './report.js';
import { gradcheckCommand } from './gradcheck.js';
import { workerCommand } from './worker.js';

/**
 * The `metaquant` command. Errors are caught here and printed as one line (the wasm backend
 * installs process-wide handlers that would otherwise dump its minified source); `--debug`
 * adds the stack trace.
 */
async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const program = new Command('metaquant')
    .description(`metaquant ${packageVersion()}: quantization-aware training of 1-8 bit networks with MetaQuant and STE`)
    .version(packageVersion(), '-V, --version', 'print the metaquant version')
    .option('--debug', 'print stack traces on errors')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');
  for (const cmd of [
    trainCommand(),
    evalCommand(),
    compareCommand(),
    summaryCommand(),
    exportCommand(),
    demoCommand(),
    reportCommand(),
    gradcheckCommand(),
    workerCommand(),
  ]) {
    cmd.exitOverride().option('--debug', 'print stack traces on errors');
    program.addCommand(cmd);
  }
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; bad flags and values are usage errors (exit 2).
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof MetaquantError) {
      process.stderr.write(`metaquant: ${err.message}\n`);
      if (debug) process.stderr.write(`${err.stack}\n`);
      return err.exitCode;
    }
    const e = err as Error;
    process.stderr.write(`metaquant: unexpected error: ${e?.message ?? String(err)}\n`);
    if (debug) process.stderr.write(`${e?.stack}\n`);
    else process.stderr.write('(run with --debug for the stack trace)\n');
    return 1;
  }
}

main(process.argv).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`metaquant: ${String(err)}\n`);
    process.exit(1);
  },
);
