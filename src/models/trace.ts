import { tf, type Tensor } from '../engine/tf.js';
import { LayerOps, identityHooks, paramName } from './layers.js';
import { getArchitecture } from './architectures.js';
import type { QuantizedModel } from './model.js';

/** Fields every node of a traced graph has. Shapes are per image: the batch axis is left out. */
interface NodeBase {
  /** Index of this node in `ModelGraph.nodes`. */
  id: number;
  /** Ids of the nodes whose outputs this node reads, in argument order. */
  inputs: number[];
  /** Output shape without the batch axis (NHWC for images, [features] after flatten). */
  outputShape: number[];
}

export type GraphNode = NodeBase &
  (
    | { op: 'input' }
    | { op: 'conv2d'; layer: string; kernel: string; bias: string | null; kernelSize: number; stride: number; padding: 'same' | 'valid'; filters: number }
    | { op: 'dense'; layer: string; kernel: string; bias: string | null; units: number }
    | { op: 'batchNorm'; layer: string; gamma: string; beta: string; movingMean: string; movingVariance: string }
    | { op: 'relu' }
    | { op: 'maxPool'; size: number; stride: number; padding: 'same' | 'valid' }
    | { op: 'flatten' }
    | { op: 'add' }
    | { op: 'globalAvgPool' }
  );

export type GraphOp = GraphNode['op'];

/** A model's forward pass as a list of operations in execution order; the last node is the logits. */
export interface ModelGraph {
  nodes: GraphNode[];
  /** Id of the node that produces the logits. */
  output: number;
}

type NodeSpec = GraphNode extends infer N ? (N extends GraphNode ? Omit<N, 'id' | 'inputs' | 'outputShape'> : never) : never;

/**
 * LayerOps that computes as usual and records each operation, keyed by the identity of the
 * tensors flowing between them. The architecture code stays the single description of a model.
 */
class TracingLayerOps extends LayerOps {
  readonly nodes: GraphNode[] = [];
  private readonly producer = new Map<number, number>();

  constructor(private readonly model: QuantizedModel) {
    super(model.params, identityHooks, false, null);
  }

  addInput(x: Tensor): void {
    this.record({ op: 'input' }, [], x);
  }

  private idOf(x: Tensor): number {
    const id = this.producer.get(x.id);
    if (id === undefined) throw new Error('trace: an operation read a tensor that no traced operation produced (the architecture bypasses LayerOps)');
    return id;
  }

  private record(spec: NodeSpec, inputs: Tensor[], y: Tensor): Tensor {
    const id = this.nodes.length;
    this.nodes.push({ ...spec, id, inputs: inputs.map((t) => this.idOf(t)), outputShape: y.shape.slice(1) } as GraphNode);
    this.producer.set(y.id, id);
    return y;
  }

  private biasIfPresent(layer: string): string | null {
    return this.model.params.has(paramName.bias(layer)) ? paramName.bias(layer) : null;
  }

  override dense(layer: string, x: Tensor, units: number, opts: { bias?: boolean } = {}): Tensor {
    const y = super.dense(layer, x, units, opts);
    return this.record({ op: 'dense', layer, kernel: paramName.kernel(layer), bias: this.biasIfPresent(layer), units }, [x], y);
  }

  override conv2d(layer: string, x: Tensor, filters: number, kernelSize: number, opts: { stride?: number; padding?: 'same' | 'valid'; bias?: boolean } = {}): Tensor {
    const y = super.conv2d(layer, x, filters, kernelSize, opts);
    const spec = { op: 'conv2d' as const, layer, kernel: paramName.kernel(layer), bias: this.biasIfPresent(layer), kernelSize, stride: opts.stride ?? 1, padding: opts.padding ?? 'same', filters };
    return this.record(spec, [x], y);
  }

  override batchNorm(layer: string, x: Tensor): Tensor {
    const y = super.batchNorm(layer, x);
    const spec = {
      op: 'batchNorm' as const,
      layer,
      gamma: paramName.gamma(layer),
      beta: paramName.beta(layer),
      movingMean: paramName.movingMean(layer),
      movingVariance: paramName.movingVariance(layer),
    };
    return this.record(spec, [x], y);
  }

  override relu(x: Tensor): Tensor {
    return this.record({ op: 'relu' }, [x], super.relu(x));
  }

  override maxPool(x: Tensor, size: number, stride: number, padding: 'same' | 'valid'): Tensor {
    return this.record({ op: 'maxPool', size, stride, padding }, [x], super.maxPool(x, size, stride, padding));
  }

  override flatten(x: Tensor): Tensor {
    return this.record({ op: 'flatten' }, [x], super.flatten(x));
  }

  override add(a: Tensor, b: Tensor): Tensor {
    return this.record({ op: 'add' }, [a, b], super.add(a, b));
  }

  override globalAvgPool(x: Tensor): Tensor {
    return this.record({ op: 'globalAvgPool' }, [x], super.globalAvgPool(x));
  }

  outputOf(y: Tensor): number {
    return this.idOf(y);
  }
}

/**
 * The graph of a built model: runs its architecture once on a zero image (inference mode, float
 * weights; only shapes and data flow are recorded, never values).
 */
export function traceModel(model: QuantizedModel): ModelGraph {
  const ops = new TracingLayerOps(model);
  const output = tf.tidy(() => {
    const x = tf.zeros([1, ...model.config.inputShape]);
    ops.addInput(x);
    const logits = getArchitecture(model.config.arch).forward(ops, x, model.config.numClasses, model.config.archOptions ?? {});
    return ops.outputOf(logits);
  });
  return { nodes: ops.nodes, output };
}
