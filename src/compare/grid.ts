import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';
import { InputFileError, UsageError } from '../util/errors.js';
import { canonicalConfigJson, parseTrainConfig, type TrainConfig } from '../config/schema.js';
import { configFromArgs } from '../config/flags.js';
import { parseOptimizerSpec, parseQuantizerSpec, slug, type MethodSpec } from './method-spec.js';
import { sweepVariants, type SweepAxis } from './sweep.js';

/** One training run of a grid: its cell (method × quantizer × optimizer), its seed and its validated training config. */
export interface RunSpec {
  id: string;
  method: string;
  quantizer: string;
  optimizer: string;
  seed: number;
  epochs: number;
  /** The run's training config, defaults filled, without `out` (the runner sets the run folder). */
  config: TrainConfig;
  /** With `--sweep`: the method's label without the swept values, and those values (flag → text). */
  baseMethod?: string;
  sweep?: Record<string, string>;
}

export interface GridInput {
  methods: MethodSpec[];
  quantizers: string[];
  optimizers: string[];
  seeds: number[];
  epochs: number;
  /** Config fields of every run (the config file's `train` section, then command-line flags). */
  common: Record<string, unknown>;
  /** `--sweep` axes: every run is trained at every combination of the values that apply to it. */
  sweeps?: SweepAxis[];
}

/** Far more training runs than any comparison needs; a larger grid is a typo (or a hostile config). */
export const MAX_GRID_RUNS = 10_000;

function unique<T>(values: T[], what: string): T[] {
  const seen = new Set<T>();
  for (const v of values) {
    if (seen.has(v)) throw new UsageError(`${what} '${String(v)}' is listed twice`);
    seen.add(v);
  }
  return values;
}

/** A run's config, validated; its problems name the run's cell. */
function runConfig(input: Record<string, unknown>, cell: string): TrainConfig {
  try {
    const { out: _out, ...config } = parseTrainConfig(input);
    return config;
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${cell}: ${err.message}`);
    throw err;
  }
}

/**
 * Expands the grid in a fixed order (method, quantizer, optimizer, seed). A run's config is the
 * common fields, then the method's, quantizer's and optimizer's, so a method's `+key=value`
 * overrides a common option of the same name; each is validated here, before any run starts.
 */
export function expandGrid(input: GridInput): RunSpec[] {
  for (const [name, list] of [['--methods', input.methods], ['--quantizers', input.quantizers], ['--optimizers', input.optimizers], ['--seeds', input.seeds]] as const) {
    if (list.length === 0) throw new UsageError(`${name} is empty: give at least one value`);
  }
  unique(input.methods.map((m) => m.label), 'method');
  unique(input.quantizers, 'quantizer');
  unique(input.optimizers, 'optimizer');
  unique(input.seeds, 'seed');
  if (!Number.isInteger(input.epochs) || input.epochs < 1) throw new UsageError(`--epochs must be a positive integer, got ${input.epochs}`);
  const size = input.methods.length * input.quantizers.length * input.optimizers.length * input.seeds.length;
  if (size > MAX_GRID_RUNS) {
    throw new UsageError(
      `the grid has ${size} runs (${input.methods.length} methods × ${input.quantizers.length} quantizers × ${input.optimizers.length} optimizers × ${input.seeds.length} seeds); at most ${MAX_GRID_RUNS} are allowed`,
    );
  }
  const quantizers = input.quantizers.map(parseQuantizerSpec);
  const optimizers = input.optimizers.map(parseOptimizerSpec);
  const runs: RunSpec[] = [];
  const ids = new Map<string, string>();
  for (const m of input.methods) {
    for (const q of quantizers) {
      for (const o of optimizers) {
        const base = { ...input.common, ...m.config, ...q.config, ...o.config };
        for (const variant of sweepVariants(input.sweeps ?? [], base, m.config)) {
          const label = m.label + variant.suffix;
          for (const seed of input.seeds) {
            const id = `${slug(label)}__${slug(q.label)}__${o.label}__s${seed}`;
            const cell = `${label} / ${q.label} / ${o.label} / seed ${seed}`;
            const clash = ids.get(id);
            if (clash) throw new UsageError(`runs '${clash}' and '${cell}' get the same folder name '${id}'; rename one method (config file "methods": {name: spec})`);
            ids.set(id, cell);
            const config = runConfig({ ...base, ...variant.config, seed, epochs: input.epochs }, `method '${label}' (${cell})`);
            const swept = variant.suffix === '' ? {} : { baseMethod: m.label, sweep: variant.values };
            runs.push({ id, method: label, quantizer: q.label, optimizer: o.label, seed, epochs: input.epochs, config, ...swept });
          }
        }
      }
    }
  }
  if (runs.length > MAX_GRID_RUNS) throw new UsageError(`the grid has ${runs.length} runs with its sweeps; at most ${MAX_GRID_RUNS} are allowed`);
  return runs;
}

export const GRID_FILE = 'grid.json';
/** Version 2 records each run's config; version 1 (earlier metaquant) its `train` arguments, still read. */
const GRID_VERSION = 2;

const runFields = {
  // A folder name under OUT/runs: '.' and '..' would point at OUT or its parent.
  id: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/)
    .refine((id) => id !== '.' && id !== '..', 'a run id may not be . or ..'),
  method: z.string(),
  quantizer: z.string(),
  optimizer: z.string(),
  seed: z.number().int(),
  epochs: z.number().int().positive(),
  baseMethod: z.string().optional(),
  sweep: z.record(z.string(), z.string()).optional(),
};

const uniqueIds = (runs: Array<{ id: string }>, ctx: z.RefinementCtx) => {
  const seen = new Set<string>();
  for (const [i, r] of runs.entries()) {
    if (seen.has(r.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `run id '${r.id}' appears twice` });
    seen.add(r.id);
  }
};

const GridHeaderSchema = z.object({
  format: z.literal('metaquant-compare-grid'),
  version: z.union([z.literal(1), z.literal(GRID_VERSION)]),
  /** The compare command lines that made the grid (optional: absent in files of earlier versions). */
  commands: z.array(z.string()).optional(),
});
const GRID_SCHEMAS = {
  1: z.object({ runs: z.array(z.object({ ...runFields, args: z.array(z.string()) })).superRefine(uniqueIds) }),
  2: z.object({ runs: z.array(z.object({ ...runFields, config: z.record(z.string(), z.unknown()) })).superRefine(uniqueIds) }),
};

export interface GridFile {
  format: 'metaquant-compare-grid';
  version: typeof GRID_VERSION;
  runs: RunSpec[];
  /** Each compare command line that made or grew the grid (the report shows them), oldest first. */
  commands?: string[];
}

function schemaProblem(file: string, error: z.ZodError): InputFileError {
  const issue = error.issues[0]!;
  return new InputFileError(file, `not a compare grid file: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
}

/** A recorded run's config, validated now (so defaults added since are filled in); version 1 files hold `train` arguments. */
function recordedConfig(file: string, run: { id: string; config?: Record<string, unknown>; args?: string[] }): TrainConfig {
  try {
    const { out: _out, ...config } = parseTrainConfig(run.config ?? configFromArgs(run.args!));
    return config;
  } catch (err) {
    if (err instanceof UsageError) throw new InputFileError(file, `run '${run.id}': ${err.message}`);
    throw err;
  }
}

export function readGridFile(dir: string): GridFile | undefined {
  const file = join(dir, GRID_FILE);
  if (!existsSync(file)) return undefined;
  // At most 10,000 runs of a few hundred bytes each: anything far larger is not one of ours.
  const size = statSync(file).size;
  if (size > 64 * 2 ** 20) throw new InputFileError(file, `is ${size} bytes; a grid file is at most 64 MiB`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InputFileError(file, `not valid JSON (${(err as Error).message})`);
  }
  const header = GridHeaderSchema.safeParse(raw);
  if (!header.success) throw schemaProblem(file, header.error);
  const parsed = GRID_SCHEMAS[header.data.version].safeParse(raw);
  if (!parsed.success) throw schemaProblem(file, parsed.error);
  const runs = parsed.data.runs.map(({ id, method, quantizer, optimizer, seed, epochs, baseMethod, sweep, ...recorded }) => ({
    id,
    method,
    quantizer,
    optimizer,
    seed,
    epochs,
    config: recordedConfig(file, { id, ...recorded }),
    ...(baseMethod !== undefined ? { baseMethod } : {}),
    ...(sweep !== undefined ? { sweep } : {}),
  }));
  return { format: 'metaquant-compare-grid', version: GRID_VERSION, runs, ...(header.data.commands ? { commands: header.data.commands } : {}) };
}

/** The fields where two configs differ, as `key: old → new`. */
function differences(a: TrainConfig, b: TrainConfig): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
  return keys
    .filter((k) => JSON.stringify((a as Record<string, unknown>)[k]) !== JSON.stringify((b as Record<string, unknown>)[k]))
    .map((k) => `${k}: ${show((a as Record<string, unknown>)[k])} → ${show((b as Record<string, unknown>)[k])}`);
}

/**
 * The rerun rule: a folder's grid may grow (new methods, seeds, …) but a run that is already
 * recorded must keep exactly the same config (same id ⇒ same training; configs compared as
 * canonical JSON), otherwise its finished result would no longer describe it. Returns the
 * union, old runs first.
 */
export function mergeGrid(dir: string, previous: GridFile | undefined, runs: RunSpec[]): RunSpec[] {
  if (!previous) return runs;
  const byId = new Map(previous.runs.map((r) => [r.id, r]));
  const changed: string[] = [];
  for (const r of runs) {
    const old = byId.get(r.id);
    if (old && canonicalConfigJson(old.config) !== canonicalConfigJson(r.config)) changed.push(`${r.id}: ${differences(old.config, r.config).join(', ')}`);
  }
  if (changed.length > 0) {
    throw new UsageError(
      `${join(dir, GRID_FILE)}: this grid changes the settings of ${changed.length} run(s) already recorded there, e.g. ${changed[0]}. ` +
        `Use the same flags to continue it, or a new --out folder for a different grid.`,
    );
  }
  const merged: RunSpec[] = [...previous.runs];
  for (const r of runs) if (!byId.has(r.id)) merged.push(r);
  return merged;
}

/** `commands`: the compare command lines to record (see GridFile); none leaves the key out. */
export function writeGridFile(dir: string, runs: RunSpec[], commands?: readonly string[]): void {
  const file: GridFile = { format: 'metaquant-compare-grid', version: GRID_VERSION, runs, ...(commands?.length ? { commands: [...commands] } : {}) };
  writeFileAtomic(join(dir, GRID_FILE), JSON.stringify(file, null, 2) + '\n');
}
