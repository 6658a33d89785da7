import type { Tensor, Variable } from '../engine/tf.js';

/** The built-in meta networks; others join through registerMetaNetwork (registry.ts). */
export const META_KINDS = ['fcgrad', 'multifc', 'lstm'] as const;
export type MetaKind = (typeof META_KINDS)[number];
export const META_ACTIVATIONS = ['none', 'relu', 'tanh'] as const;
export type MetaActivation = (typeof META_ACTIVATIONS)[number];

export interface MetaNetworkConfig {
  /** A registered kind: one of META_KINDS or a name given to registerMetaNetwork. */
  kind: string;
  /** Hidden width (the reference: 100). */
  hidden?: number;
  /** multifc: number of bias-free linear layers (the reference's runs: 3; the paper: 2). */
  layers?: number;
  /** fcgrad/multifc: activation between linear layers (the reference's flag never took effect: none). */
  activation?: MetaActivation;
  /** Seed of φ's initialisation. */
  seed?: number;
}

/** Per-element LSTM memory: h and c, each [N, hidden], N = all quantized weight elements. */
export interface LstmState {
  h: Tensor;
  c: Tensor;
}

/**
 * Inputs of one meta call, every quantized layer's tensors flattened row-major and concatenated
 * into one column (one meta call per step for all layers). Both come from the previous
 * iteration and are constants.
 */
export interface MetaInputs {
  /** g_Ŵ^{t−1}, [N]. */
  gHat: Tensor;
  /** W̃^{t−1}, [N]. */
  wTilde: Tensor;
}

export interface MetaOutput {
  /** The meta-gradient g_W̃ for every element, [N]; differentiable with respect to φ. */
  metaGrad: Tensor;
  /** The network's own output f_φ(·), [N] (fcgrad: equals metaGrad). */
  raw: Tensor;
  /** LSTM only: the state after this call (no gradient flows through it). */
  state?: LstmState;
}

/** A coordinate-wise meta network M_φ shared by all quantized layers (spec §5). */
export interface MetaNetwork {
  readonly config: Required<MetaNetworkConfig>;
  /** φ, named as the reference names them (e.g. 'linear1.weight'), PyTorch [out, in] layout. */
  readonly params: Map<string, Variable>;
  /** Whether the network carries per-element state (LSTM). */
  readonly stateful: boolean;
  forward(inputs: MetaInputs, state?: LstmState): MetaOutput;
  /**
   * For linear networks (fcgrad/multifc without activation) the scalar c with f_φ(x) = c·x;
   * null otherwise.
   */
  effectiveScalar(): number | null;
  dispose(): void;
}
