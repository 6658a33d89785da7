import { Option } from 'commander';

export { parseInteger, parseIntegerList, parseNumber } from '../config/flag-values.js';

/** A flag restricted to a fixed set of values; commander lists them in the error and in --help. */
export function choiceOption(flags: string, description: string, choices: readonly string[], defaultValue?: string): Option {
  const o = new Option(flags, description).choices(choices as string[]);
  return defaultValue === undefined ? o : o.default(defaultValue);
}
