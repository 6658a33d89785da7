import { tf, type Tensor } from '../../engine/tf.js';
import type { WeightQuantizer } from '../../quantizers/types.js';
import type { MeanAccumulator } from '../diagnostics.js';
import { phiValues, withPhi } from '../../meta/phi-values.js';
import { Rng, type RngState } from '../../util/rng.js';
import { UsageError } from '../../util/errors.js';
import { zerothOrderGradient } from '../zeroth-order.js';
import { metaPass, type KernelLayout, type MetaCall } from './meta-pass.js';
import type { MetaQuantOptions } from './options.js';
import type { ForwardRecord, KernelWeight } from './forward.js';
import { steRegressionGradient } from './regression.js';

/** What an iteration tells its φ-path. */
export interface PhiPathContext {
  alpha: number;
  layout: KernelLayout;
  quantizer: WeightQuantizer;
  /** M_φ at last iteration's inputs. */
  call: MetaCall;
  /** cal(W) per kernel. */
  calibration: Map<string, Tensor>;
  diag: MeanAccumulator;
}

/** Before any weight moves: the loss as a function of the kernels' pre-quantization weights. */
export interface EarlyContext extends PhiPathContext {
  /** The weight kernel k's forward uses when the meta output is m (its value at m(φ₀) is the forward's). */
  weightAt: KernelWeight;
  /** The batch's loss with these kernel tensors (the iteration's bias look-ahead; batch-norm statistics untouched). */
  loss(kernel: KernelWeight): number;
}

/** After the backward. */
export interface LateContext extends PhiPathContext {
  forward: ForwardRecord;
}

/**
 * How φ gets its gradient (spec §7, §8): a strategy the iteration asks twice. `early` runs once m(φ₀)
 * is known and before any weight moves (the zeroth-order path, whose objective is the loss of the
 * weights the forward is about to use); `late` after the backward (the STE path and Eq. 8, both a
 * VJP of M_φ). Each returns φ's gradient (the caller owns it) or null.
 */
export interface PhiGradientStrategy {
  /** Whether `late` reads W_meta after the pass (so the forward keeps a copy). */
  readonly readsWMeta: boolean;
  early(ctx: EarlyContext): Map<string, Tensor> | null;
  late(ctx: LateContext): Map<string, Tensor> | null;
  /** Checkpoint state (the zeroth-order perturbation stream). */
  getState(): RngState | undefined;
  setState(state: RngState | undefined): void;
}

const stateless = { getState: () => undefined, setState: () => undefined };

/**
 * The reference (spec §6): W_meta = W − α·(cal⊙m + stopgrad(G − cal⊙m)) reaches φ only through
 * −α·cal⊙m, crossing Q with STE, so φ's gradient is the VJP of M_φ with cotangent −α·cal ⊙ δ.
 */
const stePath: PhiGradientStrategy = {
  readsWMeta: false,
  ...stateless,
  early: () => null,
  late: ({ alpha, layout, calibration, call, forward }) => {
    const u = layout.flatten((k) => tf.mul(tf.mul(calibration.get(k)!, forward.grads.get(k)!), -alpha));
    const grads = call.vjp(u);
    u.dispose();
    return grads;
  },
};

/**
 * Eq. 8 (spec §7): the meta network's own output at this iteration's inputs, M_t = M_φ(g_Ŵ^t, W̃^t)
 * from the LSTM state this call produces, replaces ∂L/∂W̃, so the cotangent is
 * −α·cal ⊙ M_t ⊙ A′(W_meta).
 */
const eq8Path: PhiGradientStrategy = {
  readsWMeta: true,
  ...stateless,
  early: () => null,
  late: ({ alpha, layout, quantizer, calibration, call, forward }) => {
    const now = { gHat: layout.flatten((k) => forward.captures.get(k)!.gHat!), wTilde: layout.flatten((k) => forward.captures.get(k)!.wTilde!) };
    const mNow = metaPass(call.meta, now, call.values().state, null);
    if (mNow.state) tf.dispose([mNow.state.h, mNow.state.c]);
    const mt = layout.split(mNow.metaGrad);
    const u = layout.flatten((k) => {
      const aPrime = quantizer.preQuantizeDerivative(forward.wMetas.get(k)!);
      return tf.mul(tf.mul(calibration.get(k)!, tf.mul(mt.get(k)!, aPrime)), -alpha);
    });
    tf.dispose([now.gHat, now.wTilde, mNow.metaGrad, ...mt.values()]);
    const grads = call.vjp(u);
    u.dispose();
    return grads;
  },
};

/** --phi-objective ste-regression and the --meta-warmup: φ fitted to the STE gradient (regression.ts). */
export const steRegressionPath: PhiGradientStrategy = { readsWMeta: false, ...stateless, early: () => null, late: steRegressionGradient };

/** --freeze-phi / --detach-phi: nothing trains φ. */
const noPath: PhiGradientStrategy = { readsWMeta: false, ...stateless, early: () => null, late: () => null };

/**
 * φ's gradient from loss differences of the real quantized network (SPSA or antithetic ES,
 * zeroth-order.ts): J(φ) = L(Q(A(weightAt(k, m_φ)))) on this batch, m_φ the meta network's
 * output at last iteration's inputs with φ in place of the current parameters. Nothing is
 * differentiated; φ is restored after each evaluation.
 */
class ZerothOrderPath implements PhiGradientStrategy {
  readonly readsWMeta = false;
  private rng: Rng;

  constructor(private readonly zo: NonNullable<MetaQuantOptions['zerothOrder']>) {
    this.rng = new Rng(`zeroth-order:${zo.seed}`);
  }

  early({ layout, quantizer, call, diag, weightAt, loss }: EarlyContext): Map<string, Tensor> {
    const params = call.meta.params;
    call.values(); // m(φ₀), which weightAt may read, is evaluated before φ moves
    const objective = (phi: Map<string, Float32Array>) =>
      withPhi(params, phi, () => {
        const pass = metaPass(call.meta, call.inputs, call.state, null);
        if (pass.state) tf.dispose([pass.state.h, pass.state.c]);
        const m = layout.split(pass.metaGrad);
        pass.metaGrad.dispose();
        const value = tf.tidy(() => loss((k) => quantizer.quantize(weightAt(k, m.get(k)!))));
        tf.dispose([...m.values()]);
        return value;
      });
    const estimate = zerothOrderGradient(phiValues(params), objective, this.zo, this.rng);
    diag.add('zoZeroFraction', estimate.zeroFraction);
    diag.add('zoMeanAbsDiff', estimate.meanAbsDifference);
    return new Map([...estimate.grads].map(([k, g]) => [k, tf.keep(tf.tensor(g, params.get(k)!.shape))]));
  }

  late(): null {
    return null;
  }

  getState(): RngState {
    return this.rng.state();
  }

  setState(state: RngState | undefined): void {
    if (state) this.rng = new Rng(0, state);
  }
}

/**
 * The φ-gradient strategy of the chosen objective after any warm-up: the base loss through
 * `--phi-path`, or the STE regression (regression.ts), which crosses no quantizer and therefore
 * only goes with the default φ-path.
 */
export function createPhiPath(options: MetaQuantOptions): PhiGradientStrategy {
  checkPhiObjective(options);
  if ((options.phiObjective ?? 'base') === 'ste-regression') return options.freezePhi || options.detachPhi ? noPath : steRegressionPath;
  if (options.phiPath === 'zeroth-order') {
    const zo = options.zerothOrder;
    if (!zo) throw new UsageError("--phi-path zeroth-order needs the estimator's options (method, samples, scale, seed)");
    if (!(Number.isInteger(zo.samples) && zo.samples >= 1)) throw new UsageError(`--zo-samples must be a positive integer; got ${zo.samples}`);
    if (!(zo.scale > 0 && Number.isFinite(zo.scale))) throw new UsageError(`--zo-scale must be a positive number; got ${zo.scale}`);
    if (options.freezePhi || options.detachPhi) return { ...noPath, ...zerothOrderStateOnly(zo.seed) };
    return new ZerothOrderPath(zo);
  }
  if (options.freezePhi || options.detachPhi) return noPath;
  return options.phiPath === 'ste' ? stePath : eq8Path;
}

/**
 * Runs `use` with code mode's W_meta as a function of the meta output m, the first-order stand-in
 * the reference's STE path differentiates: value(k) − α·cal ⊙ (m − m(φ₀)), whose value at m(φ₀) is
 * the forward's W − α·G. Its pieces are built on first use and disposed afterwards; m(φ₀) is
 * `call.values()`, so evaluate that before φ moves.
 */
export function withLinearLookahead<T>(call: MetaCall, layout: KernelLayout, calibration: Map<string, Tensor>, alpha: number, value: (k: string) => Tensor, use: (weightAt: KernelWeight) => T): T {
  const built: { m0?: Map<string, Tensor>; values: Map<string, Tensor> } = { values: new Map() };
  try {
    return use((k, m) => {
      const m0 = (built.m0 ??= layout.split(call.values().metaGrad));
      if (!built.values.has(k)) built.values.set(k, tf.keep(value(k)));
      return tf.sub(built.values.get(k)!, tf.mul(tf.mul(calibration.get(k)!, tf.sub(m, m0.get(k)!)), alpha));
    });
  } finally {
    tf.dispose([...(built.m0?.values() ?? []), ...built.values.values()]);
  }
}

/** Refuses combinations of --phi-objective, --meta-warmup and the φ ablations that mean nothing. */
function checkPhiObjective(options: MetaQuantOptions): void {
  const warmup = options.metaWarmup ?? 0;
  if (!(Number.isInteger(warmup) && warmup >= 0)) throw new UsageError(`--meta-warmup must be a whole number of steps (0 = none); got ${warmup}`);
  if ((options.phiObjective ?? 'base') === 'ste-regression' && options.phiPath !== 'ste') {
    throw new UsageError(`--phi-objective ste-regression fits M_φ to the STE gradient and crosses no quantizer; it takes no --phi-path (got ${options.phiPath}, expected ste)`);
  }
  if (warmup > 0 && (options.freezePhi || options.detachPhi)) throw new UsageError('--meta-warmup trains φ by regression; it cannot be combined with --freeze-phi or --detach-phi');
  if (warmup > 0 && options.mode !== 'code') throw new UsageError('--meta-warmup needs --mq-mode code (the warm-up moves W by STE, which paper mode cannot: its weights move before the backward)');
}

/** A frozen/detached zeroth-order run still checkpoints its (unused) perturbation stream, as before. */
function zerothOrderStateOnly(seed: number): Pick<PhiGradientStrategy, 'getState' | 'setState'> {
  let rng = new Rng(`zeroth-order:${seed}`);
  return {
    getState: () => rng.state(),
    setState: (state) => {
      if (state) rng = new Rng(0, state);
    },
  };
}
