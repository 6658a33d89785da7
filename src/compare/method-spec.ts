import { createHash } from 'node:crypto';
import { METHODS } from '../train/config.js';
import { OPTIMIZERS } from '../train/optimizers.js';
import { META_KINDS } from '../meta/types.js';
import { UsageError } from '../util/errors.js';

/**
 * The compact spellings `compare` accepts for one grid axis value, each turned into the `train`
 * flags it stands for:
 *
 *   method     NAME[:META][+key[=value]]...   e.g. metaquant:lstm+phi-path=zeroth-order, ste+lr-scale=0.3
 *   quantizer  NAME[:BITS]                    e.g. dorefa, dorefa:2, bwn, ternary
 *   optimizer  sgd | adam
 */
export const METHOD_SPEC_SYNTAX = 'NAME[:META][+key[=value]]...';
export const QUANTIZER_SPEC_SYNTAX = 'NAME[:BITS]';

/** Flags that a grid axis (or the runner) sets; a method's `+key` may not set them. */
export const GRID_CONTROLLED_FLAGS = ['estimator', 'meta', 'quantizer', 'bits', 'optimizer', 'seed', 'epochs', 'out', 'resume', 'json', 'quiet'] as const;

export interface MethodSpec {
  /** The text as given (or the config's name for a named method): the label in tables and plots. */
  label: string;
  estimator: string;
  meta?: string;
  /** `train` arguments the spec adds, in order, e.g. ['--estimator', 'metaquant', '--meta', 'lstm', '--phi-path', 'zeroth-order']. */
  args: string[];
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
  const [estimator, meta, ...rest] = head!.split(':');
  const methods = METHODS as readonly string[];
  if (!estimator || !methods.includes(estimator)) {
    const names = Object.keys(named);
    throw new UsageError(
      `method '${spec}': unknown method '${estimator ?? ''}'; expected ${METHOD_SPEC_SYNTAX} with NAME one of: ${methods.join(', ')}` +
        (names.length ? ` (or a method named in the config file: ${names.join(', ')})` : ''),
    );
  }
  if (rest.length > 0) throw new UsageError(`method '${spec}': more than one ':' in '${head}'; expected ${METHOD_SPEC_SYNTAX}`);
  const args = ['--estimator', estimator];
  if (meta !== undefined) {
    if (!(META_KINDS as readonly string[]).includes(meta)) {
      throw new UsageError(`method '${spec}': unknown meta network '${meta}'; expected one of: ${META_KINDS.join(', ')}`);
    }
    args.push('--meta', meta);
  }
  for (const extra of extras) {
    const eq = extra.indexOf('=');
    const key = eq < 0 ? extra : extra.slice(0, eq);
    if (!FLAG_NAME.test(key)) throw new UsageError(`method '${spec}': '+${extra}' is not +key or +key=value with a train flag name (e.g. +lr-scale=0.3, +freeze-phi)`);
    if ((GRID_CONTROLLED_FLAGS as readonly string[]).includes(key)) {
      throw new UsageError(`method '${spec}': --${key} is set by the grid (--methods/--quantizers/--optimizers/--seeds/--epochs/--out), not by a method's +${key}`);
    }
    if (eq < 0) args.push(`--${key}`);
    else {
      const value = extra.slice(eq + 1);
      if (value === '') throw new UsageError(`method '${spec}': '+${extra}' has an empty value`);
      args.push(`--${key}`, value);
    }
  }
  return { label: spec, estimator, meta, args };
}

export interface QuantizerSpec {
  label: string;
  name: string;
  bits?: number;
  args: string[];
}

const GRID_QUANTIZERS = ['dorefa', 'bwn', 'ternary', 'sign', 'none'];

/** Parses `dorefa`, `dorefa:2`, `bwn`, `ternary`, … (bits only for dorefa). */
export function parseQuantizerSpec(text: string): QuantizerSpec {
  const spec = text.trim();
  const parts = spec.split(':');
  const name = parts[0] ?? '';
  if (!GRID_QUANTIZERS.includes(name) || parts.length > 2) {
    throw new UsageError(`quantizer '${spec}': expected ${QUANTIZER_SPEC_SYNTAX} with NAME one of: ${GRID_QUANTIZERS.join(', ')}`);
  }
  const args = ['--quantizer', name];
  if (parts.length === 1) return { label: spec, name, args };
  const bits = Number(parts[1]);
  if (name !== 'dorefa') throw new UsageError(`quantizer '${spec}': only dorefa takes a bit width (${name} has a fixed number of levels)`);
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new UsageError(`quantizer '${spec}': bit width must be an integer from 1 to 8`);
  args.push('--bits', String(bits));
  return { label: spec, name, bits, args };
}

export function parseOptimizerSpec(text: string): { label: string; args: string[] } {
  const name = text.trim();
  if (!(OPTIMIZERS as readonly string[]).includes(name)) throw new UsageError(`optimizer '${name}': expected one of: ${OPTIMIZERS.join(', ')}`);
  return { label: name, args: ['--optimizer', name] };
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
