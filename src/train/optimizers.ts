import { tf, type Tensor } from '../engine/tf.js';
import { unknownChoice } from '../util/errors.js';
import { disposeMap, loadTensorMap, replaceKept, saveTensorMap, type SavedTensor } from './tensor-state.js';
import { OPTIMIZERS, type OptimizerName } from '../config/choices.js';

/** The choices live with the config (config/choices.ts), below the training code. */
export { OPTIMIZERS, type OptimizerName };

export interface OptimizerConfig {
  name: OptimizerName;
  /** SGD momentum μ (0 = plain SGD, the method's setting). */
  momentum?: number;
  nesterov?: boolean;
  /** L2 weight decay folded into the gradient before the direction is formed. */
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export interface OptimizerState {
  steps: Record<string, number>;
  slots: Record<string, Record<string, SavedTensor>>;
}

/**
 * A base-network optimizer split into its direction π(g) and the update p ← p − lr·π(g), because
 * MetaQuant's look-ahead reuses the last applied direction (spec §6, step 5).
 *
 * SGD (PyTorch semantics): g ← g + λp; buf ← g at the first step, then μ·buf + g;
 * π = buf, or g + μ·buf with Nesterov; π = g when μ = 0.
 * Adam (the reference's refinement form, eps outside the bias correction):
 * g ← g + λp; m ← β1m + (1−β1)g; v ← β2v + (1−β2)g²; π = √(1−β2^s)/(1−β1^s) · m/(√v + ε).
 */
export class BaseOptimizer {
  readonly config: Required<OptimizerConfig>;
  private readonly steps = new Map<string, number>();
  private readonly slots = new Map<string, Map<string, Tensor>>();

  constructor(config: OptimizerConfig) {
    if (!OPTIMIZERS.includes(config.name)) throw unknownChoice('optimizer', config.name, OPTIMIZERS);
    this.config = {
      name: config.name,
      momentum: config.momentum ?? 0,
      nesterov: config.nesterov ?? false,
      weightDecay: config.weightDecay ?? 0,
      beta1: config.beta1 ?? 0.9,
      beta2: config.beta2 ?? 0.999,
      epsilon: config.epsilon ?? 1e-8,
    };
  }

  private slot(kind: string): Map<string, Tensor> {
    let s = this.slots.get(kind);
    if (!s) this.slots.set(kind, (s = new Map()));
    return s;
  }

  /** π(g) for one parameter; advances that parameter's state. The result is a new tensor. */
  direction(name: string, param: Tensor, grad: Tensor): Tensor {
    return this.computeDirection(name, param, grad, true);
  }

  /** π(g) as `direction` would return it now, leaving the state untouched (for look-ahead probes). */
  peekDirection(name: string, param: Tensor, grad: Tensor): Tensor {
    return this.computeDirection(name, param, grad, false);
  }

  private computeDirection(name: string, param: Tensor, grad: Tensor, commit: boolean): Tensor {
    const c = this.config;
    const step = (this.steps.get(name) ?? 0) + 1;
    if (commit) this.steps.set(name, step);
    return tf.tidy(() => {
      const g = c.weightDecay !== 0 ? tf.add(grad, tf.mul(param, c.weightDecay)) : grad;
      if (c.name === 'sgd') {
        if (c.momentum === 0) return g.clone();
        const bufs = this.slot('momentum');
        const prev = bufs.get(name);
        const buf = prev ? tf.add(tf.mul(prev, c.momentum), g) : g.clone();
        if (commit) replaceKept(bufs, name, buf);
        return c.nesterov ? tf.add(g, tf.mul(buf, c.momentum)) : buf.clone();
      }
      const ms = this.slot('m');
      const vs = this.slot('v');
      const m = tf.add(tf.mul(ms.get(name) ?? tf.zerosLike(g), c.beta1), tf.mul(g, 1 - c.beta1));
      const v = tf.add(tf.mul(vs.get(name) ?? tf.zerosLike(g), c.beta2), tf.mul(tf.square(g), 1 - c.beta2));
      if (commit) {
        replaceKept(ms, name, m);
        replaceKept(vs, name, v);
      }
      const stepSize = Math.sqrt(1 - c.beta2 ** step) / (1 - c.beta1 ** step);
      return tf.mul(tf.div(m, tf.add(tf.sqrt(v), c.epsilon)), stepSize);
    });
  }

  /**
   * π as the reference's SGD-M refinement forms it inside MetaQuant's loop (spec §6 step 5): it
   * ends with `.grad = buf`, so from a parameter's second step on the backward writes this step's
   * own gradient `raw` into the buffer before the refinement reads it. A parameter whose gradient
   * was then replaced by g (MetaQuant's kernels: g = cal ⊙ m) gets π = μ·raw + g + λp; one whose
   * `.grad` still is the buffer (pass raw = null; g is that raw gradient) gets π = 2μ·(g + λp),
   * since the buffer and the direction are the same storage. The first step is textbook (π = g + λp).
   * SGD with momentum only; the state is the ordinary step counter and momentum slot.
   */
  aliasedMomentumDirection(name: string, param: Tensor, grad: Tensor, raw: Tensor | null): Tensor {
    const c = this.config;
    if (c.name !== 'sgd' || c.momentum === 0 || c.nesterov) throw new Error('internal: aliased momentum needs SGD with momentum, without Nesterov');
    if ((this.steps.get(name) ?? 0) === 0) return this.direction(name, param, grad);
    this.steps.set(name, this.steps.get(name)! + 1);
    const pi = tf.tidy(() => {
      const g = tf.add(grad, tf.mul(param, c.weightDecay));
      return raw ? tf.add(tf.mul(raw, c.momentum), g) : tf.mul(g, 2 * c.momentum);
    });
    replaceKept(this.slot('momentum'), name, pi.clone());
    return pi;
  }

  /**
   * p ← p − lr·π(g) for every parameter in `grads`; returns the directions (kept: the caller
   * owns and disposes them). With `aliasedRaw`, π is `aliasedMomentumDirection` with the raw
   * gradients it holds (parameters it lacks still alias the buffer).
   */
  apply(params: (name: string) => tf.Variable, grads: Map<string, Tensor>, lr: number, aliasedRaw?: Map<string, Tensor>): Map<string, Tensor> {
    const directions = new Map<string, Tensor>();
    for (const [name, g] of grads) {
      const p = params(name);
      const d = tf.keep(aliasedRaw ? this.aliasedMomentumDirection(name, p, g, aliasedRaw.get(name) ?? null) : this.direction(name, p, g));
      tf.tidy(() => p.assign(tf.sub(p, tf.mul(d, lr))));
      directions.set(name, d);
    }
    return directions;
  }

  getState(): OptimizerState {
    const slots: OptimizerState['slots'] = {};
    for (const [k, m] of this.slots) slots[k] = saveTensorMap(m);
    return { steps: Object.fromEntries(this.steps), slots };
  }

  setState(state: OptimizerState): void {
    this.dispose();
    for (const [k, v] of Object.entries(state.steps)) this.steps.set(k, v);
    for (const [k, m] of Object.entries(state.slots)) this.slots.set(k, loadTensorMap(m));
  }

  dispose(): void {
    for (const m of this.slots.values()) disposeMap(m);
    this.slots.clear();
    this.steps.clear();
  }
}

/**
 * torch.optim.Adam as used for the meta network (eps inside the bias-corrected denominator):
 * p ← p − (lr/(1−β1^s)) · m/(√v/√(1−β2^s) + ε).
 */
export class TorchAdam {
  private readonly state = new Map<string, { step: number; m: Tensor; v: Tensor }>();
  /**
   * Sees every gradient map `step` receives, before it is applied (tests and gradcheck read the
   * φ-gradient MetaQuant applies here, where nothing can change it afterwards). The tensors are
   * the caller's: copy what you need, keep none.
   */
  onGradients: ((grads: ReadonlyMap<string, Tensor>) => void) | null = null;
  constructor(
    public lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {}

  step(params: Map<string, tf.Variable>, grads: Map<string, Tensor>): void {
    this.onGradients?.(grads);
    for (const [name, g] of grads) {
      const p = params.get(name)!;
      const prev = this.state.get(name);
      const step = (prev?.step ?? 0) + 1;
      const [m, v] = tf.tidy(() => {
        const m = tf.add(tf.mul(prev?.m ?? tf.zerosLike(g), this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(prev?.v ?? tf.zerosLike(g), this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(1 - this.beta2 ** step)), this.epsilon);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), this.lr / (1 - this.beta1 ** step))));
        return [tf.keep(m), tf.keep(v)];
      });
      prev?.m.dispose();
      prev?.v.dispose();
      this.state.set(name, { step, m: m!, v: v! });
    }
  }

  stateOf(name: string): { step: number; m: Tensor; v: Tensor } | undefined {
    return this.state.get(name);
  }

  getState(): Record<string, { step: number; m: SavedTensor; v: SavedTensor }> {
    const out: Record<string, { step: number; m: SavedTensor; v: SavedTensor }> = {};
    for (const [k, s] of this.state) out[k] = { step: s.step, ...saveTensorMap(new Map([['m', s.m], ['v', s.v]])) } as never;
    return out;
  }

  setState(s: Record<string, { step: number; m: SavedTensor; v: SavedTensor }>): void {
    this.dispose();
    for (const [k, v] of Object.entries(s)) {
      const t = loadTensorMap({ m: v.m, v: v.v });
      this.state.set(k, { step: v.step, m: t.get('m')!, v: t.get('v')! });
    }
  }

  dispose(): void {
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
  }
}
