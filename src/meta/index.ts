export * from './types.js';
export { createMetaNetwork, resolveMetaConfig, registerMetaNetwork, registeredMetaKinds, type MetaNetworkFactory } from './registry.js';
export { FcGradMeta } from './fcgrad.js';
export { MultiFcMeta } from './multifc.js';
export { LstmMeta, lstmStateBytes } from './lstm.js';
export { linearChain, linearChainExplicit, chainScalar } from './linear-chain.js';
