import { UsageError, unknownChoice } from '../util/errors.js';
import { FcGradMeta } from './fcgrad.js';
import { LstmMeta } from './lstm.js';
import { MultiFcMeta } from './multifc.js';
import { META_ACTIVATIONS, META_KINDS, type MetaNetwork, type MetaNetworkConfig } from './types.js';

export function resolveMetaConfig(config: MetaNetworkConfig): Required<MetaNetworkConfig> {
  if (!META_KINDS.includes(config.kind)) throw unknownChoice('meta network', config.kind, META_KINDS);
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
  switch (c.kind) {
    case 'fcgrad':
      return new FcGradMeta(c);
    case 'multifc':
      return new MultiFcMeta(c);
    case 'lstm':
      return new LstmMeta(c);
  }
}
