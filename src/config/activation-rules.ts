// The rules that tie the activation-quantization options (issue 16) to the rest of a config.
import { actQuantizerTakesBits } from '../quantizers/act-registry.js';
import { LSQ_METAQUANT_REASON } from '../quantizers/lsq.js';
import { UsageError } from '../util/errors.js';

/** Architectures whose hidden activation --hidden-activation chooses. */
const ACTIVATION_ARCHS = ['mlp', 'lenet5'];

interface ActivationFields {
  method: string;
  model: string;
  quantizer: string;
  actQuantizer?: string;
  actBits?: number;
  hiddenActivation?: string;
}

export function checkActivationOptions(c: ActivationFields): void {
  if (c.method === 'metaquant' && c.quantizer === 'lsq') {
    throw new UsageError(`--method metaquant cannot train --quantizer lsq: ${LSQ_METAQUANT_REASON}. Use --method ste with lsq weights, or MetaQuant with dorefa/bwn/sign weights (any --act-quantizer, lsq included).`);
  }
  const act = c.actQuantizer ?? 'none';
  if (c.actBits !== undefined && (act === 'none' || !actQuantizerTakesBits(act))) {
    throw new UsageError(`--act-bits applies to --act-quantizer dorefa, pact or lsq; got --act-quantizer ${act}`);
  }
  if (c.hiddenActivation !== undefined && !ACTIVATION_ARCHS.includes(c.model)) {
    throw new UsageError(`--hidden-activation applies to ${ACTIVATION_ARCHS.join(' and ')}; ${c.model} always uses relu`);
  }
  if (act === 'sign' && (c.hiddenActivation ?? 'relu') === 'relu') {
    throw new UsageError(
      "--act-quantizer sign after ReLU sees only x >= 0, so every activation would be +1; add --hidden-activation identity (Larq's BNN: dense -> batch norm -> sign)",
    );
  }
}
