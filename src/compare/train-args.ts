import { Command, CommanderError, type Option } from 'commander';
import { addTrainOptions } from '../cli/train.js';
import { UsageError } from '../util/errors.js';
import { GRID_CONTROLLED_FLAGS } from './method-spec.js';

/**
 * The `train` flags `compare` passes through to every run, and a check that a run's full argument
 * list is one `train` would accept — done before any child starts, so a typo in a method's
 * `+key=value` fails the grid at once with commander's message instead of in every child.
 */

/** The `train` options (from the same definitions `train` uses) that a grid does not control, without defaults. */
export function passThroughOptions(): Option[] {
  const template = addTrainOptions(new Command('train'));
  const controlled = GRID_CONTROLLED_FLAGS as readonly string[];
  return template.options.filter((o) => !controlled.includes((o.long ?? '').replace(/^--(no-)?/, ''))).map((o) => {
    // Only flags the user gives are passed on; each child applies train's own defaults.
    o.defaultValue = undefined;
    o.defaultValueDescription = undefined;
    return o;
  });
}

/** Rebuilds `train` arguments for the pass-through options the user set on the command line. */
export function passThroughArgs(cmd: Command, options: Option[]): string[] {
  const args: string[] = [];
  for (const o of options) {
    const name = o.attributeName();
    if (cmd.getOptionValueSource(name) !== 'cli') continue;
    const value = cmd.getOptionValue(name) as unknown;
    const long = o.long!;
    if (o.negate) {
      // --augment / --no-augment share one attribute: emit whichever the final value means.
      if (value === false) args.push(long);
      continue;
    }
    if (o.required || o.optional) args.push(long, Array.isArray(value) ? value.join(',') : String(value));
    else if (value === true) args.push(long);
  }
  return args;
}

/** Turns a config file's `train: {model: 'mlp', hidden: [32], 'train-limit': 5000, augment: false}` into flags. */
export function argsFromObject(values: Record<string, unknown>, options: Option[], where: string): string[] {
  const args: string[] = [];
  for (const [rawKey, value] of Object.entries(values)) {
    const key = rawKey.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if ((GRID_CONTROLLED_FLAGS as readonly string[]).includes(key)) {
      throw new UsageError(`${where}: '${rawKey}' is set by the grid (methods/quantizers/optimizers/seeds/epochs/out), not under train`);
    }
    const positive = options.find((o) => o.long === `--${key}` && !o.negate);
    const negative = options.find((o) => o.long === `--no-${key}`);
    if (!positive && !negative) throw new UsageError(`${where}: unknown train flag '${rawKey}' (run metaquant train --help for the list)`);
    if (typeof value === 'boolean') {
      if (value && positive && !(positive.required || positive.optional)) args.push(positive.long!);
      else if (!value && negative) args.push(negative.long!);
      else if (value || positive?.required) throw new UsageError(`${where}: '${rawKey}' takes a value, not ${String(value)}`);
    } else if (typeof value === 'number' || typeof value === 'string') {
      args.push(`--${key}`, String(value));
    } else if (Array.isArray(value) && value.every((v) => typeof v === 'number' || typeof v === 'string')) {
      args.push(`--${key}`, value.join(','));
    } else {
      throw new UsageError(`${where}: '${rawKey}' must be a string, number, boolean or list, not ${JSON.stringify(value)}`);
    }
  }
  return args;
}

/** Throws a UsageError (prefixed with `what`) unless `train` would accept `args`. */
export function checkTrainArgs(args: string[], what: string): void {
  const cmd = addTrainOptions(new Command('train'))
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .allowExcessArguments(false)
    .action(() => {});
  try {
    cmd.parse(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new UsageError(`${what}: ${err.message.replace(/^error: /, '')}`);
    throw err;
  }
}
