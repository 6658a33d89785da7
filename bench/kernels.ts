// Times the wasm backend with our training kernels (with and without the native ones) against tfjs-wasm's stock kernels, swapping the
// registry entries back and forth in one process. Run: node dist/bench/kernels.js [--quick]
import { tf, type Tensor } from '../src/engine/tf.js';
import { useBackend } from '../src/engine/backend.js';
import { nativeKernelsActive, setNativeKernels } from '../src/engine/native/ort-kernels.js';

type Mode = 'stock' | 'ours';

const quick = process.argv.includes('--quick');

/** Kernel configs per mode, for every wasm kernel name our registration added or replaced. */
async function captureModes(): Promise<(mode: Mode) => void> {
  const stock = new Map(tf.getKernelsForBackend('wasm').map((k) => [k.kernelName, k]));
  await useBackend('wasm'); // registers our kernels, then initialises the backend
  const ours = new Map<string, tf.KernelConfig>();
  for (const kernel of tf.getKernelsForBackend('wasm')) {
    if (stock.get(kernel.kernelName) !== kernel) ours.set(kernel.kernelName, kernel);
  }
  console.log(`our wasm kernels: ${[...ours.keys()].sort().join(', ')}\n`);
  return (mode) => {
    for (const name of ours.keys()) {
      if (tf.getKernel(name, 'wasm') != null) tf.unregisterKernel(name, 'wasm');
      const config = mode === 'ours' ? ours.get(name) : stock.get(name);
      if (config != null) tf.registerKernel(config);
    }
  };
}

/** Median wall time of `run` in ms, after warm-up; null when the stock backend cannot run it. */
function time(run: () => Tensor | Tensor[] | void, repeats: number): number | null {
  try {
    const once = () => tf.dispose(tf.tidy(() => run() ?? []));
    once();
    once();
    const samples: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const start = performance.now();
      once();
      samples.push(performance.now() - start);
    }
    samples.sort((a, b) => a - b);
    return samples[Math.floor(samples.length / 2)];
  } catch (err) {
    const message = (err as Error).message;
    if (/not registered/.test(message)) return null;
    throw err;
  }
}

function row(label: string, stockMs: number | null, wasmMs: number | null, oursMs: number | null, extra = ''): void {
  const fmt = (ms: number | null) => (ms == null ? 'unsupported' : `${ms.toFixed(2)} ms`).padStart(12);
  const speedup = (a: number | null, b: number | null) => (a != null && b != null ? `${(a / b).toFixed(1)}×` : '—').padStart(7);
  console.log(`${label.padEnd(44)} ${fmt(stockMs)} ${fmt(wasmMs)} ${fmt(oursMs)} ${speedup(stockMs, oursMs)} ${speedup(wasmMs, oursMs)} ${extra}`);
}

/** Stock wasm kernels, ours with the native kernels off (pure wasm), and ours as registered. */
function compare(
  setMode: (mode: Mode) => void,
  label: string,
  run: () => Tensor | Tensor[] | void,
  repeats: number,
  describeRate?: (ms: number) => string,
): void {
  setMode('stock');
  const stockMs = time(run, repeats);
  setMode('ours');
  setNativeKernels(false);
  const wasmMs = time(run, repeats);
  setNativeKernels(true);
  const oursMs = time(run, repeats);
  row(label, stockMs, wasmMs, oursMs, oursMs != null && describeRate ? describeRate(oursMs) : '');
}

function filterGrad(x: Tensor, dy: Tensor, filterShape: number[], strides: number): Tensor {
  const attrs = { strides, pad: 'same', dataFormat: 'NHWC', filterShape };
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs) as Tensor;
}

function gflops(flop: number) {
  return (ms: number) => `${(flop / ms / 1e6).toFixed(1)} GFLOP/s`;
}

// ---- models built from raw ops -------------------------------------------------------------

interface Model {
  inputShape: number[];
  params: tf.Variable[];
  logits(x: Tensor): Tensor;
}

let seed = 7;
function weight(shape: number[], fanIn: number): tf.Variable {
  return tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed++));
}

function mlp(): Model {
  const params = [
    weight([784, 256], 784),
    tf.variable(tf.zeros([256])),
    weight([256, 10], 256),
    tf.variable(tf.zeros([10])),
  ];
  const [w1, b1, w2, b2] = params as Tensor[] as tf.Tensor2D[];
  return {
    inputShape: [784],
    params,
    logits: (x) => {
      const hidden = tf.relu(tf.add(tf.matMul(x as tf.Tensor2D, w1), b1)) as tf.Tensor2D;
      return tf.add(tf.matMul(hidden, w2), b2);
    },
  };
}

function lenet5(): Model {
  const shapes: Array<[number[], number]> = [
    [[5, 5, 1, 6], 25],
    [[6], 0],
    [[5, 5, 6, 16], 150],
    [[16], 0],
    [[7 * 7 * 16, 120], 784],
    [[120], 0],
    [[120, 84], 120],
    [[84], 0],
    [[84, 10], 84],
    [[10], 0],
  ];
  const params = shapes.map(([shape, fanIn]) =>
    fanIn > 0 ? weight(shape, fanIn) : tf.variable(tf.zeros(shape)),
  );
  const p = params as Tensor[];
  const convBlock = (x: Tensor, w: Tensor, b: Tensor) => {
    const conv = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same');
    return tf.maxPool(tf.relu(tf.add(conv, b)) as tf.Tensor4D, 2, 2, 'valid');
  };
  const dense = (x: Tensor, w: Tensor, b: Tensor) =>
    tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b);
  return {
    inputShape: [28, 28, 1],
    params,
    logits: (x) => {
      const features = convBlock(convBlock(x, p[0], p[1]), p[2], p[3]);
      const flat = tf.reshape(features, [x.shape[0], -1]);
      return dense(tf.relu(dense(tf.relu(dense(flat, p[4], p[5])), p[6], p[7])), p[8], p[9]);
    },
  };
}

/** ResNet-20 for 32×32×3 inputs, batch norm from moments with plain ops. */
function resnet20(): Model {
  const params: tf.Variable[] = [];
  const conv = (k: number, cin: number, cout: number) => {
    const v = weight([k, k, cin, cout], k * k * cin);
    params.push(v);
    return v as Tensor as tf.Tensor4D;
  };
  const norm = (c: number) => {
    const gamma = tf.variable(tf.ones([c]));
    const beta = tf.variable(tf.zeros([c]));
    params.push(gamma, beta);
    return (x: Tensor) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), gamma), beta);
    };
  };
  const stem = { w: conv(3, 3, 16), bn: norm(16) };
  type Norm = (x: Tensor) => Tensor;
  interface Block {
    stride: number;
    w1: tf.Tensor4D;
    bn1: Norm;
    w2: tf.Tensor4D;
    bn2: Norm;
    proj?: tf.Tensor4D;
    bnp?: Norm;
  }
  const blocks: Block[] = [];
  let cin = 16;
  for (const [cout, firstStride] of [[16, 1], [32, 2], [64, 2]]) {
    for (let i = 0; i < 3; i++) {
      const stride = i === 0 ? firstStride : 1;
      const needsProjection = stride !== 1 || cin !== cout;
      blocks.push({
        stride,
        w1: conv(3, cin, cout),
        bn1: norm(cout),
        w2: conv(3, cout, cout),
        bn2: norm(cout),
        ...(needsProjection ? { proj: conv(1, cin, cout), bnp: norm(cout) } : {}),
      });
      cin = cout;
    }
  }
  const fc = weight([64, 10], 64);
  const fcBias = tf.variable(tf.zeros([10]));
  params.push(fc, fcBias);
  return {
    inputShape: [32, 32, 3],
    params,
    logits: (x) => {
      let h = tf.relu(stem.bn(tf.conv2d(x as tf.Tensor4D, stem.w, 1, 'same'))) as tf.Tensor4D;
      for (const b of blocks) {
        let y = tf.relu(b.bn1(tf.conv2d(h, b.w1, b.stride, 'same'))) as tf.Tensor4D;
        y = b.bn2(tf.conv2d(y, b.w2, 1, 'same')) as tf.Tensor4D;
        const shortcut = b.proj ? b.bnp!(tf.conv2d(h, b.proj, b.stride, 'same')) : h;
        h = tf.relu(tf.add(y, shortcut)) as tf.Tensor4D;
      }
      const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
      return tf.add(tf.matMul(pooled, fc as Tensor as tf.Tensor2D), fcBias);
    },
  };
}

function trainStep(model: Model, x: Tensor, labels: Tensor, learningRate = 0.01): void {
  tf.tidy(() => {
    const loss = () => tf.losses.softmaxCrossEntropy(labels, model.logits(x)) as tf.Scalar;
    const { grads } = tf.variableGrads(loss, model.params);
    for (const v of model.params) v.assign(tf.sub(v, tf.mul(grads[v.name], learningRate)));
  });
}

// ---- benchmarks ----------------------------------------------------------------------------

async function main(): Promise<void> {
  const setMode = await captureModes();
  const repeats = quick ? 3 : 7;
  console.log(`native kernels (onnxruntime): ${nativeKernelsActive() ? 'active' : 'unavailable'}`);
  console.log(`${'wasm, median of ' + repeats}`.padEnd(44) + '        stock    wasm-only         ours  vs stock vs wasm-only');

  console.log('\nconv layer, batch 128, 16×16×32 → 32, 3×3 same');
  {
    const x = tf.randomNormal([128, 16, 16, 32], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 32, 32], 0, 0.1, 'float32', 2) as tf.Tensor4D;
    const dy = tf.randomNormal([128, 16, 16, 32], 0, 1, 'float32', 3) as tf.Tensor4D;
    const flop = 2 * 128 * 16 * 16 * 32 * 9 * 32;
    compare(setMode, 'forward conv2d', () => tf.conv2d(x, w, 1, 'same'), repeats, gflops(flop));
    const dx = () => tf.conv2dTranspose(dy, w, x.shape, 1, 'same');
    compare(setMode, 'dx (Conv2DBackpropInput)', dx, repeats, gflops(flop));
    compare(setMode, 'dW (Conv2DBackpropFilter)', () => filterGrad(x, dy, w.shape, 1), repeats, gflops(flop));
    const loss = (a: Tensor, f: Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'), dy));
    compare(setMode, 'forward + backward (tf.grads)', () => tf.grads(loss)([x, w]), repeats, gflops(3 * flop));
    const x2 = tf.randomNormal([128, 16, 16, 32], 0, 1, 'float32', 4) as tf.Tensor4D;
    const w2 = tf.randomNormal([3, 3, 32, 64], 0, 0.1, 'float32', 5) as tf.Tensor4D;
    const dy2 = tf.randomNormal([128, 8, 8, 64], 0, 1, 'float32', 6) as tf.Tensor4D;
    const dx2 = () => tf.conv2dTranspose(dy2, w2, x2.shape, 2, 'same');
    compare(setMode, 'stride 2 (→ 8×8×64): dx', dx2, repeats);
    compare(setMode, 'stride 2 (→ 8×8×64): dW', () => filterGrad(x2, dy2, w2.shape, 2), repeats);
    tf.dispose([x, w, dy, x2, w2, dy2]);
  }

  console.log('\nmatMul 128×784 · 784×256 (the MLP layer and its gradients)');
  {
    const a = tf.randomNormal([128, 784], 0, 1, 'float32', 7) as tf.Tensor2D;
    const b = tf.randomNormal([784, 256], 0, 1, 'float32', 8) as tf.Tensor2D;
    const dy = tf.randomNormal([128, 256], 0, 1, 'float32', 9) as tf.Tensor2D;
    const flop = 2 * 128 * 784 * 256;
    compare(setMode, 'a · b', () => tf.matMul(a, b), repeats, gflops(flop));
    compare(setMode, 'aᵀ · dy (transposeA, = dW)', () => tf.matMul(a, dy, true, false), repeats, gflops(flop));
    compare(setMode, 'dy · bᵀ (transposeB, = dx)', () => tf.matMul(dy, b, false, true), repeats, gflops(flop));
    tf.dispose([a, b, dy]);
  }

  console.log('\nbatch-norm style ops on a 128×16×16×32 activation');
  {
    const x = tf.randomNormal([128, 16, 16, 32], 0, 1, 'float32', 10) as tf.Tensor4D;
    const gamma = tf.randomNormal([32], 1, 0.1, 'float32', 11) as tf.Tensor1D;
    const tiled = () => tf.tile(tf.reshape(gamma, [1, 1, 1, 32]), [128, 16, 16, 1]);
    compare(setMode, 'tile [1,1,1,32] → [128,16,16,32]', tiled, repeats);
    compare(setMode, 'multiply x · γ (broadcast)', () => tf.mul(x, gamma), repeats);
    compare(setMode, 'sum over N,H,W', () => tf.sum(x, [0, 1, 2]), repeats);
    compare(setMode, 'moments over N,H,W', () => Object.values(tf.moments(x, [0, 1, 2])), repeats);
    const normed = () => tf.batchNorm(x, tf.zeros([32]), tf.ones([32]), gamma, gamma, 1e-3);
    compare(setMode, 'batchNorm (FusedBatchNorm)', normed, repeats);
    const pooled = (t: Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid'));
    compare(setMode, 'maxPool 2×2 gradient', () => tf.grad(pooled)(x), repeats);
    tf.dispose([x, gamma]);
  }

  console.log('\ntraining step (forward, backward, SGD update), images/s');
  const models: Array<[string, () => Model, number, number]> = [
    ['MLP 784-256-10, batch 128', mlp, 128, quick ? 5 : 20],
    ['LeNet-5, 28×28×1, batch 64', lenet5, 64, quick ? 3 : 10],
    ['ResNet-20, 32×32×3, batch 32', resnet20, 32, quick ? 1 : 3],
  ];
  for (const [label, build, batch, steps] of models) {
    const model = build();
    const x = tf.randomNormal([batch, ...model.inputShape], 0, 1, 'float32', 12);
    const labels = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 13), 10);
    const rate = (ms: number) => `${Math.round((batch * 1000) / ms)} images/s (ours)`;
    compare(setMode, label, () => trainStep(model, x, labels), steps, rate);
    tf.dispose([x, labels, ...model.params]);
  }
  setMode('ours');
}

await main();
