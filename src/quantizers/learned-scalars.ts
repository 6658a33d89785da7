// Which quantizers own learned per-layer scalars, by name, for code that must not load tfjs (the
// model tracer, which runs in the browser and on untrusted configs). Kept beside the quantizers
// that define them: PACT's clip α, LSQ's activation step, LSQ's weight step.
import type { ActQuantizerConfig } from './activation-types.js';

const ACT_SCALARS: Readonly<Record<string, 'actAlpha' | 'actStep'>> = { pact: 'actAlpha', lsq: 'actStep' };

/** The parameter-name suffix of the activation quantizer's learned scalar, or null. */
export function actScalarSuffix(config: ActQuantizerConfig | null | undefined): 'actAlpha' | 'actStep' | null {
  return config ? (ACT_SCALARS[config.name] ?? null) : null;
}

/** Whether a weight quantizer learns a step per layer (LSQ), stored as `${layer}/weightStep`. */
export function weightLearnsStep(config: { name: string } | null | undefined): boolean {
  return config?.name === 'lsq';
}

export const weightStepName = (layer: string): string => `${layer}/weightStep`;
export const actScalarName = (layer: string, suffix: 'actAlpha' | 'actStep'): string => `${layer}/${suffix}`;
