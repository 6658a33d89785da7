// A test-only quantizer and meta network, registered the way a user's plugin would be: import this
// module (`node --import …/test-plugins.js dist/src/cli/main.js train …`) and the CLI accepts them.
// Each factory says on stderr that it was used.
import { tf, type Tensor } from '../../src/engine/tf.js';
import { registerQuantizer, registeredQuantizerNames, SignQuantizer, type QuantizerForward } from '../../src/quantizers/index.js';
import { FcGradMeta, registerMetaNetwork, registeredMetaKinds } from '../../src/meta/index.js';

/** Sign with Ŵ ∈ {−½, +½}, so its use is visible in a trained model's quantized weights. */
export class HalfSign extends SignQuantizer {
  override readonly name = 'test-half-sign';
  protected override forward(w: Tensor): QuantizerForward {
    const f = super.forward(w);
    return { ...f, wHat: tf.mul(f.wHat, 0.5) };
  }
}

if (!registeredQuantizerNames().includes('test-half-sign')) {
  registerQuantizer('test-half-sign', (config) => {
    process.stderr.write('test-plugins: built test-half-sign\n');
    return new HalfSign(config);
  });
}
if (!registeredMetaKinds().includes('test-fcgrad')) {
  registerMetaNetwork('test-fcgrad', (config) => {
    process.stderr.write('test-plugins: built test-fcgrad\n');
    return new FcGradMeta(config);
  });
}
