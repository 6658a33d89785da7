// The onnxruntime-backed convolution and matmul kernels (src/engine/native) against tfjs's cpu
// backend on the same seeded inputs, with the size threshold lowered so that small cases run
// natively: max |wasm+native − cpu| ≤ 1e-5 · max |cpu|. Skipped, with the reason, where the native
// kernels are not active (onnxruntime-node cannot load, or METAQUANT_NATIVE=0); the fallback to the
// wasm kernels is tested here with METAQUANT_NATIVE=0 and in native-fallback.test.ts without onnxruntime.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { nativeKernelStats, nativeKernelsActive, setNativeKernels, setNativeMinMacs } from '../../src/engine/native/ort-kernels.js';
import { ortAvailable, ortLoadError } from '../../src/engine/native/ort.js';

const TOLERANCE = 1e-5;
let seed = 100;
const values = (shape: number[]) => tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed++).dataSync() as Float32Array);

async function onBoth(compute: () => Tensor): Promise<{ cpu: Float32Array; wasm: Float32Array }> {
  const out: Record<string, Float32Array> = {};
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    const t = tf.tidy(compute);
    out[backend] = Float32Array.from(t.dataSync());
    t.dispose();
  }
  return { cpu: out.cpu!, wasm: out.wasm! };
}

/** Same values on wasm as on cpu; `native`: whether the wasm side must (or must not) run natively. */
async function assertSame(label: string, compute: () => Tensor, native = true): Promise<void> {
  const before = nativeKernelStats().runs;
  const { cpu, wasm } = await onBoth(compute);
  if (native) assert.ok(nativeKernelStats().runs > before, `${label}: did not run natively`);
  else assert.equal(nativeKernelStats().runs, before, `${label}: ran natively`);
  assert.equal(wasm.length, cpu.length, `${label}: size`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < cpu.length; i++) {
    scale = Math.max(scale, Math.abs(cpu[i]!));
    worst = Math.max(worst, Math.abs(cpu[i]! - wasm[i]!));
  }
  assert.ok(worst <= TOLERANCE * scale, `${label}: max |native − cpu| = ${worst} vs max |cpu| = ${scale}`);
}

interface Case {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  k: number;
  strides: [number, number];
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
}

const CASES: Case[] = [
  { n: 2, h: 8, w: 9, ci: 3, co: 4, k: 3, strides: [1, 1], pad: 'same' },
  { n: 3, h: 8, w: 8, ci: 4, co: 5, k: 3, strides: [2, 2], pad: 'same' },
  { n: 2, h: 7, w: 7, ci: 2, co: 3, k: 3, strides: [2, 2], pad: 'same' },
  { n: 2, h: 9, w: 8, ci: 3, co: 2, k: 5, strides: [1, 1], pad: 'valid' },
  { n: 2, h: 9, w: 10, ci: 3, co: 2, k: 3, strides: [2, 2], pad: 'valid' },
  { n: 2, h: 8, w: 8, ci: 4, co: 6, k: 1, strides: [2, 2], pad: 'same' },
  { n: 2, h: 9, w: 6, ci: 3, co: 4, k: 3, strides: [2, 1], pad: 'same' },
  { n: 3, h: 7, w: 8, ci: 2, co: 3, k: 3, strides: [2, 2], pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
];

const describeCase = (c: Case) => `${c.n}×${c.h}×${c.w}×${c.ci}→${c.co} k${c.k} s${c.strides} pad ${JSON.stringify(c.pad)}`;

/** Why this machine cannot test the native path (a skip reason), or false. */
function inactiveReason(): string | false {
  if (!ortAvailable()) return `onnxruntime-node unavailable: ${ortLoadError()}`;
  if (!nativeKernelsActive()) return 'native kernels turned off (METAQUANT_NATIVE=0)';
  return false;
}

describe('native (onnxruntime) kernels', { skip: inactiveReason() }, () => {
  before(async () => {
    setNativeMinMacs(0);
    setNativeKernels(true);
    await useBackend('wasm');
  });
  after(() => setNativeMinMacs(1 << 17));

  it('Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter match cpu', async () => {
    for (const c of CASES) {
      const inShape = [c.n, c.h, c.w, c.ci];
      const filterShape = [c.k, c.k, c.ci, c.co];
      const outShape = tf.backend_util.computeConv2DInfo(inShape as never, filterShape as never, c.strides, 1, c.pad).outShape;
      const [x, f, dy] = [values(inShape), values(filterShape), values(outShape)];
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' };
      await assertSame(`conv ${describeCase(c)}`, () => tf.conv2d(tf.tensor4d(x, inShape as never), tf.tensor4d(f, filterShape as never), c.strides, c.pad as never));
      await assertSame(`dx ${describeCase(c)}`, () =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(dy, outShape), filter: tf.tensor(f, filterShape) }, { ...attrs, inputShape: inShape } as never) as Tensor,
      );
      await assertSame(`dW ${describeCase(c)}`, () =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(x, inShape), dy: tf.tensor(dy, outShape) }, { ...attrs, filterShape } as never) as Tensor,
      );
    }
    assert.deepEqual(nativeKernelStats().failed, []);
  });

  it('BatchMatMul with every transpose combination and batch broadcasting matches cpu', async () => {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      for (const [batchA, batchB] of [[[], []], [[3], [3]], [[1], [2]]] as const) {
        const [m, k, n] = [5, 7, 4];
        const aShape = [...batchA, ...(ta ? [k, m] : [m, k])];
        const bShape = [...batchB, ...(tb ? [n, k] : [k, n])];
        const [a, b] = [values(aShape), values(bShape)];
        await assertSame(`matmul a[${aShape}] b[${bShape}] tA=${ta} tB=${tb}`, () => tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), ta, tb));
      }
    }
    assert.deepEqual(nativeKernelStats().failed, []);
  });

  it('gradients of a conv → dense network match cpu end to end', async () => {
    const [x, f, w] = [values([2, 6, 6, 3]), values([3, 3, 3, 4]), values([36, 2])];
    const loss = (xs: Tensor, fs: Tensor, ws: Tensor) =>
      tf.sum(tf.square(tf.matMul(tf.reshape(tf.conv2d(xs as tf.Tensor4D, fs as tf.Tensor4D, 2, 'same'), [2, 36]), ws as tf.Tensor2D)));
    for (const i of [0, 1, 2]) {
      await assertSame(`grad #${i}`, () => tf.grads(loss)([tf.tensor(x, [2, 6, 6, 3]), tf.tensor(f, [3, 3, 3, 4]), tf.tensor(w, [36, 2])])[i]!);
    }
  });

  it('fall back to the wasm kernels when turned off', async () => {
    setNativeKernels(false);
    try {
      const runs = nativeKernelStats().runs;
      await useBackend('wasm');
      tf.tidy(() => tf.conv2d(tf.ones([1, 4, 4, 2]) as tf.Tensor4D, tf.ones([3, 3, 2, 2]) as tf.Tensor4D, 1, 'same').dataSync());
      assert.equal(nativeKernelStats().runs, runs);
    } finally {
      setNativeKernels(true);
    }
  });
});

describe('native kernels with METAQUANT_NATIVE=0', () => {
  before(async () => {
    setNativeMinMacs(0);
    await useBackend('wasm');
  });
  after(() => setNativeMinMacs(1 << 17));

  it('convolutions, both gradients and matmul run on the wasm kernels and match cpu', async () => {
    const saved = process.env.METAQUANT_NATIVE;
    process.env.METAQUANT_NATIVE = '0';
    try {
      assert.equal(nativeKernelsActive(), false);
      for (const c of CASES.slice(0, 3)) {
        const inShape = [c.n, c.h, c.w, c.ci];
        const filterShape = [c.k, c.k, c.ci, c.co];
        const outShape = tf.backend_util.computeConv2DInfo(inShape as never, filterShape as never, c.strides, 1, c.pad).outShape;
        const [x, f, dy] = [values(inShape), values(filterShape), values(outShape)];
        const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' };
        await assertSame(`conv ${describeCase(c)}`, () => tf.conv2d(tf.tensor4d(x, inShape as never), tf.tensor4d(f, filterShape as never), c.strides, c.pad as never), false);
        await assertSame(`dx ${describeCase(c)}`, () =>
          tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(dy, outShape), filter: tf.tensor(f, filterShape) }, { ...attrs, inputShape: inShape } as never) as Tensor, false,
        );
        await assertSame(`dW ${describeCase(c)}`, () =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(x, inShape), dy: tf.tensor(dy, outShape) }, { ...attrs, filterShape } as never) as Tensor, false,
        );
      }
      const [a, b] = [values([2, 5, 7]), values([2, 7, 4])];
      await assertSame('matmul', () => tf.matMul(tf.tensor(a, [2, 5, 7]), tf.tensor(b, [2, 7, 4])), false);
    } finally {
      if (saved === undefined) delete process.env.METAQUANT_NATIVE;
      else process.env.METAQUANT_NATIVE = saved;
    }
  });
});
