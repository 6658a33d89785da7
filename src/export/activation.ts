// What a deployed network computes for an activation-quantization node of the traced graph: the
// quantizer with its learned scalar read from the model (PACT α, LSQ step) fixed to a number.
import type { QuantizedModel } from '../models/model.js';
import type { GraphNode } from '../models/trace.js';
import type { ActDeployment } from '../quantizers/activation-types.js';
import { actQuantizerFromConfig } from '../quantizers/act-registry.js';

export type ActQuantNode = Extract<GraphNode, { op: 'actQuant' }>;

/** The node's stock-op form, `scaleOf` giving the learned scalar's value by parameter name. */
export function actDeployment(node: ActQuantNode, scaleOf: (param: string) => number): ActDeployment {
  const quantizer = actQuantizerFromConfig(node.quantizer);
  return quantizer.deployment(node.scale ? scaleOf(node.scale) : undefined);
}

/** The same for a built model. */
export function modelActDeployment(model: QuantizedModel, node: ActQuantNode): ActDeployment {
  return actDeployment(node, (p) => (model.params.get(p).dataSync() as Float32Array)[0]!);
}
