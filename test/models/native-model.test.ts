// The whole-model native op (src/models/native) against tfjs's cpu backend running the
// same model op by op: loss, every gradient (through the quantizer's custom gradient, which the
// hooks apply outside the op), the batch-norm running statistics a training forward writes, and
// inference logits. Odd image sizes exercise 'same' padding, strided-convolution cropping and
// padded max pooling. Tolerance: 1e-4 · max |cpu| per tensor; float32 sums in a different order
// (blocked GEMMs, per-channel reductions) differ by ~1e-6 relative (observed ≤ 1e-5 through
// twenty layers). Skipped where onnxruntime-node cannot load.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tf } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { ortAvailable, ortLoadError } from '../../src/engine/native/ort.js';
import { nativeModelStats, setNativeModel, setNativeModelMinMacs } from '../../src/models/native/native-model.js';
import { nchwcBlockSize } from '../../src/engine/native/graph/nchwc.js';
import { QuantizedModel, type ModelConfig } from '../../src/models/model.js';
import { lossAndGradients } from '../../src/train/loss.js';
import { MetaQuantStep } from '../../src/train/metaquant/step.js';
import { BaseOptimizer } from '../../src/train/optimizers.js';
import { createMetaNetwork } from '../../src/meta/registry.js';

const TOLERANCE = 1e-4;

function assertClose(label: string, expected: ArrayLike<number>, actual: ArrayLike<number>): void {
  assert.equal(actual.length, expected.length, `${label}: size`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    worst = Math.max(worst, Math.abs(expected[i]! - actual[i]!));
  }
  assert.ok(worst <= TOLERANCE * Math.max(scale, 1e-6), `${label}: max |native − cpu| = ${worst} vs max |cpu| = ${scale}`);
}

interface Outcome {
  loss: number;
  grads: Map<string, Float32Array>;
  statistics: Map<string, Float32Array>;
  logits: Float32Array;
  nativeRuns: number;
}

/** One training forward + backward and one inference forward of a fresh model on `backend`. */
async function run(backend: 'cpu' | 'wasm', config: ModelConfig, batch: number): Promise<Outcome> {
  await useBackend(backend);
  const before = nativeModelStats().runs;
  const model = new QuantizedModel(config);
  // β ≠ 0 keeps ReLU inputs off exactly 0, where the two paths may round x − μ to ±0 and pick
  // different one-sided derivatives (dead channels of small quantized nets at β = 0 do this).
  for (const name of model.params.names((p) => p.role === 'bn-beta')) model.params.get(name).assign(tf.fill([model.params.info(name).shape[0]!], 0.0123));
  const vars = new Map(model.params.trainableNames().map((n) => [n, model.params.get(n)]));
  const x = tf.randomNormal([batch, ...config.inputShape], 0, 1, 'float32', 11);
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % config.numClasses), 'int32');
  const logits = tf.tidy(() => model.predict(x).dataSync() as Float32Array);
  const r = lossAndGradients(model, x, labels, model.steHooks(), vars);
  const grads = new Map([...r.grads].map(([k, g]) => [k, g.dataSync() as Float32Array]));
  const statistics = new Map(model.params.names((p) => p.role === 'bn-mean' || p.role === 'bn-var').map((k) => [k, model.params.get(k).dataSync() as Float32Array]));
  tf.dispose([...r.grads.values(), x, labels]);
  model.dispose();
  return { loss: r.loss, grads, statistics, logits, nativeRuns: nativeModelStats().runs - before };
}

const CASES: Array<{ label: string; config: ModelConfig; batch: number }> = [
  { label: 'mlp (dense, 1-D batch norm, flatten of NHWC images)', batch: 6, config: { arch: 'mlp', inputShape: [7, 5, 2], numClasses: 4, archOptions: { hidden: [24, 16] }, quantizer: { name: 'dorefa', bits: 2 }, seed: 3 } },
  { label: 'lenet5 at 13×13 (5×5 convs, padded max pooling, flatten of NCHW)', batch: 16, config: { arch: 'lenet5', inputShape: [13, 13, 1], numClasses: 10, quantizer: { name: 'dorefa', bits: 2 }, seed: 4 } },
  { label: 'resnet20 at 9×9 (strided and 1×1 convs, residual adds, global pooling; batch 16: blocked filter gradients)', batch: 16, config: { arch: 'resnet20', inputShape: [9, 9, 3], numClasses: 10, quantizer: { name: 'dorefa', bits: 1 }, seed: 5 } },
];

describe('native model op (whole forward and backward passes on onnxruntime)', { skip: ortAvailable() ? false : `onnxruntime-node unavailable: ${ortLoadError()}` }, () => {
  before(() => setNativeModelMinMacs(0));
  after(() => setNativeModelMinMacs(1 << 22));

  for (const c of CASES) {
    const blocked = ortAvailable() && nchwcBlockSize() > 0;
    it(`${c.label}: loss, gradients, running statistics and logits match cpu (blocked NCHWc graph)`, { skip: blocked ? false : 'no NCHWc kernels in this onnxruntime' }, () => compare(c));
    it(`${c.label}: the same with plain NCHW graphs (METAQUANT_NCHWC=0)`, async () => {
      process.env.METAQUANT_NCHWC = '0';
      try {
        await compare(c);
      } finally {
        delete process.env.METAQUANT_NCHWC;
      }
    });
  }

  async function compare(c: (typeof CASES)[number]): Promise<void> {
    {
      const cpu = await run('cpu', c.config, c.batch);
      const native = await run('wasm', c.config, c.batch);
      assert.equal(cpu.nativeRuns, 0);
      assert.equal(native.nativeRuns, 2, 'the inference and the training forward ran natively');
      assert.deepEqual(nativeModelStats().failed, {});
      assertClose('loss', [cpu.loss], [native.loss]);
      assertClose('logits', cpu.logits, native.logits);
      assert.deepEqual([...native.grads.keys()].sort(), [...cpu.grads.keys()].sort());
      for (const [name, g] of cpu.grads) assertClose(`d/d ${name}`, g, native.grads.get(name)!);
      for (const [name, s] of cpu.statistics) assertClose(name, s, native.statistics.get(name)!);
    }
  }

  it('falls back to the op-by-op path when turned off', async () => {
    setNativeModel(false);
    try {
      const outcome = await run('wasm', CASES[0]!.config, 4);
      assert.equal(outcome.nativeRuns, 0);
    } finally {
      setNativeModel(true);
    }
  });

  it('leaves small models to the op-by-op path by default', async () => {
    setNativeModelMinMacs(1 << 22);
    try {
      assert.equal((await run('wasm', CASES[0]!.config, 4)).nativeRuns, 0);
    } finally {
      setNativeModelMinMacs(0);
    }
  });
});

describe('MetaQuant through the native model op', { skip: ortAvailable() ? false : `onnxruntime-node unavailable: ${ortLoadError()}` }, () => {
  before(() => setNativeModelMinMacs(0));
  after(() => setNativeModelMinMacs(1 << 22));

  // The meta network's look-ahead weights reach the op through the hooks; its gradient w.r.t. φ
  // flows back through the op's. Two steps (the first has no meta call) on twin models.
  for (const kind of ['fcgrad', 'lstm'] as const) {
    it(`${kind}: losses and parameters after two steps match the op-by-op path`, async () => {
      await useBackend('wasm');
      const config: ModelConfig = { arch: 'lenet5', inputShape: [13, 13, 1], numClasses: 10, quantizer: { name: 'dorefa', bits: 2 }, seed: 8 };
      const x = tf.randomNormal([16, 13, 13, 1], 0, 1, 'float32', 12);
      const labels = tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 10), 'int32');
      const outcome = (native: boolean) => {
        setNativeModel(native);
        const before = nativeModelStats().runs;
        const model = new QuantizedModel(config);
        for (const name of model.params.names((p) => p.role === 'bn-beta')) model.params.get(name).assign(tf.fill([model.params.info(name).shape[0]!], 0.0123));
        const meta = createMetaNetwork({ kind, hidden: 6, layers: 3, activation: 'none', seed: 2 });
        const step = new MetaQuantStep(model, meta, new BaseOptimizer({ name: 'sgd' }), { mode: 'code', phiPath: 'ste', metaLr: 1e-3 });
        const losses = [0, 1].map((t) => step.step(x, labels, { epoch: 0, batchIndex: t, lr: 0.01, lrMultiplier: 1 }).loss);
        const params = model.params.snapshot();
        step.dispose();
        model.dispose();
        setNativeModel(true);
        return { losses, params, runs: nativeModelStats().runs - before };
      };
      const reference = outcome(false);
      const native = outcome(true);
      assert.equal(reference.runs, 0);
      assert.ok(native.runs >= 2, `native model op ran ${native.runs} times`);
      assertClose('losses', reference.losses, native.losses);
      for (const [name, p] of Object.entries(reference.params)) assertClose(name, p.data, native.params[name]!.data);
      tf.dispose([x, labels]);
    });
  }
});
