// ONNX models as plain data, and their protobuf encoding (via onnx-proto). The one place that
// writes ONNX: the native kernels (engine/native) build one-node graphs with it, the ONNX export
// (export/onnx.ts) whole networks.
//
//   encodeOnnxModel(graph, info?) → Uint8Array (a ModelProto)
//   graph = {
//     nodes:   [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { strides: [1, 1] }, floatAttrs: { epsilon: 1e-5 } }],
//     inputs:  { x: [1, 3, 8, 8] },        outputs: { y: ['batch', 10] }    (float32; a string is a symbolic axis)
//     initializers: { w: { dims: [16, 3, 3, 3], data: Float32Array | Int8Array } },
//     int64s:  { axes: [2, 3] },           (1-D int64 constants: shapes, Slice starts/ends/axes)
//   }
//
// Every model declares ONNX_OPSET: 13, the newest opset in which each operator we use (Conv,
// ConvTranspose, MatMul, Gemm, Transpose, Slice, BatchNormalization, MaxPool, Add, Mul, Flatten,
// GlobalAveragePool, DequantizeLinear, Relu, Identity) already has its current semantics, and
// the oldest that covers them all, so exported files also load in older runtimes. IR version 7
// is the lowest that opset 13 allows.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const ONNX_OPSET = 13;
export const ONNX_IR_VERSION = 7;

/** Axis sizes of a graph input or output; a string names a symbolic axis (e.g. 'batch'). */
export type OnnxDims = ReadonlyArray<number | string>;

export interface OnnxNode {
  op: string;
  /** Operator domain, default ONNX's; onnxruntime's own kernels live in e.g. 'com.microsoft.nchwc' (imported at version 1). */
  domain?: string;
  inputs: string[];
  outputs: string[];
  /** Defaults to the first output's name (unique, since every value is produced once). */
  name?: string;
  /** INT (a number) and INTS (an array) attributes; undefined entries are left out. */
  attrs?: Record<string, number | number[] | undefined>;
  /** FLOAT attributes (ONNX tells INT and FLOAT apart). */
  floatAttrs?: Record<string, number>;
  /** STRING attributes (e.g. a fused activation's name). */
  stringAttrs?: Record<string, string>;
}

/** A constant tensor (weights, scales, zero points), stored as little-endian raw data. */
export interface OnnxConstant {
  dims: number[];
  data: Float32Array | Int8Array;
}

export interface OnnxGraph {
  /** Default 'graph'. */
  name?: string;
  nodes: OnnxNode[];
  /** Float32 graph inputs by name, in order. */
  inputs: Record<string, OnnxDims>;
  /** Float32 graph outputs by name, in order. */
  outputs: Record<string, OnnxDims>;
  initializers?: Record<string, OnnxConstant>;
  /** 1-D int64 constants; undefined entries are left out. */
  int64s?: Record<string, number[] | undefined>;
}

export interface OnnxModelInfo {
  producerName?: string;
  docString?: string;
}

const { FLOAT, INT8, INT64 } = onnx.TensorProto.DataType;
const { INT, INTS } = onnx.AttributeProto.AttributeType;

function valueInfo(name: string, dims: OnnxDims): onnxProto.onnx.IValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim } } } };
}

function nodeProto(n: OnnxNode): onnxProto.onnx.INodeProto {
  const ints = Object.entries(n.attrs ?? {}).flatMap(([name, v]) =>
    v === undefined ? [] : [Array.isArray(v) ? { name, type: INTS, ints: v } : { name, type: INT, i: v }],
  );
  const floats = Object.entries(n.floatAttrs ?? {}).map(([name, f]) => ({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f }));
  const strings = Object.entries(n.stringAttrs ?? {}).map(([name, value]) => ({ name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(value) }));
  return { name: n.name ?? n.outputs[0], opType: n.op, ...(n.domain ? { domain: n.domain } : {}), input: n.inputs, output: n.outputs, attribute: [...ints, ...floats, ...strings] };
}

function constantProto(name: string, { dims, data }: OnnxConstant): onnxProto.onnx.ITensorProto {
  // Typed arrays are little-endian on every platform Node runs on, which is what rawData holds.
  const rawData = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  return { name, dims, dataType: data instanceof Int8Array ? INT8 : FLOAT, rawData };
}

/** The ModelProto bytes of `graph` (opset ONNX_OPSET, IR version ONNX_IR_VERSION). */
export function encodeOnnxModel(graph: OnnxGraph, info: OnnxModelInfo = {}): Uint8Array {
  const initializer = [
    ...Object.entries(graph.initializers ?? {}).map(([name, c]) => constantProto(name, c)),
    ...Object.entries(graph.int64s ?? {}).flatMap(([name, values]) =>
      values === undefined ? [] : [{ name, dims: [values.length], dataType: INT64, int64Data: values }],
    ),
  ];
  const model: onnxProto.onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }, ...[...new Set(graph.nodes.flatMap((n) => (n.domain ? [n.domain] : [])))].map((domain) => ({ domain, version: 1 }))],
    ...info,
    graph: {
      name: graph.name ?? 'graph',
      node: graph.nodes.map(nodeProto),
      initializer,
      input: Object.entries(graph.inputs).map(([name, dims]) => valueInfo(name, dims)),
      output: Object.entries(graph.outputs).map(([name, dims]) => valueInfo(name, dims)),
    },
  };
  return onnx.ModelProto.encode(model).finish();
}
