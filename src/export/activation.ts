// What a deployed network computes for an activation-quantization node of the traced graph: the
// quantizer with its learned scalar (PACT α, LSQ step) fixed to a number. Browser-safe.
import type { GraphNode } from '../models/trace.js';
import type { ActDeployment } from '../quantizers/activation-types.js';
import { actDeploymentOf } from '../quantizers/act-deployment.js';

export type ActQuantNode = Extract<GraphNode, { op: 'actQuant' }>;

/** The node's stock-op form, `scaleOf` giving the learned scalar's value by parameter name. */
export function actDeployment(node: ActQuantNode, scaleOf: (param: string) => number): ActDeployment {
  return actDeploymentOf(node.quantizer, node.scale ? scaleOf(node.scale) : undefined);
}
