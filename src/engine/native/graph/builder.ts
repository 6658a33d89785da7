// A small helper for writing ONNX graphs node by node: fresh value names, scalar and int64
// constants declared once, and the graph's inputs and outputs. The model's forward and backward
// graphs (forward-graph.ts, backward-graph.ts) are written with it.
import type { GraphSpec } from '../ort.js';
import type { OnnxNode as GraphNode } from '../../onnx/graph.js';

export class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  readonly inputs: Record<string, number[]> = {};
  readonly outputs: Record<string, number[]> = {};
  readonly int64s: Record<string, number[]> = {};
  private readonly scalars = new Map<number, string>();
  private counter = 0;

  /** `prefix` keeps fresh names apart from names another graph's values bring in as inputs. */
  constructor(private readonly prefix = 'v') {}

  /** A value name not used before, with a readable stem. */
  fresh(stem: string): string {
    return `${this.prefix}_${stem.replace(/[^A-Za-z0-9_]/g, '_')}_${this.counter++}`;
  }

  input(name: string, dims: number[]): string {
    this.inputs[name] = dims;
    return name;
  }

  /** Declares `value` a graph output under its own name (an Identity when the name differs). */
  output(name: string, value: string, dims: number[]): void {
    if (value !== name) this.node('Identity', [value], name);
    this.outputs[name] = dims;
  }

  /** Adds a node with one output (a fresh name from `op` unless given); returns the output's name. */
  node(op: string, inputs: string[], output?: string, attrs?: GraphNode['attrs']): string {
    const out = output ?? this.fresh(op.toLowerCase());
    this.nodes.push({ op, inputs, outputs: [out], ...(attrs ? { attrs } : {}) });
    return out;
  }

  /** A node of another operator domain (onnxruntime's own kernels). */
  nodeIn(domain: string, op: string, inputs: string[], attrs?: GraphNode['attrs']): string {
    const out = this.fresh(op.toLowerCase());
    this.nodes.push({ op, domain, inputs, outputs: [out], ...(attrs ? { attrs } : {}) });
    return out;
  }

  /** A node with several outputs (e.g. MaxPool's values and indices). */
  multi(op: string, inputs: string[], outputs: string[], attrs?: GraphNode['attrs']): void {
    this.nodes.push({ op, inputs, outputs, ...(attrs ? { attrs } : {}) });
  }

  /** A float32 scalar constant, declared once per value. */
  scalar(value: number): string {
    let name = this.scalars.get(value);
    if (!name) {
      name = this.fresh('c');
      this.nodes.push({ op: 'Constant', inputs: [], outputs: [name], floatAttrs: { value_float: value } });
      this.scalars.set(value, name);
    }
    return name;
  }

  /** A 1-D int64 constant (shapes, axes, pads). */
  ints(values: number[]): string {
    const key = `i64_${values.join('_').replace(/-/g, 'm')}`;
    this.int64s[key] = values;
    return key;
  }

  reshape(x: string, shape: number[]): string {
    return this.node('Reshape', [x, this.ints(shape)]);
  }

  transpose(x: string, perm: number[]): string {
    return this.node('Transpose', [x], undefined, { perm });
  }

  spec(): GraphSpec {
    return { nodes: this.nodes, inputs: this.inputs, outputs: this.outputs, int64s: this.int64s };
  }
}

export const NHWC_TO_NCHW = [0, 3, 1, 2];
export const NCHW_TO_NHWC = [0, 2, 3, 1];
/** [KH, KW, Ci, Co] (tfjs) → [Co, Ci, KH, KW] (ONNX). */
export const HWIO_TO_OIHW = [3, 2, 0, 1];
/** [Ci, Co, KH, KW] → [KH, KW, Ci, Co]. */
export const IOHW_TO_HWIO = [2, 3, 0, 1];

export const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
