// onnxruntime's blocked-channel ("NCHWc") kernels: convolutions and pooling on activations stored
// as [N, C/B, H, W, B] with B = 8 (AVX2) or 16 (AVX-512) channels innermost, about twice as fast
// as its plain NCHW Conv on ResNet-sized layers. Its graph optimiser only uses them for constant
// weights; a training graph's weights are inputs, so the graphs here call the kernels directly
// and reorder the filters themselves. A blocked tensor keeps its logical shape [N, C, H, W]; a
// Reshape to [N, C/B, H, W, B] is its true layout, which is how elementwise ops broadcast
// per-channel vectors against it. B is probed once against the plain Conv (0: not available).
import { ortKernel } from '../ort.js';
import { GraphBuilder } from './builder.js';

export const NCHWC = 'com.microsoft.nchwc';

let probed: number | undefined;

/** The block size onnxruntime's NCHWc kernels use on this CPU, or 0 where they are unavailable (or METAQUANT_NCHWC=0). */
export function nchwcBlockSize(): number {
  if (process.env.METAQUANT_NCHWC === '0') return 0;
  if (probed !== undefined) return probed;
  probed = 0;
  const c = 16;
  const x = Float32Array.from({ length: c * 9 }, (_, i) => Math.sin(i));
  const w = Float32Array.from({ length: c * c * 9 }, (_, i) => Math.cos(i));
  try {
    const plain = new Float32Array(c * 9);
    ortKernel('nchwc-probe|plain', () => ({ inputs: { x: [1, c, 3, 3], w: [c, c, 3, 3] }, outputs: { y: [1, c, 3, 3] }, nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { pads: [1, 1, 1, 1] } }] })).run({ x, w }, { y: plain });
    for (const block of [16, 8]) {
      const g = new GraphBuilder();
      g.input('x', [1, c, 3, 3]);
      g.input('w', [c, c, 3, 3]);
      const y = conv(g, reorderInput(g, 'x', false), filterBlocked(g, 'w', [c, c, 3, 3], block, true), null, { pads: [1, 1, 1, 1], kernel_shape: [3, 3] });
      g.output('y', reorderOutput(g, y, c, false), [1, c, 3, 3]);
      const blocked = new Float32Array(c * 9);
      ortKernel(`nchwc-probe|${block}`, () => g.spec()).run({ x, w }, { y: blocked });
      if (blocked.every((v, i) => Math.abs(v - plain[i]!) <= 1e-4 * (1 + Math.abs(plain[i]!)))) return (probed = block);
    }
  } catch {
    // No NCHWc kernels in this onnxruntime build: the plain NCHW graphs run instead.
  }
  return probed;
}

/** NCHW (or NHWC with channelsLast) → blocked. */
export function reorderInput(g: GraphBuilder, x: string, channelsLast: boolean): string {
  return g.nodeIn(NCHWC, 'ReorderInput', [x], { channels_last: channelsLast ? 1 : 0 });
}

/** Blocked → NCHW (or NHWC with channelsLast); `channels` drops the block padding. */
export function reorderOutput(g: GraphBuilder, x: string, channels: number, channelsLast: boolean): string {
  return g.nodeIn(NCHWC, 'ReorderOutput', [x], { channels, channels_last: channelsLast ? 1 : 0 });
}

/**
 * An OIHW filter [Co, Ci, KH, KW] in the order the blocked Conv reads: [Co/B, Ci/B, KH, KW, Bi, Bo]
 * for blocked inputs, [Co/B, Ci, KH, KW, Bo] for NCHW inputs (`blockedInput` false).
 */
export function filterBlocked(g: GraphBuilder, w: string, [co, ci, kh, kw]: number[], block: number, blockedInput: boolean): string {
  const reordered = blockedInput
    ? g.transpose(g.reshape(w, [co! / block, block, ci! / block, block, kh!, kw!]), [0, 2, 4, 5, 3, 1])
    : g.transpose(g.reshape(w, [co! / block, block, ci!, kh!, kw!]), [0, 2, 3, 4, 1]);
  return g.reshape(reordered, [co!, ci!, kh!, kw!]);
}

/** The blocked Conv: blocked (or NCHW, with an OIHWBo filter) input → blocked output. */
export function conv(g: GraphBuilder, x: string, w: string, bias: string | null, attrs: { strides?: number[]; pads: number[]; kernel_shape: number[] }): string {
  return g.nodeIn(NCHWC, 'Conv', bias ? [x, w, bias] : [x, w], attrs);
}

export function maxPool(g: GraphBuilder, x: string, attrs: { kernel_shape: number[]; strides: number[]; pads: number[] }): string {
  return g.nodeIn(NCHWC, 'MaxPool', [x], attrs);
}
