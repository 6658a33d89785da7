import { UsageError, unknownChoice } from '../util/errors.js';
import { DorefaActQuantizer } from './act-dorefa.js';
import { LsqActQuantizer } from './act-lsq.js';
import { PactActQuantizer } from './act-pact.js';
import { SignActQuantizer } from './act-sign.js';
import type { ActQuantizerConfig, ActivationQuantizer } from './activation-types.js';

export const ACT_QUANTIZER_NAMES = ['sign', 'dorefa', 'pact', 'lsq'] as const;

export type ActQuantizerFactory = (config: ActQuantizerConfig) => ActivationQuantizer;

const factories = new Map<string, ActQuantizerFactory>([
  ['sign', (c) => new SignActQuantizer(c)],
  ['dorefa', (c) => new DorefaActQuantizer(c)],
  ['pact', (c) => new PactActQuantizer(c)],
  ['lsq', (c) => new LsqActQuantizer(c)],
]);

/** Every registered activation quantizer, built-ins first. */
export function registeredActQuantizerNames(): string[] {
  return [...factories.keys()];
}

/** Whether the activation quantizer `name` takes a bit width (all but sign). */
export function actQuantizerTakesBits(name: string): boolean {
  return name !== 'sign';
}

/** Registers an activation quantizer (replacing a name needs `{ replace: true }`). */
export function registerActQuantizer(name: string, factory: ActQuantizerFactory, options: { replace?: boolean } = {}): void {
  if (!name) throw new UsageError('an activation quantizer name must be a non-empty string');
  if (factories.has(name) && !options.replace) throw new UsageError(`activation quantizer '${name}' is already registered; pass { replace: true } to replace it`);
  factories.set(name, factory);
}

/** Builds an activation quantizer from its config (or from JSON: unknown keys are an error). */
export function actQuantizerFromConfig(config: unknown): ActivationQuantizer {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new UsageError('an activation quantizer config must be an object such as {"name": "pact", "bits": 2}');
  }
  const record = config as Record<string, unknown>;
  for (const key of Object.keys(record)) if (key !== 'name' && key !== 'bits') throw unknownChoice('activation quantizer config key', key, ['name', 'bits']);
  const factory = typeof record.name === 'string' ? factories.get(record.name) : undefined;
  if (!factory) throw unknownChoice('activation quantizer', String(record.name), registeredActQuantizerNames());
  if (record.bits !== undefined && (typeof record.bits !== 'number' || !Number.isInteger(record.bits))) {
    throw new UsageError(`activation quantizer bits must be an integer, got ${JSON.stringify(record.bits)}`);
  }
  return factory({ name: record.name as string, ...(record.bits !== undefined && { bits: record.bits as number }) });
}
