// MetaQuant's pieces written again in plain float64 JavaScript, from the spec's formulas only
// (spec §3, §5, §6, §7), for tests that must not share a code path with src/: no tfjs, no
// quantizer, meta-network or step code. Layouts follow our parameters: dense kernels [in, out]
// row-major (y = x·W), φ tensors PyTorch [out, in], LSTM gates in the order i, f, g, o.

export type Phi = Map<string, { shape: number[]; data: Float64Array }>;
export interface Lstm64 {
  /** [N, H] row-major, row = weight element. */
  h: Float64Array;
  c: Float64Array;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const act = (kind: 'none' | 'relu' | 'tanh', x: number) => (kind === 'tanh' ? Math.tanh(x) : kind === 'relu' ? Math.max(0, x) : x);

/** A bias-free linear chain 1 → H → … → 1 with `activation` between layers, on one scalar input. */
function chain(x: number, weights: { shape: number[]; data: Float64Array }[], activation: 'none' | 'relu' | 'tanh'): number {
  let v = [x];
  weights.forEach((w, layer) => {
    const [out, inF] = w.shape as [number, number];
    const next = new Array<number>(out).fill(0);
    for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) next[o]! += w.data[o * inF + i]! * v[i]!;
    v = layer < weights.length - 1 ? next.map((z) => act(activation, z)) : next;
  });
  return v[0]!;
}

/**
 * M_φ on every element (spec §5): fcgrad f(g); multifc g ⊙ f(W̃); lstm g ⊙ fc(LSTMCell(W̃; h, c)).
 * Returns the meta-gradient per element and, for the LSTM, the new state.
 */
export function metaForward64(
  kind: 'fcgrad' | 'multifc' | 'lstm',
  activation: 'none' | 'relu' | 'tanh',
  phi: Phi,
  gHat: Float64Array,
  wTilde: Float64Array,
  state: Lstm64 | null,
): { m: Float64Array; state?: Lstm64 } {
  const n = gHat.length;
  const m = new Float64Array(n);
  if (kind === 'fcgrad') {
    const ws = [phi.get('linear1.weight')!, phi.get('linear2.weight')!];
    for (let e = 0; e < n; e++) m[e] = chain(gHat[e]!, ws, activation);
    return { m };
  }
  if (kind === 'multifc') {
    const ws = [...phi.keys()].filter((k) => k.startsWith('network.Linear')).sort().map((k) => phi.get(k)!);
    for (let e = 0; e < n; e++) m[e] = gHat[e]! * chain(wTilde[e]!, ws, activation);
    return { m };
  }
  const wIh = phi.get('lstm1.weight_ih_l0')!.data;
  const wHh = phi.get('lstm1.weight_hh_l0')!.data;
  const bIh = phi.get('lstm1.bias_ih_l0')!.data;
  const bHh = phi.get('lstm1.bias_hh_l0')!.data;
  const fcW = phi.get('fc1.weight')!.data;
  const fcB = phi.get('fc1.bias')!.data[0]!;
  const H = fcW.length;
  const hOut = new Float64Array(n * H);
  const cOut = new Float64Array(n * H);
  for (let e = 0; e < n; e++) {
    const gate = (row: number) => {
      let z = wIh[row]! * wTilde[e]! + bIh[row]! + bHh[row]!;
      if (state) for (let k = 0; k < H; k++) z += wHh[row * H + k]! * state.h[e * H + k]!;
      return z;
    };
    let raw = fcB;
    for (let j = 0; j < H; j++) {
      const i = sigmoid(gate(j));
      const f = sigmoid(gate(H + j));
      const g = Math.tanh(gate(2 * H + j));
      const o = sigmoid(gate(3 * H + j));
      const c = (state ? f * state.c[e * H + j]! : 0) + i * g;
      const h = o * Math.tanh(c);
      cOut[e * H + j] = c;
      hOut[e * H + j] = h;
      raw += fcW[j]! * h;
    }
    m[e] = gHat[e]! * raw;
  }
  return { m, state: { h: hOut, c: cOut } };
}

export interface Quantizer64 {
  name: 'dorefa' | 'bwn';
  bits: number;
}

/** cal(W), spec §3: dorefa (1 − tanh²W)/max|tanh W|, BWN 1. */
export function calibration64(q: Quantizer64, w: Float64Array): Float64Array {
  if (q.name === 'bwn') return new Float64Array(w.length).fill(1);
  const maxT = Math.max(...Array.from(w, (x) => Math.abs(Math.tanh(x))));
  return Float64Array.from(w, (x) => (1 - Math.tanh(x) ** 2) / maxT);
}

/**
 * Everything spec §3–§4 says about Q(A(·)) at a weight tensor w: W̃ = A(w), Ŵ = Q(W̃), the STE
 * slope ∂Ŵ/∂w (layer statistics constant) and A′ = ∂W̃/∂w. `margin` is the distance of the
 * closest element to a rounding/sign decision (in W̃ units for dorefa, w for BWN).
 */
export function quantize64(q: Quantizer64, w: Float64Array): { wTilde: Float64Array; wHat: Float64Array; slope: Float64Array; aPrime: Float64Array; margin: number } {
  const n = w.length;
  if (q.name === 'bwn') {
    const a = Array.from(w, Math.abs).reduce((s, x) => s + x, 0) / n;
    return {
      wTilde: Float64Array.from(w),
      wHat: Float64Array.from(w, (x) => a * Math.sign(x)),
      slope: Float64Array.from(w, (x) => (Math.abs(x) <= 1 ? a : 0)),
      aPrime: new Float64Array(n).fill(1),
      margin: Math.min(...Array.from(w, Math.abs)),
    };
  }
  const levels = 2 ** q.bits - 1;
  const maxT = Math.max(...Array.from(w, (x) => Math.abs(Math.tanh(x))));
  const wTilde = Float64Array.from(w, (x) => Math.tanh(x) / (2 * maxT) + 0.5);
  let margin = Infinity;
  const wHat = Float64Array.from(wTilde, (t) => {
    const scaled = t * levels;
    margin = Math.min(margin, Math.abs(scaled - Math.floor(scaled) - 0.5) / levels);
    return (2 * Math.round(scaled)) / levels - 1;
  });
  return {
    wTilde,
    wHat,
    slope: Float64Array.from(w, (x) => (1 - Math.tanh(x) ** 2) / maxT),
    aPrime: Float64Array.from(w, (x) => (1 - Math.tanh(x) ** 2) / (2 * maxT)),
    margin,
  };
}

/**
 * The reference fixtures' tiny MLP: x [n, inF] → x·W1 → ReLU → ·W2 + b → mean cross-entropy.
 * Returns the loss and g_Ŵ = ∂L/∂W for both kernels (hand-written backward).
 */
export function mlpLoss64(x: Float64Array, labels: Int32Array, w1: Float64Array, w2: Float64Array, b: Float64Array, dims: { n: number; inF: number; hidden: number; classes: number }): { loss: number; g1: Float64Array; g2: Float64Array } {
  const { n, inF, hidden, classes } = dims;
  const z1 = new Float64Array(n * hidden);
  for (let r = 0; r < n; r++) for (let j = 0; j < hidden; j++) for (let i = 0; i < inF; i++) z1[r * hidden + j]! += x[r * inF + i]! * w1[i * hidden + j]!;
  const a1 = z1.map((z) => Math.max(0, z));
  const dLogits = new Float64Array(n * classes);
  let loss = 0;
  for (let r = 0; r < n; r++) {
    const logits = Array.from({ length: classes }, (_, k) => {
      let s = b[k]!;
      for (let j = 0; j < hidden; j++) s += a1[r * hidden + j]! * w2[j * classes + k]!;
      return s;
    });
    const top = Math.max(...logits);
    const sum = logits.reduce((s, l) => s + Math.exp(l - top), 0);
    loss += -(logits[labels[r]!]! - top - Math.log(sum)) / n;
    for (let k = 0; k < classes; k++) dLogits[r * classes + k] = (Math.exp(logits[k]! - top) / sum - (k === labels[r] ? 1 : 0)) / n;
  }
  const g2 = new Float64Array(hidden * classes);
  const dz1 = new Float64Array(n * hidden);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < hidden; j++) {
      let da = 0;
      for (let k = 0; k < classes; k++) {
        g2[j * classes + k]! += a1[r * hidden + j]! * dLogits[r * classes + k]!;
        da += dLogits[r * classes + k]! * w2[j * classes + k]!;
      }
      dz1[r * hidden + j] = z1[r * hidden + j]! > 0 ? da : 0;
    }
  }
  const g1 = new Float64Array(inF * hidden);
  for (let r = 0; r < n; r++) for (let i = 0; i < inF; i++) for (let j = 0; j < hidden; j++) g1[i * hidden + j]! += x[r * inF + i]! * dz1[r * hidden + j]!;
  return { loss, g1, g2 };
}

/** Central difference of f at φ along each coordinate of each tensor, in float64. */
export function centralDifferences(phi: Phi, f: (phi: Phi) => number, h: number): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const [name, t] of phi) {
    const g = new Float64Array(t.data.length);
    for (let i = 0; i < g.length; i++) {
      const shifted = (by: number) => {
        const data = Float64Array.from(t.data);
        data[i] = data[i]! + by;
        return new Map(phi).set(name, { shape: t.shape, data });
      };
      g[i] = (f(shifted(h)) - f(shifted(-h))) / (2 * h);
    }
    out.set(name, g);
  }
  return out;
}
