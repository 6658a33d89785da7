// A model's forward pass as data: the architecture run once on shapes instead of tensors. Summary
// and the tfjs and ONNX exports are generated from this graph, so an architecture is written once
// (architectures.ts) and every export follows. Browser-safe: no tfjs, no Node modules.
import { MetaquantError } from '../util/errors.js';
import { getArchitecture } from './architectures.js';
import type { ArchitectureOptions } from './architectures.js';
import type { ActQuantizerConfig } from '../quantizers/activation-types.js';
import { actScalarName, actScalarSuffix, weightLearnsStep, weightStepName } from '../quantizers/learned-scalars.js';
import {
  BN_EPSILON,
  convHasBias,
  convPadding,
  convStride,
  denseHasBias,
  paramName,
  windowOutputSize,
  type ArchitectureOps,
  type ConvOptions,
  type DenseOptions,
  type Padding,
  type Value,
} from './ops.js';

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
    | { op: 'conv2d'; layer: string; kernel: string; bias: string | null; kernelSize: number; stride: number; padding: Padding; filters: number; weightStep?: string }
    | { op: 'dense'; layer: string; kernel: string; bias: string | null; units: number; weightStep?: string }
    /** The input of `layer` quantized; `scale` names its learned scalar (PACT α, LSQ step), null for sign/dorefa. */
    | { op: 'actQuant'; layer: string; quantizer: ActQuantizerConfig; scale: string | null }
    | { op: 'batchNorm'; layer: string; gamma: string; beta: string; movingMean: string; movingVariance: string; epsilon: number }
    | { op: 'relu' }
    | { op: 'maxPool'; size: number; stride: number; padding: Padding }
    | { op: 'flatten' }
    | { op: 'add' }
    | { op: 'globalAvgPool' }
  );

export type GraphOp = GraphNode['op'];

/** A model's forward pass as a list of operations in execution order. */
export interface ModelGraph {
  nodes: GraphNode[];
  /** Id of the node that produces the logits. */
  output: number;
}

/** What an architecture needs to be traced: the fields of a ModelConfig that decide its graph. */
export interface GraphConfig {
  arch: string;
  inputShape: [number, number, number];
  numClasses: number;
  archOptions?: ArchitectureOptions;
  /** The weight quantizer (its name decides a learned step per layer), keepFirstLastFp and the activation quantizer. */
  quantizer?: { name: string } | null;
  keepFirstLastFp?: boolean;
  actQuantizer?: ActQuantizerConfig | null;
}

/** Which layers quantize (weights and, with an activation quantizer, inputs), and how. */
interface QuantizationPlan {
  layers: ReadonlySet<string>;
  act: ActQuantizerConfig | null;
  weightStep: boolean;
}

/** What traceModel reads of a QuantizedModel (structural, so that model.ts may import modules that trace). */
export interface TraceableModel {
  config: GraphConfig;
  params: { infos: ReadonlyArray<{ name: string; shape: number[] }> };
}

type NodeSpec = GraphNode extends infer N ? (N extends GraphNode ? Omit<N, 'id' | 'inputs' | 'outputShape'> : never) : never;

/** A traced value: its shape (batch axis 1) and the node that produced it. */
interface Traced extends Value {
  readonly shape: number[];
  readonly node: number;
}

/** Throws where an architecture would fail (or silently broadcast) on real tensors. */
function check(ok: boolean, what: string): void {
  if (!ok) throw new MetaquantError(`cannot trace the model: ${what}`);
}

/** ArchitectureOps on shapes: records each operation and computes its output shape as TensorFlow.js does. */
class Tracer implements ArchitectureOps<Traced> {
  readonly nodes: GraphNode[] = [];

  constructor(private readonly plan: QuantizationPlan | null) {}

  /** Records the layer's input quantization where the plan asks for it. */
  private quantizeInput(layer: string, x: Traced): Traced {
    const act = this.plan?.act;
    if (!act || !this.plan!.layers.has(layer)) return x;
    const suffix = actScalarSuffix(act);
    return this.record({ op: 'actQuant', layer, quantizer: { ...act }, scale: suffix ? actScalarName(layer, suffix) : null }, [x], x.shape);
  }

  /** `{ weightStep }` for a layer whose weight quantizer learns a step, else nothing. */
  private stepOf(layer: string): { weightStep?: string } {
    return this.plan?.weightStep && this.plan.layers.has(layer) ? { weightStep: weightStepName(layer) } : {};
  }

  input(shape: number[]): Traced {
    return this.record({ op: 'input' }, [], [1, ...shape]);
  }

  private record(spec: NodeSpec, inputs: Traced[], shape: number[]): Traced {
    check(shape.every((d) => Number.isInteger(d) && d > 0), `${spec.op} would produce the shape [${shape.slice(1)}]`);
    const id = this.nodes.length;
    this.nodes.push({ ...spec, id, inputs: inputs.map((t) => t.node), outputShape: shape.slice(1) } as GraphNode);
    return { shape, node: id };
  }

  dense(layer: string, input: Traced, units: number, opts: DenseOptions = {}): Traced {
    check(input.shape.length === 2, `dense '${layer}' needs [N, features], got rank ${input.shape.length}`);
    const x = this.quantizeInput(layer, input);
    const spec = { op: 'dense' as const, layer, kernel: paramName.kernel(layer), bias: denseHasBias(opts) ? paramName.bias(layer) : null, units, ...this.stepOf(layer) };
    return this.record(spec, [x], [x.shape[0]!, units]);
  }

  conv2d(layer: string, input: Traced, filters: number, kernelSize: number, opts: ConvOptions = {}): Traced {
    check(input.shape.length === 4, `conv2d '${layer}' needs NHWC, got rank ${input.shape.length}`);
    const x = this.quantizeInput(layer, input);
    const [n, h, w] = x.shape as [number, number, number, number];
    const stride = convStride(opts);
    const padding = convPadding(opts);
    const bias = convHasBias(opts) ? paramName.bias(layer) : null;
    const spec = { op: 'conv2d' as const, layer, kernel: paramName.kernel(layer), bias, kernelSize, stride, padding, filters, ...this.stepOf(layer) };
    return this.record(spec, [x], [n, windowOutputSize(h, kernelSize, stride, padding), windowOutputSize(w, kernelSize, stride, padding), filters]);
  }

  batchNorm(layer: string, x: Traced): Traced {
    const spec = {
      op: 'batchNorm' as const,
      layer,
      gamma: paramName.gamma(layer),
      beta: paramName.beta(layer),
      movingMean: paramName.movingMean(layer),
      movingVariance: paramName.movingVariance(layer),
      epsilon: BN_EPSILON,
    };
    return this.record(spec, [x], x.shape);
  }

  relu(x: Traced): Traced {
    return this.record({ op: 'relu' }, [x], x.shape);
  }

  maxPool(x: Traced, size: number, stride: number, padding: Padding): Traced {
    check(x.shape.length === 4, `maxPool needs NHWC, got rank ${x.shape.length}`);
    const [n, h, w, c] = x.shape as [number, number, number, number];
    return this.record({ op: 'maxPool', size, stride, padding }, [x], [n, windowOutputSize(h, size, stride, padding), windowOutputSize(w, size, stride, padding), c]);
  }

  flatten(x: Traced): Traced {
    return this.record({ op: 'flatten' }, [x], [x.shape[0]!, x.shape.slice(1).reduce((a, b) => a * b, 1)]);
  }

  add(a: Traced, b: Traced): Traced {
    check(a.shape.join('x') === b.shape.join('x'), `add of [${a.shape.slice(1)}] and [${b.shape.slice(1)}]`);
    return this.record({ op: 'add' }, [a, b], a.shape);
  }

  globalAvgPool(x: Traced): Traced {
    check(x.shape.length === 4, `globalAvgPool needs NHWC, got rank ${x.shape.length}`);
    return this.record({ op: 'globalAvgPool' }, [x], [x.shape[0]!, x.shape[3]!]);
  }
}

/**
 * The graph of an architecture for one input shape, class count and options. Needs no weights and
 * allocates no tensors, so it also runs in the browser and on untrusted configs.
 */
export function traceArchitecture(config: GraphConfig): ModelGraph {
  const plain = traceWith(config, null);
  const weightStep = weightLearnsStep(config.quantizer);
  if (!config.actQuantizer && !weightStep) return plain;
  const layers = new Set(quantizedLayerNames(plain, config.keepFirstLastFp ?? false));
  return traceWith(config, { layers, act: config.actQuantizer ?? null, weightStep });
}

/**
 * The conv/dense layers that quantize, in execution order: all of them, or all but the first and
 * the last with keepFirstLastFp (the model's quantized kernels; their inputs are the ones an
 * activation quantizer quantizes).
 */
export function quantizedLayerNames(graph: ModelGraph, keepFirstLastFp: boolean): string[] {
  const layers = graph.nodes.flatMap((n) => (n.op === 'dense' || n.op === 'conv2d' ? [n.layer] : []));
  return keepFirstLastFp ? layers.filter((_, i) => i !== 0 && i !== layers.length - 1) : layers;
}

function traceWith(config: GraphConfig, plan: QuantizationPlan | null): ModelGraph {
  const tracer = new Tracer(plan);
  const x = tracer.input([...config.inputShape]);
  const logits = getArchitecture(config.arch).forward(tracer, x, config.numClasses, config.archOptions ?? {});
  const output = logits.node;
  check(tracer.nodes[output] !== undefined, 'the architecture returned a value no traced operation produced (it bypasses its ops)');
  return { nodes: tracer.nodes, output };
}

/** Shapes of the parameters each node of `graph` reads, by parameter name (what the checkpoint must hold). */
export function graphParameterShapes(graph: ModelGraph): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const inShape = (node: GraphNode) => graph.nodes[node.inputs[0]!]!.outputShape;
  for (const node of graph.nodes) {
    if (node.op === 'conv2d') {
      shapes.set(node.kernel, [node.kernelSize, node.kernelSize, inShape(node).at(-1)!, node.filters]);
      if (node.bias) shapes.set(node.bias, [node.filters]);
      if (node.weightStep) shapes.set(node.weightStep, [1]);
    } else if (node.op === 'dense') {
      shapes.set(node.kernel, [inShape(node)[0]!, node.units]);
      if (node.bias) shapes.set(node.bias, [node.units]);
      if (node.weightStep) shapes.set(node.weightStep, [1]);
    } else if (node.op === 'actQuant') {
      if (node.scale) shapes.set(node.scale, [1]);
    } else if (node.op === 'batchNorm') {
      const c = node.outputShape.at(-1)!;
      for (const p of [node.gamma, node.beta, node.movingMean, node.movingVariance]) shapes.set(p, [c]);
    }
  }
  return shapes;
}

/** The graph of a built model; checks that it reads exactly the model's parameters, at their shapes. */
export function traceModel(model: TraceableModel): ModelGraph {
  const graph = traceArchitecture(model.config);
  const expected = graphParameterShapes(graph);
  for (const info of model.params.infos) {
    const shape = expected.get(info.name);
    check(shape !== undefined, `parameter '${info.name}' is not read by the traced graph`);
    check(shape!.join('x') === info.shape.join('x'), `parameter '${info.name}' has shape [${info.shape}] but the traced graph reads [${shape}]`);
  }
  check(expected.size === model.params.infos.length, 'the traced graph reads parameters the model does not have');
  return graph;
}
