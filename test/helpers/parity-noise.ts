// The float32 noise floor of a reference trace and where the one ill-conditioned operation of an
// iteration (Adam's scale-free division) carries it; see the header of reference-parity.test.ts
// for the model. Everything here is computed from the trace's recorded values (never from our
// run), in float64, in the reference's layouts ([out, in] weights, elements row-major).
import { flat, type Fixture } from './fixtures.js';

/** float32 unit roundoff. */
const U = 2 ** -24;
/** Relative error of one softmax probability in one implementation (exp, sum of 3, division): 4 ulps. */
const SOFTMAX_ULPS = 4;

const LAYERS = [
  { name: 'fc1', weight: 'fc1.weight', inF: 6, outF: 5 },
  { name: 'fc2', weight: 'fc2.weight', inF: 5, outF: 3 },
] as const;

const add = (a: number[], b: number[], scale = 1) => a.map((v, i) => v + scale * b[i]!);

/**
 * Float32 noise floor of g_Ŵ = ∂L/∂Ŵ and of ∂L/∂b at iteration t, as the largest possible
 * difference between two correct float32 implementations: ∂L/∂logits = (softmax − onehot)/n, and
 * for a saturated sample (p ≈ 1) p − 1 keeps only the absolute error of p, 4 ulps·p in each
 * implementation; the backward is linear in it, so the floor is the backward of those bounds with
 * absolute values.
 */
function gradientFloor(fx: Fixture, t: number): { fc1: number[]; fc2: number[]; bias: number[] } {
  const it = fx.iterations[t];
  const x = flat(fx.initial.x.data ?? fx.initial.x);
  const n = x.length / 6;
  const w1 = flat(it.layers.fc1.W_hat); // [5, 6]
  const w2 = flat(it.layers.fc2.W_hat); // [3, 5]
  const logits = flat(it.logits);
  const noise = new Array<number>(n * 3).fill(0);
  for (let r = 0; r < n; r++) {
    const row = logits.slice(3 * r, 3 * r + 3);
    const top = Math.max(...row);
    const sum = row.reduce((s, l) => s + Math.exp(l - top), 0);
    for (let k = 0; k < 3; k++) noise[3 * r + k] = (2 * SOFTMAX_ULPS * U * Math.exp(row[k]! - top)) / sum / n;
  }
  const fc1 = new Array<number>(30).fill(0);
  const fc2 = new Array<number>(15).fill(0);
  const bias = new Array<number>(3).fill(0);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < 5; j++) {
      let z = 0;
      for (let i = 0; i < 6; i++) z += x[6 * r + i]! * w1[6 * j + i]!;
      const a = Math.max(0, z);
      let back = 0;
      for (let k = 0; k < 3; k++) {
        fc2[5 * k + j] += a * noise[3 * r + k]!;
        back += Math.abs(w2[5 * k + j]!) * noise[3 * r + k]!;
      }
      if (z > 0) for (let i = 0; i < 6; i++) fc1[6 * j + i] += Math.abs(x[6 * r + i]!) * back;
    }
    for (let k = 0; k < 3; k++) bias[k] += noise[3 * r + k]!;
  }
  return { fc1, fc2, bias };
}

/**
 * How an extra error e_i of a weight tensor w moves W̃ = A(w) and the STE scale (dorefa:
 * (1 − tanh²w)/M with M = max|tanh w|, which is also cal; BWN: W̃ = w, scale a = mean|w|), to
 * first order: |d(1 − t²)/dw| = 2|t|(1 − t²), and M moves by at most the largest e of the elements
 * within e of the maximum.
 */
function elementwise(cfg: Fixture, w: number[], e: number[]): { wTilde: number[]; steScale: number[] } {
  if (String(cfg.quantizer.reference_name).toLowerCase() === 'bwn') return { wTilde: e, steScale: e.map(() => e.reduce((s, x) => s + x, 0) / e.length) };
  const t = w.map(Math.tanh);
  const M = Math.max(...t.map(Math.abs));
  // Only an element that can reach the maximum moves M.
  const maxE = Math.max(0, ...e.filter((ei, i) => Math.abs(t[i]!) + ei >= M));
  return {
    wTilde: t.map((ti, i) => ((1 - ti * ti) * e[i]!) / (2 * M) + (Math.abs(ti) * maxE) / (2 * M * M)),
    steScale: t.map((ti, i) => (2 * Math.abs(ti) * (1 - ti * ti) * e[i]!) / M + ((1 - ti * ti) * maxE) / (M * M)),
  };
}

/**
 * Per element, the part of the free-running tolerance that the noise floor implies, keyed like the
 * parity test's checks ('t=3 G fc1', 't=4 fc1 W_meta', 't=2 Adam m fc1.weight', …); quantities not
 * listed get none.
 */
export function propagatedNoise(fx: Fixture): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const cfg = fx.config;
  const bo = cfg.base_optimizer;
  const adam = bo.reference_name === 'Adam';
  const alpha = cfg.alpha_base_lr as number;
  const kind = cfg.meta_network.reference_name as string;
  const params = [...LAYERS.map((l) => ({ key: l.weight, size: l.inF * l.outF })), { key: 'fc2.bias', size: 3 }];
  const zeros = (size: number) => new Array<number>(size).fill(0);
  const moments = new Map(params.map((p) => [p.key, { m: zeros(p.size), v: zeros(p.size) }]));
  let extraW = new Map(params.map((p) => [p.key, zeros(p.size)]));
  let extraG = new Map(params.map((p) => [p.key, zeros(p.size)]));
  const floors = fx.iterations.map((_: unknown, t: number) => gradientFloor(fx, t));
  for (let t = 1; t < fx.iterations.length; t++) {
    const it = fx.iterations[t];
    const prevParams = fx.iterations[t - 1].base_params_after;
    // The look-ahead uses the previous G on the previous W; A, cal and δ are elementwise maps of W
    // and W_meta, so their extra error is that of their argument times their derivative's bound.
    for (const l of LAYERS) {
      const rec = it.layers[l.name];
      const eMeta = add(extraW.get(l.weight)!, extraG.get(l.weight)!, alpha);
      out.set(`t=${t} ${l.name} W_meta`, eMeta);
      const wMeta = elementwise(cfg, flat(rec.W_meta), eMeta);
      out.set(`t=${t} ${l.name} W_tilde`, wMeta.wTilde);
      out.set(`t=${t} ${l.name} delta`, flat(rec.g_hat).map((g, i) => Math.abs(g) * wMeta.steScale[i]!));
      out.set(`t=${t} ${l.name} calibration`, elementwise(cfg, flat(prevParams[l.weight]), extraW.get(l.weight)!).steScale);
    }
    out.set(`t=${t} fc2 b_meta`, add(extraW.get('fc2.bias')!, extraG.get('fc2.bias')!, alpha));
    // The noise of the optimizer's input: the meta-gradient is linear in g_Ŵ^{t−1} (no activation in
    // the traces), with gain |c| (FC-Grad, c = w2·w1) or the meta network's raw output (MultiFC, LSTMFC).
    const phi = t === 1 ? Object.fromEntries(Object.entries<Fixture>(fx.initial.meta_params).map(([k, v]) => [k, v.data])) : fx.iterations[t - 1].meta_params_after;
    const c = kind === 'FC-Grad' || kind === 'FCGrad' ? flat(phi['linear1.weight']).reduce((s, w, h) => s + w * flat(phi['linear2.weight'])[h]!, 0) : null;
    const inputNoise = new Map<string, number[]>();
    for (const l of LAYERS) {
      const rec = it.layers[l.name];
      const gain = c !== null ? zeros(l.inF * l.outF).map(() => Math.abs(c)) : flat(rec.meta_net_raw_output).map(Math.abs);
      const cal = flat(rec.calibration);
      inputNoise.set(l.weight, floors[t - 1]![l.name].map((f: number, i: number) => Math.abs(cal[i]!) * gain[i]! * f));
    }
    inputNoise.set('fc2.bias', floors[t]!.bias);
    const nextG = new Map<string, number[]>();
    for (const p of params) {
      const eta = inputNoise.get(p.key)!;
      if (!adam) {
        // SGD's direction is its input (momentum adds terms of the same absolute size, ~1e-8).
        nextG.set(p.key, eta);
        continue;
      }
      // Adam: m and v carry the input noise; π = k·m/(√v + ε) turns it into
      // k·(η_m/(√v + ε) + |m|·η_v/(2√v·(√v + ε)²)), large where √v is small (scale-free division).
      const [b1, b2] = bo.betas as [number, number];
      const state = it.refine_optimizer_state[p.key];
      const m = flat(state.exp_avg);
      const v = flat(state.exp_avg_sq);
      const g = add(flat(it.base_grad_assigned[p.key]), flat(prevParams[p.key]), bo.weight_decay);
      const mo = moments.get(p.key)!;
      mo.m = mo.m.map((e, i) => b1 * e + (1 - b1) * eta[i]!);
      mo.v = mo.v.map((e, i) => b2 * e + (1 - b2) * 2 * Math.abs(g[i]!) * eta[i]!);
      const k = Math.sqrt(1 - b2 ** state.step) / (1 - b1 ** state.step);
      nextG.set(
        p.key,
        m.map((mi, i) => {
          const root = Math.sqrt(v[i]!);
          return root === 0 ? 0 : k * (mo.m[i]! / (root + bo.eps) + (Math.abs(mi) * mo.v[i]!) / (2 * root * (root + bo.eps) ** 2));
        }),
      );
      out.set(`t=${t} Adam m ${p.key}`, mo.m);
      out.set(`t=${t} Adam v ${p.key}`, mo.v);
    }
    extraG = nextG;
    extraW = new Map(params.map((p) => [p.key, add(extraW.get(p.key)!, extraG.get(p.key)!, alpha)]));
    for (const l of LAYERS) {
      out.set(`t=${t} G ${l.name}`, extraG.get(l.weight)!);
      out.set(`t=${t} ${l.weight} after`, extraW.get(l.weight)!);
    }
    out.set(`t=${t} G fc2.bias`, extraG.get('fc2.bias')!);
    out.set(`t=${t} fc2.bias after`, extraW.get('fc2.bias')!);
  }
  return out;
}
