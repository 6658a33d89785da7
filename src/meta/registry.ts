import { UsageError, unknownChoice } from '../util/errors.js';
import { FcGradMeta } from './fcgrad.js';
import { LstmMeta } from './lstm.js';
import { MultiFcMeta } from './multifc.js';
import { META_ACTIVATIONS, type MetaNetwork, type MetaNetworkConfig } from './types.js';

/** Builds a meta network from a resolved config (kind known, defaults filled). */
export type MetaNetworkFactory = (config: Required<MetaNetworkConfig>) => MetaNetwork;

const factories = new Map<string, MetaNetworkFactory>([
  ['fcgrad', (c) => new FcGradMeta(c)],
  ['multifc', (c) => new MultiFcMeta(c)],
  ['lstm', (c) => new LstmMeta(c)],
]);

/** Every registered meta network kind, built-ins first. */
export function registeredMetaKinds(): string[] {
  return [...factories.keys()];
}

/**
 * Registers a meta network kind, so that `--meta NAME` (and `meta: NAME` in a config) builds it.
 * Replacing an existing kind (a built-in included) needs `{ replace: true }`.
 */
export function registerMetaNetwork(kind: string, factory: MetaNetworkFactory, options: { replace?: boolean } = {}): void {
  if (!kind) throw new UsageError('a meta network kind must be a non-empty string');
  if (factories.has(kind) && !options.replace) throw new UsageError(`meta network '${kind}' is already registered; pass { replace: true } to replace it`);
  factories.set(kind, factory);
}

export function resolveMetaConfig(config: MetaNetworkConfig): Required<MetaNetworkConfig> {
  if (!factories.has(config.kind)) throw unknownChoice('meta network', config.kind, registeredMetaKinds());
  const activation = config.activation ?? 'none';
  if (!META_ACTIVATIONS.includes(activation)) throw unknownChoice('meta activation', activation, META_ACTIVATIONS);
  const hidden = config.hidden ?? 100;
  const layers = config.layers ?? 3;
  if (!Number.isInteger(hidden) || hidden < 1) throw new UsageError(`meta hidden size must be a positive integer, got ${hidden}`);
  if (!Number.isInteger(layers) || layers < 2) throw new UsageError(`multifc needs at least 2 layers, got ${layers}`);
  return { kind: config.kind, hidden, layers, activation, seed: config.seed ?? 0 };
}

/** Builds a meta network from its config, φ initialised as the reference does (PyTorch defaults). */
export function createMetaNetwork(config: MetaNetworkConfig): MetaNetwork {
  const c = resolveMetaConfig(config);
  return factories.get(c.kind)!(c);
}
