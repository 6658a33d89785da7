// MACs by the precision of both operands (issue 16): with activation quantization a layer's
// multiply-adds are XNOR-popcounts (1-bit weights × 1-bit activations), binary × k-bit, or float.
import type { ModelGraph } from '../models/trace.js';

export const FLOAT_OPERAND_BITS = 32;

/** Counts keyed 'W×A' by the weight and input (activation) bit widths, e.g. '1x1', '1x2', '32x32'. */
export type CountsByOperands = Record<string, number>;

/** Bit width of the input of node `id`: its activation quantizer's, or 32 when it is not quantized. */
export function inputBits(graph: ModelGraph, id: number): number {
  const source = graph.nodes[graph.nodes[id]!.inputs[0]!];
  if (source?.op !== 'actQuant') return FLOAT_OPERAND_BITS;
  return source.quantizer.name === 'sign' ? 1 : (source.quantizer.bits ?? 1);
}

export function operandKey(weightBits: number, activationBits: number): string {
  return `${weightBits}x${activationBits}`;
}

/** The three classes a reader asks about: both binary (XNOR-popcount), one binary and one k-bit, everything else. */
export function describeOperands(counts: CountsByOperands): string {
  let xnor = 0;
  let binaryByK = 0;
  let floatSide = 0;
  let other = 0;
  for (const [key, n] of Object.entries(counts)) {
    const [w, a] = key.split('x').map(Number) as [number, number];
    if (w === 1 && a === 1) xnor += n;
    else if ((w === 1 || a === 1) && w < FLOAT_OPERAND_BITS && a < FLOAT_OPERAND_BITS) binaryByK += n;
    else if (w === FLOAT_OPERAND_BITS || a === FLOAT_OPERAND_BITS) floatSide += n;
    else other += n;
  }
  const parts = [`binary x binary (XNOR-popcount) ${xnor}`, `binary x k-bit ${binaryByK}`, `other low-bit ${other}`, `with a float operand ${floatSide}`];
  const detail = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })).map(([k, n]) => `${k}: ${n}`).join(', ');
  return `${parts.join('; ')} (weight x activation bits: ${detail})`;
}
