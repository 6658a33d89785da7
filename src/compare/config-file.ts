import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InputFileError } from '../util/errors.js';

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
 *   train: { model: mlp, hidden: [32], dataset: fashion-mnist, train-limit: 5000 }
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
  train: Record<string, unknown>;
}

/** A compare config nests 3 levels (train: {hidden: [32]}); far deeper is corrupt or hostile. */
const MAX_DEPTH = 32;

/** Deepest nesting of [ and { in the text (brackets inside strings counted too: an upper bound). */
function flowDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return max;
}

/** Nesting depth of a parsed value, walked without recursion, stopping past MAX_DEPTH. */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    max = Math.max(max, d);
    if (max > MAX_DEPTH) break;
    if (typeof v === 'object' && v !== null) for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

const asList = <T>(v: T | T[] | undefined): T[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

export function readCompareConfig(file: string): CompareConfig {
  if (!existsSync(file) || !statSync(file).isFile()) throw new InputFileError(file, 'no such file');
  if (statSync(file).size > 1 << 20) throw new InputFileError(file, 'larger than 1 MiB; not a compare config');
  const text = readFileSync(file, 'utf8');
  let raw: unknown;
  const yaml = ['.yaml', '.yml'].includes(extname(file).toLowerCase());
  // The YAML parser takes seconds and 100+ MiB on 100 000 nested brackets: refuse before parsing.
  if (yaml && flowDepth(text) > MAX_DEPTH) throw new InputFileError(file, `brackets nested deeper than ${MAX_DEPTH} levels; not a compare config`);
  try {
    // YAML: aliases capped (an alias bomb expands exponentially), no YAML 1.1 tags (!!set,
    // !!binary, … would give Sets and Buffers), warnings not printed (an unknown tag is an error below).
    raw = yaml ? parseYaml(text, { maxAliasCount: 100, resolveKnownTags: false, logLevel: 'error' }) : JSON.parse(text);
  } catch (err) {
    throw new InputFileError(file, `not valid ${yaml ? 'YAML' : 'JSON'}: ${(err as Error).message.split('\n')[0]}`);
  }
  // Deeper values would overflow the stack of whatever walks them later (error messages print them).
  if (depthOf(raw) > MAX_DEPTH) throw new InputFileError(file, `values nested deeper than ${MAX_DEPTH} levels; not a compare config`);
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
    train: c.train ?? {},
  };
}
