import { UsageError, unknownChoice } from '../util/errors.js';
import { BwnQuantizer } from './bwn.js';
import { DorefaQuantizer } from './dorefa.js';
import { LsqQuantizer } from './lsq.js';
import { assertEstimator } from './estimators.js';
import { SignQuantizer } from './sign.js';
import { TernaryQuantizer } from './ternary.js';
import type { QuantizerConfig, WeightQuantizer } from './types.js';

/** The built-in quantizer families. */
export const QUANTIZER_NAMES = ['dorefa', 'bwn', 'ternary', 'sign'] as const;
/**
 * Built-in families with a learned step per layer (LSQ), registered after those above. They are not
 * stateless functions of W (their quantize needs the model's step), hence listed apart.
 */
export const LEARNED_STEP_QUANTIZER_NAMES = ['lsq'] as const;
export type BuiltinQuantizerName = (typeof QUANTIZER_NAMES)[number];

/** Builds a quantizer from a validated config (name known, estimator valid); checks its own bits. */
export type QuantizerFactory = (config: QuantizerConfig) => WeightQuantizer;

const CONFIG_KEYS = ['name', 'bits', 'perChannel', 'estimator'] as const;

const factories = new Map<string, QuantizerFactory>([
  ['dorefa', (config) => new DorefaQuantizer(config)],
  ['bwn', (config) => new BwnQuantizer(config)],
  ['ternary', (config) => new TernaryQuantizer(config)],
  ['sign', (config) => new SignQuantizer(config)],
  ['lsq', (config) => new LsqQuantizer(config)],
]);

/** Families whose bit width is a choice (their config takes `bits`); the others have a fixed width. */
const variableWidth = new Set<string>(['dorefa', 'lsq']);

/** Whether the family `name` takes a bit width in its config (dorefa: 1..8); the others have a fixed one. */
export function quantizerTakesBits(name: string): boolean {
  return variableWidth.has(name);
}

/** The registered quantizers whose bit width a config chooses (dorefa, and any registered with `variableBits`). */
export function variableWidthQuantizers(): string[] {
  return [...factories.keys()].filter((n) => variableWidth.has(n));
}

/** Every registered name, built-ins first. */
export function registeredQuantizerNames(): string[] {
  return [...factories.keys()];
}

/**
 * Registers a quantizer family under `name`, so that configs naming it can be built and
 * round-tripped. Replacing an existing name (a built-in included) needs `{ replace: true }`;
 * `variableBits` says that its config chooses the bit width (see `quantizerTakesBits`).
 */
export function registerQuantizer(name: string, factory: QuantizerFactory, options: { replace?: boolean; variableBits?: boolean } = {}): void {
  if (!name) throw new UsageError('a quantizer name must be a non-empty string');
  if (factories.has(name) && !options.replace) {
    throw new UsageError(`quantizer '${name}' is already registered; pass { replace: true } to replace it`);
  }
  factories.set(name, factory);
  if (options.variableBits) variableWidth.add(name);
  else variableWidth.delete(name);
}

/** Builds a quantizer; unknown names, estimators or bit widths throw a UsageError listing valid values. */
export function createQuantizer(config: QuantizerConfig): WeightQuantizer {
  const factory = factories.get(config.name);
  if (!factory) throw unknownChoice('quantizer', config.name, registeredQuantizerNames());
  if (config.bits !== undefined && !Number.isInteger(config.bits)) {
    throw new UsageError(`quantizer bits must be an integer, got ${String(config.bits)}`);
  }
  assertEstimator(config.estimator ?? 'ste');
  return factory(config);
}

/**
 * Inverse of `getConfig()` for configs read from JSON: checks the shape (unknown keys are an
 * error, so a misspelt option is not silently ignored), then builds the quantizer.
 */
export function quantizerFromConfig(config: unknown): WeightQuantizer {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new UsageError('a quantizer config must be an object such as {"name": "dorefa", "bits": 1}');
  }
  const record = config as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) throw unknownChoice('quantizer config key', key, CONFIG_KEYS);
  }
  if (typeof record.name !== 'string') throw unknownChoice('quantizer', String(record.name), registeredQuantizerNames());
  if (record.bits !== undefined && typeof record.bits !== 'number') {
    throw new UsageError(`quantizer bits must be a number, got ${JSON.stringify(record.bits)}`);
  }
  if (record.perChannel !== undefined && typeof record.perChannel !== 'boolean') {
    throw new UsageError(`quantizer perChannel must be true or false, got ${JSON.stringify(record.perChannel)}`);
  }
  const estimator = record.estimator === undefined ? undefined : assertEstimator(record.estimator);
  return createQuantizer({
    name: record.name,
    ...(record.bits !== undefined && { bits: record.bits }),
    ...(record.perChannel !== undefined && { perChannel: record.perChannel }),
    ...(estimator !== undefined && { estimator }),
  });
}

/**
 * What a quantizer does, in words: forward formula, backward for its estimator ('clipped-ste' is
 * the 'ste' gradient times 1{|W| ≤ 1} on the latent W; identical to 'ste' for bwn), calibration,
 * and its rounding / sign(0) conventions. User-registered quantizers without a `describe()`
 * method get their config.
 */
export function describeQuantizer(quantizer: WeightQuantizer | QuantizerConfig): string {
  const built = 'quantize' in quantizer ? quantizer : createQuantizer(quantizer);
  const describe = (built as Partial<{ describe(): string }>).describe;
  return typeof describe === 'function' ? describe.call(built) : JSON.stringify(built.getConfig());
}
