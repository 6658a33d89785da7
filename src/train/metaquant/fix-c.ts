import { tf } from '../../engine/tf.js';
import type { MetaNetwork } from '../../meta/types.js';
import { UsageError } from '../../util/errors.js';

/**
 * `--freeze-phi --fix-c VALUE`: a frozen φ whose output is set to the scale and sign VALUE, to
 * separate "training φ" from "the sign of c" (issue 17).
 *
 *  - FC-Grad and MultiFC without activation are c·g_Ŵ and c·g_Ŵ ⊙ W̃ with c the product of their
 *    weights (spec §5): the last weight tensor is multiplied by VALUE / c, so c = VALUE and the
 *    rest of φ keeps its random initial value.
 *  - LSTMFC has no scalar: its output layer is set to weight 0, bias VALUE, so
 *    M_φ = g_Ŵ^{t−1} ⊙ VALUE whatever the LSTM's state (the shape the LSTM would learn is removed;
 *    only the sign and scale remain).
 *  - FC variants with an activation have no such scalar: refused.
 */
export function applyFixedC(meta: MetaNetwork, options: { fixC?: number | null; freezePhi?: boolean }): void {
  if (options.fixC === undefined || options.fixC === null) return;
  if (!options.freezePhi) throw new UsageError('--fix-c needs --freeze-phi (a trained φ would move c away from the fixed value)');
  fixEffectiveScalar(meta, options.fixC);
}

export function fixEffectiveScalar(meta: MetaNetwork, value: number): void {
  if (!Number.isFinite(value) || value === 0) throw new UsageError(`--fix-c must be a finite non-zero number; got ${value}`);
  const c = meta.effectiveScalar();
  if (c !== null) {
    if (c === 0) throw new UsageError("--fix-c: the meta network's initial c is exactly 0, so it cannot be rescaled; use another --seed");
    const last = [...meta.params.values()].pop()!;
    last.assign(tf.tidy(() => tf.mul(last, value / c)));
    return;
  }
  const weight = meta.params.get('fc1.weight');
  const bias = meta.params.get('fc1.bias');
  if (meta.config.kind === 'lstm' && weight && bias) {
    weight.assign(tf.zerosLike(weight));
    bias.assign(tf.fill(bias.shape, value));
    return;
  }
  throw new UsageError(
    `--fix-c needs a meta network with a scalar c: fcgrad or multifc with --meta-activation none, or lstm; got ${meta.config.kind}` +
      (meta.config.activation !== 'none' ? ` with --meta-activation ${meta.config.activation}` : ''),
  );
}
