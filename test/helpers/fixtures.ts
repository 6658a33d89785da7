import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/helpers → the repository root is three levels up.
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The reference traces kept in the repository (test/fixtures/metaquant-reference). */
export const FIXTURE_DIR = join(repoRoot, 'test/fixtures/metaquant-reference');
/** Where more traces of the same kind may appear: ../shared/fixtures/metaquant-reference beside the checkout. */
export const SHARED_FIXTURE_DIR = resolve(repoRoot, '../shared/fixtures/metaquant-reference');

/**
 * Every reference trace: each `*.json` of the repository's folder, plus each `*.json` of the shared
 * folder (when it exists) whose file name the repository does not already have. Name → path.
 */
export function fixtureFiles(): Map<string, string> {
  const found = new Map<string, string>();
  for (const dir of [FIXTURE_DIR, SHARED_FIXTURE_DIR]) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
      const name = file.slice(0, -'.json'.length);
      if (!found.has(name)) found.set(name, join(dir, file));
    }
  }
  if (!existsSync(FIXTURE_DIR) || found.size === 0) throw new Error(`reference fixtures not found in ${FIXTURE_DIR}`);
  return found;
}

// The traces are large nested JSON; a loose type keeps the test readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Fixture = any;

export function loadFixture(path: string): Fixture {
  return JSON.parse(readFileSync(path, 'utf8'));
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
