import { z } from 'zod';
import { InputFileError } from '../util/errors.js';
import { readSettingsFile } from '../util/data-file.js';

/**
 * A `compare --config FILE` (JSON, or YAML for .yaml/.yml). Every key is optional; command-line
 * flags override it. `methods` is a list of specs, or an object naming each spec (the names are
 * then the labels, usable in --methods):
 *
 *   methods: { ste: ste, ste-matched: "ste+momentum=0.9+weight-decay=5e-4", fcgrad: "metaquant:fcgrad" }
 *   quantizers: [dorefa, bwn]
 *   optimizers: [sgd, adam]
 *   seeds: [1, 2, 3]
 *   epochs: 5
 *   train: { model: mlp, hidden: [32], dataset: fashion-mnist, train-limit: 5000, val-split: 0.1 }
 *   sweep: { lr: [1e-3, 3e-3, 1e-2], meta-lr: [1e-4, 1e-3] }    # optional; needs val-split
 *   baseline: ste                                             # optional; default the first method
 */
const list = <T extends z.ZodTypeAny>(item: T) => z.union([item, z.array(item)]);

export const CompareConfigSchema = z
  .object({
    methods: z.union([list(z.string()), z.record(z.string(), z.string())]).optional(),
    quantizers: list(z.string()).optional(),
    optimizers: list(z.string()).optional(),
    seeds: list(z.number().int()).optional(),
    epochs: z.number().int().positive().optional(),
    jobs: z.number().int().positive().optional(),
    lastK: z.number().int().positive().optional(),
    out: z.string().optional(),
    sweep: z.record(z.string(), list(z.union([z.number(), z.string(), z.boolean()]))).optional(),
    baseline: z.string().optional(),
    train: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export interface CompareConfig {
  /** Method specs (or names) to run, in order. */
  methods?: string[];
  /** Named methods: name → spec. */
  namedMethods: Record<string, string>;
  quantizers?: string[];
  optimizers?: string[];
  seeds?: number[];
  epochs?: number;
  jobs?: number;
  lastK?: number;
  out?: string;
  /** `sweep: {lr: [1e-3, 3e-3]}`: swept values per train option (flag or camelCase name). */
  sweep: Record<string, unknown[]>;
  baseline?: string;
  train: Record<string, unknown>;
}

const asList = <T>(v: T | T[] | undefined): T[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

export function readCompareConfig(file: string): CompareConfig {
  const raw = readSettingsFile(file, 'a compare config');
  const parsed = CompareConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputFileError(file, `${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  const c = parsed.data;
  const named = c.methods !== undefined && !Array.isArray(c.methods) && typeof c.methods === 'object' ? (c.methods as Record<string, string>) : {};
  return {
    methods: Object.keys(named).length > 0 ? Object.keys(named) : asList(c.methods as string | string[] | undefined),
    namedMethods: named,
    quantizers: asList(c.quantizers),
    optimizers: asList(c.optimizers),
    seeds: asList(c.seeds),
    epochs: c.epochs,
    jobs: c.jobs,
    lastK: c.lastK,
    out: c.out,
    sweep: Object.fromEntries(Object.entries(c.sweep ?? {}).map(([k, v]) => [k, asList(v as unknown) as unknown[]])),
    baseline: c.baseline,
    train: c.train ?? {},
  };
}
