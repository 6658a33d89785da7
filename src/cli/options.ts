import { InvalidArgumentError, Option } from 'commander';

/** Parsers for numeric flags that reject junk with a message naming the expected form. */
export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got '${value}'`);
  return n;
}

export function parseInteger(value: string): number {
  const n = parseNumber(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer, got '${value}'`);
  return n;
}

export function parseIntegerList(value: string): number[] {
  return value.split(',').map((v) => parseInteger(v.trim()));
}

/** A flag restricted to a fixed set of values; commander lists them in the error and in --help. */
export function choiceOption(flags: string, description: string, choices: readonly string[], defaultValue?: string): Option {
  const o = new Option(flags, description).choices(choices as string[]);
  return defaultValue === undefined ? o : o.default(defaultValue);
}
