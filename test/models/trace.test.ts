// The traced graph runs each architecture on shapes only; it must agree with what the real forward
// computes, operation by operation, because summary and the tfjs/ONNX exports are built from it.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { QuantizedModel, type ModelConfig } from '../../src/models/model.js';
import { LayerOps, identityHooks } from '../../src/models/layers.js';
import { getArchitecture, registerArchitecture, MODEL_NAMES, type Architecture } from '../../src/models/architectures.js';
import { traceArchitecture, traceModel } from '../../src/models/trace.js';
import type { ConvOptions, DenseOptions, Padding } from '../../src/models/ops.js';
import { UsageError } from '../../src/util/errors.js';
import { registerTestArchitecture } from '../helpers/test-architecture.js';

before(() => useBackend('cpu'));

/** LayerOps that also writes down each operation and the shape of the tensor it returned. */
class RecordingOps extends LayerOps {
  readonly seen: Array<{ op: string; shape: number[] }> = [];
  private note(op: string, y: Tensor): Tensor {
    this.seen.push({ op, shape: y.shape.slice(1) });
    return y;
  }
  override dense(layer: string, x: Tensor, units: number, opts?: DenseOptions): Tensor {
    return this.note('dense', super.dense(layer, x, units, opts));
  }
  override conv2d(layer: string, x: Tensor, filters: number, kernelSize: number, opts?: ConvOptions): Tensor {
    return this.note('conv2d', super.conv2d(layer, x, filters, kernelSize, opts));
  }
  override batchNorm(layer: string, x: Tensor): Tensor {
    return this.note('batchNorm', super.batchNorm(layer, x));
  }
  override relu(x: Tensor): Tensor {
    return this.note('relu', super.relu(x));
  }
  override maxPool(x: Tensor, size: number, stride: number, padding: Padding): Tensor {
    return this.note('maxPool', super.maxPool(x, size, stride, padding));
  }
  override flatten(x: Tensor): Tensor {
    return this.note('flatten', super.flatten(x));
  }
  override add(a: Tensor, b: Tensor): Tensor {
    return this.note('add', super.add(a, b));
  }
  override globalAvgPool(x: Tensor): Tensor {
    return this.note('globalAvgPool', super.globalAvgPool(x));
  }
}

function config(arch: string, inputShape: [number, number, number], archOptions = {}): ModelConfig {
  return { arch, inputShape, numClasses: 7, archOptions, quantizer: null, seed: 3 };
}

const CASES: ModelConfig[] = [
  config('mlp', [5, 3, 2]),
  config('mlp', [4, 4, 1], { hidden: [9, 7, 5], batchNorm: false }),
  config('lenet5', [9, 7, 2]),
  config('lenet5', [28, 28, 1]),
  config('resnet20', [9, 7, 3]),
  config('resnet32', [8, 8, 3]),
  config(registerTestArchitecture(), [13, 11, 2]),
  config(registerTestArchitecture(), [16, 16, 1]),
];

for (const c of CASES) {
  test(`the trace lists the real forward's operations and shapes: ${c.arch} ${c.inputShape.join('x')}`, () => {
    const model = new QuantizedModel(c);
    const ops = new RecordingOps(model.params, identityHooks, false, null);
    const logits = tf.tidy(() => getArchitecture(c.arch).forward(ops, tf.zeros([2, ...c.inputShape]), c.numClasses, c.archOptions ?? {}));
    const graph = traceModel(model);
    assert.deepEqual(graph.nodes.slice(1).map((n) => ({ op: n.op, shape: n.outputShape })), ops.seen);
    assert.equal(graph.nodes[0]!.op, 'input');
    assert.deepEqual(graph.nodes[0]!.outputShape, c.inputShape);
    assert.deepEqual(graph.nodes[graph.output]!.outputShape, logits.shape.slice(1));
    // Every parameter the model built is read by exactly the node of its layer.
    const read = graph.nodes.flatMap((n) => ('kernel' in n ? [n.kernel, ...(n.bias ? [n.bias] : [])] : 'gamma' in n ? [n.gamma, n.beta, n.movingMean, n.movingVariance] : []));
    assert.deepEqual([...read].sort(), model.params.names().sort());
    logits.dispose();
    model.dispose();
  });
}

test('traceModel refuses a model whose parameters are not what its architecture reads', () => {
  const model = new QuantizedModel(config('mlp', [2, 2, 1], { hidden: [4] }));
  const lying = { config: { ...model.config, archOptions: { hidden: [5] } }, params: model.params } as QuantizedModel;
  assert.throws(() => traceModel(lying), /parameter 'fc1\/kernel' has shape \[4,4\] but the traced graph reads \[4,5\]/);
  const extra = { config: { ...model.config, archOptions: { hidden: [4], batchNorm: false } }, params: model.params } as QuantizedModel;
  assert.throws(() => traceModel(extra), /parameter 'bn1\/gamma' is not read by the traced graph/);
  model.dispose();
});

test('tracing needs no tensors and reports shapes an architecture cannot take', () => {
  const before = tf.memory().numTensors;
  const graph = traceArchitecture({ arch: 'resnet56', inputShape: [32, 32, 3], numClasses: 100 });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(graph.nodes[graph.output]!.outputShape, [100]);
  assert.equal(graph.nodes.filter((n) => n.op === 'conv2d').length, 55 + 2);
  // 3×3 'valid' convolution with stride 2 on a 2×2 image leaves no output pixels.
  assert.throws(() => traceArchitecture({ arch: registerTestArchitecture(), inputShape: [2, 2, 1], numClasses: 2 }), /cannot trace the model: conv2d would produce the shape \[0,0,6\]/);
});

test('architectures register once, by name, and then count as models', () => {
  const name = registerTestArchitecture();
  assert.ok(MODEL_NAMES.includes(name));
  const clash: Architecture = { ...getArchitecture('mlp') };
  assert.throws(() => registerArchitecture(clash), (err: unknown) => err instanceof UsageError && /architecture 'mlp' is already registered/.test(err.message));
  assert.throws(() => getArchitecture('vgg'), new RegExp(`unknown model 'vgg'; expected one of: mlp, lenet5, .*${name}`));
  assert.throws(() => getArchitecture('constructor'), /unknown model 'constructor'/);
});
