// Fuzz readers (see fuzz.ts) for the packed model file and the compare folder's files: each takes a
// file's bytes and does what metaquant does with such a file, throwing our errors for bad input.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBackend } from '../../src/engine/backend.js';
import { loadPackedModel } from '../../src/export/packed-format.js';
import { readCompareConfig } from '../../src/compare/config-file.js';
import { expandGrid } from '../../src/compare/grid.js';
import { parseMethodSpec } from '../../src/compare/method-spec.js';
import { loadGrid } from '../../src/compare/summary.js';
import { configFromTrainSection } from '../../src/compare/common-config.js';
import { UsageError } from '../../src/util/errors.js';

/** The worker awaits this before the first input (the packed reader builds a tfjs model). */
export const ready = useBackend('cpu');

/** `loadPackedModel`: decode, validate, build the LayersModel (then free it). */
export function packedModel(bytes: Uint8Array): void {
  loadPackedModel(bytes, 'fuzz/model.mqp').dispose();
}

const dir = mkdtempSync(join(tmpdir(), 'mq-fuzz-compare-'));

/** What `metaquant compare --config FILE` does before it trains: read the file, expand and check the grid. */
function compareConfig(bytes: Uint8Array, name: string): void {
  const file = join(dir, name);
  writeFileSync(file, bytes);
  const config = readCompareConfig(file);
  if (!config.methods) throw new UsageError(`${file}: no methods`);
  // Expanding the grid validates every run's config (common fields, method's +key=value, axes).
  expandGrid({
    methods: config.methods.map((m) => parseMethodSpec(m, config.namedMethods)),
    quantizers: config.quantizers ?? ['dorefa'],
    optimizers: config.optimizers ?? ['adam'],
    seeds: config.seeds ?? [1],
    epochs: config.epochs ?? 5,
    common: configFromTrainSection(config.train, `${file}: train`),
  });
}
export const compareConfigJson = (bytes: Uint8Array) => compareConfig(bytes, 'compare.json');
export const compareConfigYaml = (bytes: Uint8Array) => compareConfig(bytes, 'compare.yaml');

/** What `metaquant report DIR` reads first: OUT/grid.json and, per run, its folder (none finished here). */
export function gridFile(bytes: Uint8Array): void {
  const grid = join(dir, 'grid');
  mkdirSync(grid, { recursive: true });
  writeFileSync(join(grid, 'grid.json'), bytes);
  loadGrid(grid);
}
