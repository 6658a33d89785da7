// Without onnxruntime-node (hidden from this process), the wasm backend still trains convolutions:
// the native kernels are not registered, Conv2D stays the stock wasm kernel, and a conv → dense
// network's value and gradients come from the wasm kernels, equal to the cpu backend's within
// 1e-5 · max |cpu| (the same bound as native-kernels.test.ts).
import '../helpers/hide-onnxruntime.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { nativeKernelStats, nativeKernelsActive, setNativeMinMacs } from '../../src/engine/native/ort-kernels.js';
import { ortAvailable, ortLoadError } from '../../src/engine/native/ort.js';

// Before useBackend('wasm') registers anything of ours.
const stockConv2D = tf.getKernel('Conv2D', 'wasm')?.kernelFunc;

test('without onnxruntime-node the wasm kernels compute convolutions and their gradients', async () => {
  assert.equal(ortAvailable(), false);
  assert.match(ortLoadError(), /Cannot find module 'onnxruntime-node'/);
  assert.equal(nativeKernelsActive(), false);
  setNativeMinMacs(0); // every product would go native, were it available
  try {
    await useBackend('cpu');
    const [x, f, w] = [[2, 7, 7, 3], [3, 3, 3, 4], [64, 2]].map((shape, i) => tf.randomNormal(shape, 0, 1, 'float32', 40 + i).dataSync() as Float32Array);
    const loss = (xs: Tensor, fs: Tensor, ws: Tensor) =>
      tf.sum(tf.square(tf.matMul(tf.reshape(tf.conv2d(xs as tf.Tensor4D, fs as tf.Tensor4D, 2, 'same'), [2, 64]), ws as tf.Tensor2D)));
    const run = () => {
      const inputs = [tf.tensor(x!, [2, 7, 7, 3]), tf.tensor(f!, [3, 3, 3, 4]), tf.tensor(w!, [64, 2])];
      const { value, grads } = tf.valueAndGrads(loss)(inputs);
      const out = [value, ...grads].map((t) => Float32Array.from(t.dataSync()));
      tf.dispose([value, ...grads, ...inputs]);
      return out;
    };
    const cpu = run();
    await useBackend('wasm');
    assert.equal(tf.getKernel('Conv2D', 'wasm')?.kernelFunc, stockConv2D, 'Conv2D is the stock wasm kernel');
    const wasm = run();
    assert.equal(nativeKernelStats().runs, 0, 'nothing ran natively');
    assert.deepEqual(nativeKernelStats().failed, [], 'nothing tried to');
    cpu.forEach((expected, i) => {
      const scale = Math.max(...expected.map(Math.abs));
      const worst = Math.max(...expected.map((v, j) => Math.abs(v - wasm[i]![j]!)));
      assert.ok(worst <= 1e-5 * scale, `output ${i}: max |wasm − cpu| = ${worst} vs max |cpu| = ${scale}`);
    });
  } finally {
    setNativeMinMacs(1 << 17);
  }
});
