// An activation quantizer's stock-op form from its config and learned scalar, without tfjs (the
// tfjs builder, which runs in the browser, and the ONNX and packed exports use it; the quantizer
// classes delegate here so that training and every export use the same float32 step).
import { UsageError, unknownChoice } from '../util/errors.js';
import type { ActDeployment, ActQuantizerConfig } from './activation-types.js';

function positive(name: string, what: string, value: number | undefined): number {
  if (value === undefined || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`activation quantizer '${name}': its ${what} must be a positive finite number, got ${String(value)}`);
  }
  return value;
}

export function actDeploymentOf(config: ActQuantizerConfig, scale?: number): ActDeployment {
  const bits = config.bits ?? 1;
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new UsageError(`activation quantizer '${config.name}': bits must be 1..8, got ${String(bits)}`);
  const maxCode = 2 ** bits - 1;
  switch (config.name) {
    case 'sign':
      return { kind: 'sign' };
    case 'dorefa':
      return { kind: 'uniform', step: Math.fround(1 / maxCode), maxCode };
    case 'pact':
      return { kind: 'uniform', step: Math.fround(Math.fround(positive('pact', 'clip alpha', scale)) / maxCode), maxCode };
    case 'lsq':
      return { kind: 'uniform', step: Math.fround(positive('lsq', 'step', scale)), maxCode };
    default:
      throw unknownChoice('exportable activation quantizer', config.name, ['sign', 'dorefa', 'pact', 'lsq']);
  }
}
