import type { QuantizedModel } from '../models/model.js';
import { traceModel, type GraphNode } from '../models/trace.js';
import { loadModel, type CheckpointPayload } from '../run/checkpoint-payload.js';
import { describeOperands, inputBits, operandKey, type CountsByOperands } from './operand-precision.js';

/** Bits of a value kept in float32 (biases, batch norm, scales, float kernels). */
export const FLOAT_BITS = 32;

/** Counts keyed by bit width ("1", "2", …, "32"); widths that do not occur are absent. */
export type CountsByBits = Record<string, number>;

export interface LayerSummary {
  /** Layer name as in the checkpoint (e.g. 'conv1'), or the operation for parameter-free rows. */
  name: string;
  /** Operation: 'Conv2D 5x5', 'Dense', 'BatchNorm', 'MaxPool 2x2', 'Flatten', 'Add', 'GlobalAvgPool'. */
  type: string;
  /** Output shape of one image (no batch axis). */
  outputShape: number[];
  /** Stored values by bit width: kernels at their deployed width, biases and batch norm at 32. */
  weightsByBits: CountsByBits;
  /** Bytes as deployed: kernels packed at their bit width + float32 scales + float32 biases/batch norm. */
  memoryBytes: number;
  /** Multiply-accumulates per image, keyed by the bit width of the weight operand. */
  macsByBits: CountsByBits;
  /** With activation quantization only: MACs keyed 'W×A' by weight and input bit widths ('1x1' = XNOR-popcount). */
  macsByOperands?: CountsByOperands;
}

export interface ModelSummary {
  arch: string;
  inputShape: [number, number, number];
  numClasses: number;
  /** e.g. 'dorefa 1-bit', 'bwn (per-channel)', 'float'. */
  weights: string;
  /** Whether the first and last weight layers stay float. */
  keepFirstLastFp: boolean;
  /** With activation quantization only: its label, e.g. 'lsq 2-bit', 'sign'. */
  activations?: string;
  /** The training estimator when summarised from a checkpoint ('ste', 'clipped-ste', 'metaquant'). */
  estimator?: string;
  layers: LayerSummary[];
  totals: {
    /** Every value the trained model holds (kernels, biases, batch norm incl. running statistics). */
    parameters: number;
    trainableParameters: number;
    weightsByBits: CountsByBits;
    macsByBits: CountsByBits;
    macs: number;
    /** Bytes of the float32 latent weights training keeps (parameters × 4). */
    trainedBytes: number;
    /** Bytes as deployed (sum of the layers' memory: packed kernels + scales + float parameters). */
    deployedBytes: number;
    /** Bytes of the same network with every value in float32 (no scales needed). */
    float32Bytes: number;
    /** float32Bytes / deployedBytes. */
    compressionRatio: number;
    /** Share of the MACs whose weight operand has fewer than 32 bits (0 for a float model). */
    lowBitMacShare: number;
    /** With activation quantization only: MACs by both operands' bit widths. */
    macsByOperands?: CountsByOperands;
  };
}

const product = (xs: number[]): number => xs.reduce((a, b) => a * b, 1);

function addCount(into: CountsByBits, bits: number, count: number): void {
  if (count === 0) return;
  into[String(bits)] = (into[String(bits)] ?? 0) + count;
}

/** Bit width and number of float32 scales of one kernel as deployed (from the quantizer's encoding). */
function kernelDeployment(model: QuantizedModel, kernelName: string): { bits: number; scales: number } {
  if (!model.quantizer || !model.isQuantized(kernelName)) return { bits: FLOAT_BITS, scales: 0 };
  const encoding = model.encodeKernel(kernelName);
  return { bits: encoding.bits, scales: encoding.scales.length };
}

function describeWeights(model: QuantizedModel): string {
  const q = model.quantizer;
  if (!q) return 'float';
  const config = q.getConfig();
  return `${q.label}${config.perChannel ? ' (per-channel scales)' : ''}`;
}

/** One table row per node; `autoName` numbers the parameter-free operations (pool1, pool2, …). */
function layerRow(model: QuantizedModel, node: GraphNode, inputShape: number[], autoName: (prefix: string) => string): LayerSummary | null {
  const weightsByBits: CountsByBits = {};
  const macsByBits: CountsByBits = {};
  let memoryBytes = 0;
  const row = (name: string, type: string): LayerSummary => ({ name, type, outputShape: node.outputShape, weightsByBits, memoryBytes, macsByBits });
  const weightLayer = (kernel: string, bias: string | null, macs: number): void => {
    const count = product(model.params.info(kernel).shape);
    const { bits, scales } = kernelDeployment(model, kernel);
    addCount(weightsByBits, bits, count);
    addCount(macsByBits, bits, macs);
    memoryBytes += Math.ceil((count * bits) / 8) + scales * 4;
    if (bias) {
      const biasCount = product(model.params.info(bias).shape);
      addCount(weightsByBits, FLOAT_BITS, biasCount);
      memoryBytes += biasCount * 4;
    }
  };
  switch (node.op) {
    case 'input':
    case 'relu':
      return null;
    case 'conv2d': {
      const [outH, outW] = node.outputShape as [number, number, number];
      const inChannels = inputShape[2]!;
      weightLayer(node.kernel, node.bias, outH * outW * node.filters * node.kernelSize * node.kernelSize * inChannels);
      return row(node.layer, `Conv2D ${node.kernelSize}x${node.kernelSize}${node.stride > 1 ? `/${node.stride}` : ''}`);
    }
    case 'dense':
      weightLayer(node.kernel, node.bias, inputShape[0]! * node.units);
      return row(node.layer, 'Dense');
    case 'batchNorm': {
      const count = 4 * node.outputShape[node.outputShape.length - 1]!;
      addCount(weightsByBits, FLOAT_BITS, count);
      memoryBytes += count * 4;
      return row(node.layer, 'BatchNorm');
    }
    case 'maxPool':
      return row(autoName('pool'), `MaxPool ${node.size}x${node.size}`);
    case 'flatten':
      return row(autoName('flatten'), 'Flatten');
    case 'add':
      return row(autoName('add'), 'Add');
    case 'globalAvgPool':
      return row(autoName('avgpool'), 'GlobalAvgPool');
    case 'actQuant':
      if (node.scale) {
        addCount(weightsByBits, FLOAT_BITS, 1);
        memoryBytes += 4;
      }
      return row(`${node.layer}/input`, `ActQuant ${node.quantizer.name}${node.quantizer.name === 'sign' ? '' : ` ${node.quantizer.bits ?? 1}-bit`}`);
  }
}

function sumInto(target: CountsByBits, source: CountsByBits): void {
  for (const [bits, n] of Object.entries(source)) target[bits] = (target[bits] ?? 0) + n;
}

/**
 * Per-layer parameter counts by bit width, deployed memory and MACs of a model, and its totals
 * (Larq's `models.summary` quantities). Bit widths come from the quantizer's own encoding, so they
 * are what a packed export stores.
 */
export function summarizeModel(model: QuantizedModel, opts: { estimator?: string } = {}): ModelSummary {
  const graph = traceModel(model);
  const layers: LayerSummary[] = [];
  const seen = new Map<string, number>();
  const autoName = (prefix: string): string => {
    seen.set(prefix, (seen.get(prefix) ?? 0) + 1);
    return `${prefix}${seen.get(prefix)}`;
  };
  for (const node of graph.nodes) {
    const input = node.inputs.length > 0 ? graph.nodes[node.inputs[0]!]!.outputShape : [];
    const row = layerRow(model, node, input, autoName);
    if (row && model.activation && (node.op === 'dense' || node.op === 'conv2d')) {
      const macs = Object.values(row.macsByBits).reduce((a, b) => a + b, 0);
      row.macsByOperands = { [operandKey(Number(Object.keys(row.macsByBits)[0]), inputBits(graph, node.id))]: macs };
    }
    if (row) layers.push(row);
  }
  const macsByOperands: CountsByOperands = {};
  for (const l of layers) sumInto(macsByOperands, l.macsByOperands ?? {});
  const weightsByBits: CountsByBits = {};
  const macsByBits: CountsByBits = {};
  for (const l of layers) {
    sumInto(weightsByBits, l.weightsByBits);
    sumInto(macsByBits, l.macsByBits);
  }
  const parameters = model.params.totalCount();
  const macs = Object.values(macsByBits).reduce((a, b) => a + b, 0);
  const lowBitMacs = Object.entries(macsByBits).reduce((a, [bits, n]) => a + (Number(bits) < FLOAT_BITS ? n : 0), 0);
  const deployedBytes = layers.reduce((a, l) => a + l.memoryBytes, 0);
  const float32Bytes = Object.values(weightsByBits).reduce((a, b) => a + b, 0) * 4;
  return {
    arch: model.config.arch,
    inputShape: model.config.inputShape,
    numClasses: model.config.numClasses,
    weights: describeWeights(model),
    keepFirstLastFp: model.config.keepFirstLastFp ?? false,
    ...(model.activation && { activations: model.activation.quantizer.label }),
    ...(opts.estimator ? { estimator: opts.estimator } : {}),
    layers,
    totals: {
      parameters,
      trainableParameters: model.params.totalCount((p) => p.trainable),
      weightsByBits,
      macsByBits,
      macs,
      trainedBytes: parameters * 4,
      deployedBytes,
      float32Bytes,
      compressionRatio: float32Bytes / deployedBytes,
      lowBitMacShare: macs > 0 ? lowBitMacs / macs : 0,
      ...(model.activation && { macsByOperands }),
    },
  };
}

/** Loads a run folder (or checkpoint file) and summarises its model. */
export function summarizeCheckpoint(path: string): ModelSummary {
  const { model, payload } = loadModel(path);
  try {
    return summarizeModel(model, { estimator: (payload as CheckpointPayload).config.method });
  } finally {
    model.dispose();
  }
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(2)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(2)} MiB`;
}

function bitKeys(...maps: CountsByBits[]): number[] {
  const keys = new Set<number>();
  for (const m of maps) for (const k of Object.keys(m)) keys.add(Number(k));
  return [...keys].sort((a, b) => a - b);
}

/** A plain, aligned text table (one row per layer, a total row) followed by the model totals. */
export function formatSummary(s: ModelSummary): string {
  const t = s.totals;
  const weightBits = bitKeys(t.weightsByBits);
  const macBits = bitKeys(t.macsByBits);
  const header = ['Layer', 'Type', 'Output shape', ...weightBits.map((b) => `# ${b}-bit`), 'Memory (KiB)', ...macBits.map((b) => `${b}-bit MACs`)];
  const rows: string[][] = s.layers.map((l) => [
    l.name,
    l.type,
    `(-1, ${l.outputShape.join(', ')})`,
    ...weightBits.map((b) => String(l.weightsByBits[String(b)] ?? 0)),
    (l.memoryBytes / 1024).toFixed(2),
    ...macBits.map((b) => String(l.macsByBits[String(b)] ?? 0)),
  ]);
  const total = ['Total', '', '', ...weightBits.map((b) => String(t.weightsByBits[String(b)] ?? 0)), (t.deployedBytes / 1024).toFixed(2), ...macBits.map((b) => String(t.macsByBits[String(b)] ?? 0))];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length), total[i]!.length));
  // Text columns (name, type, shape) align left, numbers right.
  const line = (cells: string[]): string => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const rule = '-'.repeat(widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1));
  const [h, w, c] = s.inputShape;
  const firstLast = s.weights === 'float' ? '' : s.keepFirstLastFp ? ', first/last weight layers float' : ', every weight layer quantized';
  const acts = s.activations ? `, activations: ${s.activations}` : '';
  const title = `${s.arch} (${h}x${w}x${c} -> ${s.numClasses} classes), weights: ${s.weights}${firstLast}${acts}${s.estimator ? `, trained with ${s.estimator}` : ''}`;
  const stats: [string, string][] = [
    ['Parameters', `${t.parameters} (${t.trainableParameters} trainable)`],
    ['Model size as trained (float32 latent weights)', formatBytes(t.trainedBytes)],
    ['Model size as deployed (packed)', formatBytes(t.deployedBytes)],
    ['Float32 equivalent', formatBytes(t.float32Bytes)],
    ['Compression ratio', `${t.compressionRatio.toFixed(2)}x`],
    ['MACs per image', String(t.macs)],
    ['Share of MACs with low-bit weights', `${(t.lowBitMacShare * 100).toFixed(2)}%`],
    ...(t.macsByOperands ? [['MACs by operand precision', describeOperands(t.macsByOperands)] as [string, string]] : []),
  ];
  const labelWidth = Math.max(...stats.map(([k]) => k.length));
  return [
    title,
    rule,
    line(header),
    rule,
    ...rows.map(line),
    rule,
    line(total),
    rule,
    ...stats.map(([k, v]) => `${(k + ':').padEnd(labelWidth + 1)}  ${v}`),
  ].join('\n') + '\n';
}
