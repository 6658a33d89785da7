import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';
import { InputFileError, UsageError } from '../util/errors.js';
import { parseOptimizerSpec, parseQuantizerSpec, slug, type MethodSpec } from './method-spec.js';

/** One training run of a grid: its cell (method × quantizer × optimizer), its seed and its `train` arguments. */
export interface RunSpec {
  id: string;
  method: string;
  quantizer: string;
  optimizer: string;
  seed: number;
  epochs: number;
  /** Every `train` argument except --out/--json/--quiet (those the runner adds). */
  args: string[];
}

export interface GridInput {
  methods: MethodSpec[];
  quantizers: string[];
  optimizers: string[];
  seeds: number[];
  epochs: number;
  /** `train` flags applied to every run (config file's `train` section, then command-line flags). */
  trainArgs: string[];
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

/**
 * Expands the grid in a fixed order (method, quantizer, optimizer, seed). A run's arguments are
 * the common flags first, then the method's, quantizer's and optimizer's, so a method's
 * `+key=value` overrides a common flag of the same name (commander keeps the last value).
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
        for (const seed of input.seeds) {
          const id = `${slug(m.label)}__${slug(q.label)}__${o.label}__s${seed}`;
          const cell = `${m.label} / ${q.label} / ${o.label} / seed ${seed}`;
          const clash = ids.get(id);
          if (clash) throw new UsageError(`runs '${clash}' and '${cell}' get the same folder name '${id}'; rename one method (config file "methods": {name: spec})`);
          ids.set(id, cell);
          runs.push({
            id,
            method: m.label,
            quantizer: q.label,
            optimizer: o.label,
            seed,
            epochs: input.epochs,
            args: [...input.trainArgs, ...m.args, ...q.args, ...o.args, '--seed', String(seed), '--epochs', String(input.epochs)],
          });
        }
      }
    }
  }
  return runs;
}

export const GRID_FILE = 'grid.json';
const GRID_VERSION = 1;

const RunSpecSchema = z.object({
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
  args: z.array(z.string()),
});

const GridFileSchema = z.object({
  format: z.literal('metaquant-compare-grid'),
  version: z.literal(GRID_VERSION),
  runs: z.array(RunSpecSchema).superRefine((runs, ctx) => {
    const seen = new Set<string>();
    for (const [i, r] of runs.entries()) {
      if (seen.has(r.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `run id '${r.id}' appears twice` });
      seen.add(r.id);
    }
  }),
});

export type GridFile = z.infer<typeof GridFileSchema>;

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
  const parsed = GridFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputFileError(file, `not a compare grid file: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * The rerun rule: a folder's grid may grow (new methods, seeds, …) but a run that is already
 * recorded must keep exactly the same arguments (same id ⇒ same training), otherwise its
 * finished result would no longer describe it. Returns the union, old runs first.
 */
export function mergeGrid(dir: string, previous: GridFile | undefined, runs: RunSpec[]): RunSpec[] {
  if (!previous) return runs;
  const byId = new Map(previous.runs.map((r) => [r.id, r]));
  const changed: string[] = [];
  for (const r of runs) {
    const old = byId.get(r.id);
    if (old && JSON.stringify(old.args) !== JSON.stringify(r.args)) changed.push(`${r.id}: was [${old.args.join(' ')}], now [${r.args.join(' ')}]`);
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

export function writeGridFile(dir: string, runs: RunSpec[]): void {
  const file: GridFile = { format: 'metaquant-compare-grid', version: GRID_VERSION, runs };
  writeFileAtomic(join(dir, GRID_FILE), JSON.stringify(file, null, 2) + '\n');
}
