import { InvalidArgumentError } from 'commander';

/**
 * Parsers for flag text (`--lr 0.1`, `--hidden 32,16`, compare's `+lr-scale=0.3`) that reject junk
 * with a message naming the expected form; commander reports their errors with the flag's name.
 */
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
