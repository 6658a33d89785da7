// The training flags, generated from the field table: `--lr-step <epochs>` sets the field lrStep.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../util/errors.js';
import { TRAIN_FIELDS, TRAIN_FIELD_KEYS, fieldForFlag, flagName, type Field, type TrainField } from './fields.js';

export interface TrainFlagOptions {
  /** Show each field's default in --help (train); off where unset flags must mean "not given" (compare). */
  showDefaults?: boolean;
  /** Fields that get no flag here (e.g. the ones a compare grid sets itself). */
  exclude?: readonly string[];
}

function defaultOf(field: Field): unknown {
  const r = field.schema.safeParse(undefined);
  return r.success ? r.data : undefined;
}

/** The commander options of one field: its flag, `--no-` for negatable switches, and its aliases. */
function optionsFor(key: TrainField, showDefaults: boolean): Option[] {
  const field: Field = TRAIN_FIELDS[key];
  const flag = `--${flagName(key)}`;
  const make = (name: string, help: string) => {
    const o = new Option(field.value ? `${name} ${field.value}` : name, help);
    if (field.choices) o.choices(field.choices() as string[]);
    if (field.parse) o.argParser(field.parse as (value: string, previous: unknown) => unknown);
    const d = defaultOf(field);
    if (showDefaults && d !== undefined && d !== null && !(d === false && !field.value)) o.default(d);
    if (field.hidden) o.hideHelp();
    return o;
  };
  const options = [make(flag, field.help)];
  if (field.negatable) options.push(new Option(`--no-${flagName(key)}`, field.negatable));
  for (const alias of field.aliases ?? []) options.push(make(`--${alias}`, `alias of ${flag} (the older name; ${flag} is canonical)`).default(undefined));
  return options;
}

/** Every training flag, in table order. */
export function trainFlagOptions(options: TrainFlagOptions = {}): Option[] {
  const exclude = new Set(options.exclude ?? []);
  return TRAIN_FIELD_KEYS.filter((k) => !exclude.has(k)).flatMap((k) => optionsFor(k, options.showDefaults ?? false));
}

/** Adds the training flags to a command (train, gradcheck, compare's pass-through flags). */
export function addTrainFlags(cmd: Command, options: TrainFlagOptions = {}): Command {
  for (const o of trainFlagOptions(options)) cmd.addOption(o);
  return cmd;
}

/**
 * The config fields the user set on the command line (defaults are the schema's, so they are
 * left out: a config file or a grid fills them). An alias and its field given with different
 * values is a UsageError.
 */
export function configFromFlags(cmd: Command, options: TrainFlagOptions = {}): Record<string, unknown> {
  const exclude = new Set(options.exclude ?? []);
  const values: Record<string, unknown> = {};
  const given = (attribute: string) => ['cli', 'env'].includes(cmd.getOptionValueSource(attribute) ?? '');
  for (const key of TRAIN_FIELD_KEYS) {
    if (exclude.has(key)) continue;
    if (given(key)) values[key] = cmd.getOptionValue(key);
    for (const alias of (TRAIN_FIELDS[key] as Field).aliases ?? []) {
      const attribute = new Option(`--${alias}`).attributeName();
      if (!given(attribute)) continue;
      const value = cmd.getOptionValue(attribute);
      if (key in values && values[key] !== value) throw new UsageError(`--${alias} ${String(value)} and --${flagName(key)} ${String(values[key])} disagree; give one (--${flagName(key)} is canonical)`);
      values[key] = value;
    }
  }
  return values;
}

/** Turns flag text into a field's value, as the flag would ('lr-scale', '0.3' → 0.3); errors name the flag. */
export function parseFlagValue(flag: string, text: string | undefined): { key: TrainField; value: unknown } {
  const negated = flag.startsWith('no-') ? fieldForFlag(flag.slice(3)) : undefined;
  if (negated && (TRAIN_FIELDS[negated] as Field).negatable && text === undefined) return { key: negated, value: false };
  const key = fieldForFlag(flag);
  if (!key) {
    const near = suggestFlag(flag);
    throw new UsageError(`unknown train flag '--${flag}'${near ? ` (did you mean ${near}?)` : ''}`);
  }
  const field: Field = TRAIN_FIELDS[key];
  if (!field.value) {
    if (text !== undefined) throw new UsageError(`--${flag} is a switch and takes no value (got '${text}')`);
    return { key, value: true };
  }
  if (text === undefined) throw new UsageError(`--${flag} needs a value ${field.value}`);
  if (field.choices && !field.choices().includes(text)) throw new UsageError(`--${flag}: '${text}' is not one of: ${field.choices().join(', ')}`);
  try {
    return { key, value: field.parse ? field.parse(text) : text };
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new UsageError(`--${flag}: ${err.message}`);
    throw err;
  }
}

/**
 * `train` arguments as earlier versions of compare recorded them (`--estimator ste --lr 0.1
 * --no-augment …`) back into config fields; the last value of a flag wins, as in commander.
 */
export function configFromArgs(args: readonly string[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`expected a flag, got '${arg}'`);
    const name = arg.slice(2);
    const key = fieldForFlag(name);
    const takesValue = key !== undefined && (TRAIN_FIELDS[key] as Field).value !== undefined;
    const { key: field, value } = parseFlagValue(name, takesValue ? args[++i] : undefined);
    values[field] = value;
  }
  return values;
}

/** The flags that reproduce a config's non-default fields (for listings and error logs). */
export function argsForConfig(config: Record<string, unknown>): string[] {
  const args: string[] = [];
  for (const key of TRAIN_FIELD_KEYS) {
    const field: Field = TRAIN_FIELDS[key];
    const value = config[key];
    if (value === undefined || value === null || JSON.stringify(value) === JSON.stringify(defaultOf(field))) continue;
    const flag = `--${flagName(key)}`;
    if (!field.value) args.push(value === false ? `--no-${flagName(key)}` : flag);
    else args.push(flag, Array.isArray(value) ? value.join(',') : String(value));
  }
  return args;
}

/**
 * The flag commander would suggest for a misspelt name ('--lr-stpe' → '--lr-step'), so config
 * keys get the same "did you mean" as flags.
 */
export function suggestFlag(flag: string): string | undefined {
  const cmd = addTrainFlags(new Command('train'))
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .action(() => {});
  try {
    cmd.parse([`--${flag}`], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return /Did you mean (--[a-z0-9-]+)\?/.exec(err.message)?.[1];
    throw err;
  }
  return undefined;
}

/** The field commander's suggestion points to, for a misspelt config key ('lrStpe' → 'lrStep'). */
export function suggestField(key: string): string | undefined {
  const flag = suggestFlag(flagName(key));
  return flag ? fieldForFlag(flag.slice(2)) : undefined;
}
