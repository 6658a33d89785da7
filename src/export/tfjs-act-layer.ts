// The one custom tf.layers layer of `--format tfjs`: activation quantization, which stock Keras
// layers cannot express (none rounds). A program loading an activation-quantized export registers
// it first with its own TensorFlow.js:
//     import * as tf from '@tensorflow/tfjs';
//     import { registerActQuantLayer } from 'metaquant';
//     registerActQuantLayer(tf);
//     const model = await tf.loadLayersModel('file://…/model.json');
// Only tfjs types are imported here, so the layer runs on whichever tfjs instance it is given.
import type * as TfModule from '@tensorflow/tfjs';
import type { ActDeployment } from '../quantizers/activation-types.js';

/** The class name model.json records for the layer. */
export const ACT_QUANT_CLASS = 'MetaquantActQuant';

type Tf = typeof TfModule;
export type ActQuantLayerArgs = ActDeployment & { name?: string };

const defined = new WeakMap<object, new (args: ActQuantLayerArgs) => TfModule.layers.Layer>();

/**
 * Defines and registers (once per tfjs instance) the layer computing ActDeployment:
 * sign → +1 where x ≥ 0 else −1; uniform → step·clamp(round(x/step), 0, maxCode), round half to even.
 */
export function registerActQuantLayer(lib: Tf): new (args: ActQuantLayerArgs) => TfModule.layers.Layer {
  const known = defined.get(lib);
  if (known) return known;
  class ActQuant extends lib.layers.Layer {
    static className = ACT_QUANT_CLASS;
    private readonly form: ActDeployment;

    constructor(args: ActQuantLayerArgs) {
      super(args.name === undefined ? {} : { name: args.name });
      this.form = args.kind === 'sign' ? { kind: 'sign' } : { kind: 'uniform', step: args.step, maxCode: args.maxCode };
    }

    override call(inputs: TfModule.Tensor | TfModule.Tensor[]): TfModule.Tensor {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const f = this.form;
      return lib.tidy(() => {
        if (f.kind === 'sign') return lib.where(lib.greaterEqual(x, 0), lib.onesLike(x), lib.onesLike(x).neg());
        return lib.mul(lib.clipByValue(lib.round(lib.div(x, f.step)), 0, f.maxCode), f.step);
      });
    }

    override computeOutputShape(shape: TfModule.Shape | TfModule.Shape[]): TfModule.Shape | TfModule.Shape[] {
      return shape;
    }

    override getConfig(): TfModule.serialization.ConfigDict {
      return { ...super.getConfig(), ...this.form };
    }
  }
  lib.serialization.registerClass(ActQuant);
  defined.set(lib, ActQuant);
  return ActQuant;
}
