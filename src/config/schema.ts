import { z } from 'zod';
import { UsageError } from '../util/errors.js';
import { quantizerTakesBits, variableWidthQuantizers } from '../quantizers/registry.js';
import { checkActivationOptions } from './activation-rules.js';
import { TRAIN_FIELDS, TRAIN_FIELD_KEYS, fieldKey, fieldOf } from './fields.js';
import { suggestField } from './flags.js';

type Shape = { [K in keyof typeof TRAIN_FIELDS]: (typeof TRAIN_FIELDS)[K]['schema'] };

/** The one validated description of a training run, built from the field table; unknown keys are errors. */
export const TrainConfigSchema = z.strictObject(Object.fromEntries(TRAIN_FIELD_KEYS.map((k) => [k, TRAIN_FIELDS[k].schema])) as Shape);

export type TrainConfig = z.output<typeof TrainConfigSchema>;
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;

/**
 * Keys that earlier versions wrote into config.json and checkpoints (and accepted as library
 * input), with the field each became. Read everywhere a config enters, so old run folders load.
 */
export const LEGACY_KEYS: Readonly<Record<string, keyof TrainConfig>> = {
  estimator: 'method',
  lrStepEpochs: 'lrStep',
  maxMetaMemoryGiB: 'maxMetaMemory',
  maxMemoryGiB: 'maxMemory',
  injectNanAtSteps: 'injectNan',
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Renames legacy keys in place of their position; an old and a new name with different values is an error. */
export function migrateLegacyKeys(input: Record<string, unknown>): Record<string, unknown> {
  // No prototype: a key '__proto__' (JSON.parse makes it an own key) stays a key, rejected as unknown.
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, value] of Object.entries(input)) {
    const renamed = Object.prototype.hasOwnProperty.call(LEGACY_KEYS, key) ? LEGACY_KEYS[key]! : key;
    if (renamed !== key && Object.prototype.hasOwnProperty.call(input, renamed) && JSON.stringify(input[renamed]) !== JSON.stringify(value)) {
      throw new UsageError(`invalid training config: both '${key}' (the older name) and '${renamed}' are given, with different values; keep '${renamed}'`);
    }
    if (renamed !== key && Object.prototype.hasOwnProperty.call(out, renamed)) continue;
    out[renamed] = value;
  }
  return { ...out }; // a plain object again; spreading defines '__proto__' as an own key
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const near = suggestField(key);
      return `${key}: unknown key${near ? ` (did you mean '${near}'?)` : ''}`;
    });
  }
  return [`${issue.path.join('.') || '(config)'}: ${issue.message}`];
}

/** Each field on its own: types, ranges, choices, unknown keys (all reported at once, naming the key); defaults filled. */
export function validateConfigFields(input: unknown): TrainConfig {
  const result = TrainConfigSchema.safeParse(isRecord(input) ? migrateLegacyKeys(input) : input);
  if (!result.success) {
    const lines = result.error.issues.flatMap(describeIssue);
    throw new UsageError(`invalid training config:\n  ${lines.join('\n  ')}`);
  }
  return result.data;
}

/** Validates and fills defaults: each field, then the rules that tie fields together. */
export function parseTrainConfig(input: unknown): TrainConfig {
  const c = validateConfigFields(input);
  if (c.method === 'metaquant' && c.quantizer === 'none') throw new UsageError('--method metaquant needs a quantizer; got --quantizer none');
  if (c.quantizer !== 'none' && !quantizerTakesBits(c.quantizer) && c.bits !== 1) {
    throw new UsageError(`--bits applies to ${variableWidthQuantizers().join(' or ')} only; ${c.quantizer} has a fixed width (use --bits 1 or omit it)`);
  }
  checkActivationOptions(c);
  return c;
}

/**
 * A config as a person writes it in a file (`train --config`, compare's `train:` section): keys
 * as fields (`lrStep`) or flags (`lr-step`), flag text for numbers and lists (`hidden: "32,16"`),
 * one number for a one-element list (`hidden: 32`). Returns the input for parseTrainConfig;
 * a value that does not parse is a UsageError naming the key (`where` prefixes it).
 */
export function normaliseConfigObject(raw: Record<string, unknown>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [rawKey, value] of Object.entries(raw)) {
    const key = rawKey.includes('-') ? fieldKey(rawKey) : rawKey;
    if (Object.prototype.hasOwnProperty.call(out, key)) throw new UsageError(`${where}: '${rawKey}' is given twice (as a field and as a flag name)`);
    const field = fieldOf(key);
    let v = value;
    if (field?.parse && typeof value === 'string') {
      try {
        v = field.parse(value);
      } catch (err) {
        throw new UsageError(`${where}: ${rawKey}: ${(err as Error).message}`);
      }
    } else if (field?.list && typeof value === 'number') v = [value];
    out[key] = v;
  }
  return { ...out };
}

/** The config's identity: its validated value as JSON with sorted keys (defaults filled, `out` left out). */
export function canonicalConfigJson(config: TrainConfig): string {
  const { out: _out, ...rest } = config;
  return canonicalJson(rest);
}

/** JSON with object keys sorted at every level and undefined values dropped. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (isRecord(v)) return Object.fromEntries(Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => [k, sort(v[k])]));
    return v;
  };
  return JSON.stringify(sort(value));
}
