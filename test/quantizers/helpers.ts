// Plain-JS float64 references of every quantizer formula (spec §3–§4) and test utilities.
import assert from 'node:assert/strict';
import { tf, type Tensor } from '../../src/engine/tf.js';
import type { BackendName } from '../../src/engine/backend.js';

/** The backends every quantizer test runs on. */
export const TEST_BACKENDS: readonly BackendName[] = ['cpu', 'wasm'];

/** mulberry32: a tiny seeded generator, so the test data never changes. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Seeded weights of the given size, as float32 values: normal·scale, with exact zeros (+0 and
 * −0), exact ±1 (on the hardtanh gate's edge) and a few beyond ±1 mixed in.
 */
export function sampleWeights(size: number, seed: number, scale = 0.7): Float32Array {
  const random = seededRandom(seed);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const u = Math.max(random(), 1e-12);
    const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    values[i] = normal * scale;
  }
  const specials = [0, -0, 1, -1, 1.5, -2];
  for (let j = 0; j < specials.length && j * 7 < size; j++) values[j * 7] = specials[j]!;
  return values;
}

/** Seeded values uniform in [−1, 1), used as the upstream gradient R. */
export function sampleUniform(size: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: size }, () => 2 * random() - 1);
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Values of a tensor, disposed afterwards. */
export function take(t: Tensor): Float64Array {
  const values = Float64Array.from(t.dataSync() as ArrayLike<number>);
  t.dispose();
  return values;
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tolerance = 2e-6): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const bound = tolerance * Math.max(1, Math.abs(e));
    assert.ok(Math.abs(a - e) <= bound, `${what}[${i}]: got ${a}, expected ${e}`);
  }
}

/** JS round half to even. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Channel of flat index i: the output channel is the last axis (row-major). */
function channelOf(i: number, channels: number): number {
  return i % channels;
}

/** Per-layer (one group) or per-channel (last axis) mean|W|, as an array indexed by channel. */
export function meanAbsRef(w: ArrayLike<number>, shape: readonly number[], perChannel: boolean): number[] {
  const channels = perChannel ? shape[shape.length - 1]! : 1;
  const sums = new Array<number>(channels).fill(0);
  const counts = new Array<number>(channels).fill(0);
  for (let i = 0; i < w.length; i++) {
    const c = channelOf(i, channels);
    sums[c]! += Math.abs(w[i]!);
    counts[c]! += 1;
  }
  return sums.map((s, c) => s / counts[c]!);
}

export function scaleOf(scales: readonly number[], i: number): number {
  return scales[channelOf(i, scales.length)]!;
}

// ---- dorefa ----

export function dorefaRef(w: ArrayLike<number>, bits: number) {
  const n = 2 ** bits - 1;
  const tanh = Array.from(w, (x) => Math.tanh(x));
  const rawMax = Math.max(...tanh.map(Math.abs));
  const maxAbs = rawMax > 0 ? rawMax : 1;
  const wTilde = tanh.map((t) => t / (2 * maxAbs) + 0.5);
  const scaled = wTilde.map((x) => n * x);
  const codes = scaled.map(roundHalfEven);
  const wHat = codes.map((q) => (2 * q) / n - 1);
  const calibration = tanh.map((t) => (1 - t * t) / maxAbs);
  return { wTilde, scaled, codes, wHat, calibration };
}

// ---- bwn ----

export function bwnRef(w: ArrayLike<number>, shape: readonly number[], perChannel: boolean) {
  const scales = meanAbsRef(w, shape, perChannel);
  const wHat = Array.from(w, (x, i) => scaleOf(scales, i) * Math.sign(x) + 0); // + 0 turns −0 into 0
  const steScale = Array.from(w, (x, i) => scaleOf(scales, i) * (Math.abs(x) <= 1 ? 1 : 0));
  return { scales, wHat, steScale };
}

// ---- ternary ----

export function ternaryRef(w: ArrayLike<number>, shape: readonly number[], perChannel: boolean) {
  const channels = perChannel ? shape[shape.length - 1]! : 1;
  const deltas = meanAbsRef(w, shape, perChannel).map((m) => 0.7 * m);
  const keptSums = new Array<number>(channels).fill(0);
  const keptCounts = new Array<number>(channels).fill(0);
  for (let i = 0; i < w.length; i++) {
    const c = channelOf(i, channels);
    if (Math.abs(w[i]!) > deltas[c]!) {
      keptSums[c]! += Math.abs(w[i]!);
      keptCounts[c]! += 1;
    }
  }
  const alphas = keptSums.map((s, c) => (keptCounts[c]! > 0 ? s / keptCounts[c]! : 0));
  const kept = Array.from(w, (x, i) => Math.abs(x) > scaleOf(deltas, i));
  const wHat = Array.from(w, (x, i) => (kept[i] ? scaleOf(alphas, i) * Math.sign(x) : 0));
  // Distance of |W| from the threshold, to skip comparisons float32 and float64 may decide differently.
  const margin = Array.from(w, (x, i) => Math.abs(Math.abs(x) - scaleOf(deltas, i)));
  return { deltas, alphas, kept, wHat, margin };
}

// ---- sign ----

export function signRef(w: ArrayLike<number>) {
  return Array.from(w, (x) => (x >= 0 ? 1 : -1)); // −0 >= 0 holds: sign(±0) = +1
}

export function gateRef(w: ArrayLike<number>): number[] {
  return Array.from(w, (x) => (Math.abs(x) <= 1 ? 1 : 0));
}

/** Ŵ decoded from an encoding: scales[channel]·levels[code]. */
export function decode(encoding: { codes: Uint8Array; levels: Float32Array; scales: Float32Array }): Float32Array {
  const { codes, levels, scales } = encoding;
  return Float32Array.from(codes, (code, i) => scales[i % scales.length]! * levels[code]!);
}

/** Elementwise equality that treats +0 and −0 as equal (Ŵ's exactness is about values). */
export function assertSameValues(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(actual[i] === expected[i], `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

/** No tensors leaked by `body`. */
export function assertNoLeak(body: () => void, what: string): void {
  const before = tf.memory().numTensors;
  body();
  assert.equal(tf.memory().numTensors, before, `${what}: tensors leaked`);
}
