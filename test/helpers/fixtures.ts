import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared reference traces: ../shared/fixtures/metaquant-reference beside the checkout. */
export function fixtureDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/test/helpers → repo root is three levels up.
  const candidates = [resolve(here, '../../../../shared/fixtures/metaquant-reference'), resolve(process.cwd(), '../shared/fixtures/metaquant-reference')];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`reference fixtures not found; looked in ${candidates.join(', ')}`);
  return found;
}

export const FIXTURE_NAMES = [
  'dorefa-fcgrad-sgd',
  'dorefa-fcgrad-adam',
  'dorefa-multifc-sgd',
  'dorefa-lstm-sgd',
  'bwn-fcgrad-sgd',
  'bwn-multifc-sgd',
  'bwn-lstm-sgd',
] as const;

// The traces are large nested JSON; a loose type keeps the test readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Fixture = any;

export function loadFixture(name: string): Fixture {
  return JSON.parse(readFileSync(join(fixtureDir(), `${name}.json`), 'utf8'));
}

/** Flattens nested arrays row-major. */
export function flat(v: unknown): number[] {
  return Array.isArray(v) ? v.flatMap(flat) : [v as number];
}

/** A torch Linear weight [out, in] as our dense kernel [in, out], flattened row-major. */
export function torchLinearToKernel(w: number[][]): number[] {
  const out = w.length;
  const inF = w[0]!.length;
  const r: number[] = [];
  for (let i = 0; i < inF; i++) for (let o = 0; o < out; o++) r.push(w[o]![i]!);
  return r;
}
