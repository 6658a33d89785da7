// An architecture that exists only in the tests, written once with the same ops as the built-ins
// and registered at run time. It uses what the built-ins do not: 'valid' padding, a strided
// convolution with bias, an overlapping 3×3/2 max pool, and two heads (flatten → dense and
// global average pool → dense) joined by an add on flat values.
import { registerArchitecture, hasArchitecture, type Architecture } from '../../src/models/architectures.js';

export const TEST_ARCHITECTURE: Architecture = {
  name: 'test-two-heads',
  describe: 'test only: conv3x3/2 valid (bias) → ReLU → [conv3x3 → BN] + skip → ReLU → maxpool3/2 valid → flatten·dense + avgpool·dense → dense',
  forward(ops, x, numClasses) {
    // No batch norm after the biased conv: it would cancel the bias's gradient.
    let h = ops.relu(ops.conv2d('stem/conv', x, 6, 3, { stride: 2, padding: 'valid', bias: true }));
    const residual = ops.batchNorm('res/bn', ops.conv2d('res/conv', h, 6, 3));
    h = ops.relu(ops.add(residual, h));
    h = ops.maxPool(h, 3, 2, 'valid');
    const wide = ops.dense('head/flat', ops.flatten(h), 8, { bias: false });
    const pooled = ops.dense('head/pooled', ops.globalAvgPool(h), 8);
    h = ops.relu(ops.batchNorm('head/bn', ops.add(wide, pooled)));
    return ops.dense('logits', h, numClasses);
  },
};

/** Registers TEST_ARCHITECTURE once per process. */
export function registerTestArchitecture(): string {
  if (!hasArchitecture(TEST_ARCHITECTURE.name)) registerArchitecture(TEST_ARCHITECTURE);
  return TEST_ARCHITECTURE.name;
}
