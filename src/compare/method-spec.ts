import { createHash } from 'node:crypto';
import { METHODS, OPTIMIZERS } from '../config/choices.js';
import { parseFlagValue } from '../config/flags.js';
import { registeredMetaKinds } from '../meta/registry.js';
import { quantizerTakesBits, registeredQuantizerNames, variableWidthQuantizers } from '../quantizers/registry.js';
import { UsageError } from '../util/errors.js';

/**
 * The compact spellings `compare` accepts for one grid axis value, each turned into the training
 * config fields it sets (`+key=value` reads like the flag --key value):
 *
 *   method     NAME[:META][+key[=value]]...   e.g. metaquant:lstm+phi-path=zeroth-order, ste+lr-scale=0.3
 *   quantizer  NAME[:BITS]                    e.g. dorefa, dorefa:2, bwn, ternary
 *   optimizer  sgd | adam
 */
export const METHOD_SPEC_SYNTAX = 'NAME[:META][+key[=value]]...';
export const QUANTIZER_SPEC_SYNTAX = 'NAME[:BITS]';

/** Config fields that a grid axis (or the runner) sets; a method's `+key` or the common options may not set them. */
export const GRID_CONTROLLED_FIELDS = ['method', 'meta', 'quantizer', 'bits', 'optimizer', 'seed', 'epochs', 'out'] as const;
/** The same as flag names (with --estimator, the alias of --method), and the train flags that are not config fields. */
export const GRID_CONTROLLED_FLAGS = ['method', 'estimator', 'meta', 'quantizer', 'bits', 'optimizer', 'seed', 'epochs', 'out', 'resume', 'config', 'json', 'quiet'] as const;

export interface MethodSpec {
  /** The text as given (or the config's name for a named method): the label in tables and plots. */
  label: string;
  method: string;
  meta?: string;
  /** The config fields the spec sets, in order, e.g. {method: 'metaquant', meta: 'lstm', phiPath: 'zeroth-order'}. */
  config: Record<string, unknown>;
}

const FLAG_NAME = /^[a-z][a-z0-9-]*$/;

/** Parses `NAME[:META][+key[=value]]...`; `named` maps config-defined names to their spec text. */
export function parseMethodSpec(text: string, named: Record<string, string> = {}): MethodSpec {
  const spec = text.trim();
  if (Object.prototype.hasOwnProperty.call(named, spec)) {
    const resolved = parseMethodSpec(named[spec]!, {});
    return { ...resolved, label: spec };
  }
  if (spec === '') throw new UsageError(`empty method spec; expected ${METHOD_SPEC_SYNTAX}`);
  const [head, ...extras] = spec.split('+');
  const [method, meta, ...rest] = head!.split(':');
  const methods = METHODS as readonly string[];
  if (!method || !methods.includes(method)) {
    const names = Object.keys(named);
    throw new UsageError(
      `method '${spec}': unknown method '${method ?? ''}'; expected ${METHOD_SPEC_SYNTAX} with NAME one of: ${methods.join(', ')}` +
        (names.length ? ` (or a method named in the config file: ${names.join(', ')})` : ''),
    );
  }
  if (rest.length > 0) throw new UsageError(`method '${spec}': more than one ':' in '${head}'; expected ${METHOD_SPEC_SYNTAX}`);
  const config: Record<string, unknown> = { method };
  if (meta !== undefined) {
    if (!registeredMetaKinds().includes(meta)) {
      throw new UsageError(`method '${spec}': unknown meta network '${meta}'; expected one of: ${registeredMetaKinds().join(', ')}`);
    }
    config.meta = meta;
  }
  for (const extra of extras) {
    const eq = extra.indexOf('=');
    const key = eq < 0 ? extra : extra.slice(0, eq);
    if (!FLAG_NAME.test(key)) throw new UsageError(`method '${spec}': '+${extra}' is not +key or +key=value with a train flag name (e.g. +lr-scale=0.3, +freeze-phi)`);
    if ((GRID_CONTROLLED_FLAGS as readonly string[]).includes(key)) {
      throw new UsageError(`method '${spec}': --${key} is set by the grid (--methods/--quantizers/--optimizers/--seeds/--epochs/--out), not by a method's +${key}`);
    }
    const value = eq < 0 ? undefined : extra.slice(eq + 1);
    if (value === '') throw new UsageError(`method '${spec}': '+${extra}' has an empty value`);
    try {
      const field = parseFlagValue(key, value);
      config[field.key] = field.value;
    } catch (err) {
      if (err instanceof UsageError) throw new UsageError(`method '${spec}': ${err.message}`);
      throw err;
    }
  }
  return { label: spec, method, meta, config };
}

export interface QuantizerSpec {
  label: string;
  name: string;
  bits?: number;
  /** The config fields it sets: {quantizer, bits?}. */
  config: Record<string, unknown>;
}

/** Parses `dorefa`, `dorefa:2`, `bwn`, `ternary`, … (any registered quantizer, or none; bits only for dorefa). */
export function parseQuantizerSpec(text: string): QuantizerSpec {
  const spec = text.trim();
  const parts = spec.split(':');
  const name = parts[0] ?? '';
  const names = [...registeredQuantizerNames(), 'none'];
  if (!names.includes(name) || parts.length > 2) {
    throw new UsageError(`quantizer '${spec}': expected ${QUANTIZER_SPEC_SYNTAX} with NAME one of: ${names.join(', ')}`);
  }
  const config: Record<string, unknown> = { quantizer: name };
  if (parts.length === 1) return { label: spec, name, config };
  const bits = Number(parts[1]);
  if (!quantizerTakesBits(name)) throw new UsageError(`quantizer '${spec}': only ${variableWidthQuantizers().join(' or ')} can take a bit width (${name} has a fixed number of levels)`);
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new UsageError(`quantizer '${spec}': bit width must be an integer from 1 to 8`);
  config.bits = bits;
  return { label: spec, name, bits, config };
}

export function parseOptimizerSpec(text: string): { label: string; config: Record<string, unknown> } {
  const name = text.trim();
  if (!(OPTIMIZERS as readonly string[]).includes(name)) throw new UsageError(`optimizer '${name}': expected one of: ${OPTIMIZERS.join(', ')}`);
  return { label: name, config: { optimizer: name } };
}

/**
 * A readable, filesystem-safe name for one grid axis value: `metaquant:lstm+phi-path=zeroth-order`
 * becomes `metaquant-lstm_phi-path-zeroth-order`. Long names keep a prefix and a hash.
 */
export function slug(text: string): string {
  let s = text
    .replace(/:/g, '-')
    .replace(/\+/g, '_')
    .replace(/=/g, '-')
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[.-]+/, '');
  if (s === '') s = 'x';
  if (s.length > 60) s = `${s.slice(0, 50)}-${createHash('sha256').update(text).digest('hex').slice(0, 8)}`;
  return s;
}

/** Splits a comma-separated flag value, dropping empty items. */
export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}
