// Every kernel src/engine/wasm registers is checked against tfjs's cpu backend on the same seeded
// inputs: max |wasm − cpu| ≤ 1e-5 · max |cpu|.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { useBackend } from '../../src/engine/backend.js';
import { registerWasmTrainingKernels } from '../../src/engine/wasm-kernels.js';
import { simplifyTileAxes } from '../../src/engine/wasm/tile.js';
import { BROADCAST_BINARY_KERNELS } from '../../src/engine/wasm/broadcast-binary.js';

/** Every kernel src/engine/wasm registers (or replaces) on the wasm backend. */
const OUR_KERNELS = [
  'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', '_FusedMatMul', 'Tile', ...BROADCAST_BINARY_KERNELS,
  'Sum', 'Mean', 'MaxPoolGrad', 'AvgPoolGrad', 'FusedBatchNorm', 'Identity', 'Cast', 'SplitV', 'Concat', 'Tanh', 'Slice',
];
// tfjs-backend-wasm's own kernels, read before anything here registers ours (undefined: it has none).
const STOCK = new Map(OUR_KERNELS.map((name) => [name, tf.getKernel(name, 'wasm')?.kernelFunc]));

const TOLERANCE = 1e-5;

type Shape = number[];
type Shape4 = [number, number, number, number];
type Inputs = Record<string, Float32Array>;

/** An untyped-rank tensor, so callers can narrow it with `as tf.Tensor4D`. */
function tensor(values: Float32Array, shape: Shape): Tensor {
  return tf.tensor(values, shape);
}

let nextSeed = 1;
function randomValues(shape: Shape): Float32Array {
  return tf.tidy(() =>
    tf.randomNormal(shape, 0, 1, 'float32', nextSeed++).dataSync() as Float32Array,
  );
}

/** Runs `compute` on cpu, then on wasm, with tensors made from the same values; returns both. */
async function onBothBackends(
  compute: () => Tensor | Tensor[],
): Promise<Record<'cpu' | 'wasm', Float32Array[]>> {
  const results: Record<'cpu' | 'wasm', Float32Array[]> = { cpu: [], wasm: [] };
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    const outputs = tf.tidy(() => [compute()].flat());
    results[backend] = outputs.map((t) => Float32Array.from(t.dataSync()));
    tf.dispose(outputs);
  }
  return results;
}

function assertMatches(cpu: Float32Array, wasm: Float32Array, label: string): void {
  assert.equal(wasm.length, cpu.length, `${label}: size`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < cpu.length; i++) {
    scale = Math.max(scale, Math.abs(cpu[i]));
    worst = Math.max(worst, Math.abs(cpu[i] - wasm[i]));
  }
  assert.ok(Number.isFinite(worst), `${label}: non-finite values`);
  assert.ok(
    worst <= TOLERANCE * Math.max(scale, 1e-30),
    `${label}: max |wasm − cpu| = ${worst} vs max |cpu| = ${scale}`,
  );
}

async function assertSameOnBothBackends(label: string, compute: () => Tensor | Tensor[]) {
  const { cpu, wasm } = await onBothBackends(compute);
  assert.equal(wasm.length, cpu.length);
  cpu.forEach((values, i) => assertMatches(values, wasm[i], `${label} #${i}`));
}

interface ConvCase {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  filter: number;
  strides: [number, number];
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
}

function convCases(): ConvCase[] {
  const cases: ConvCase[] = [];
  const channelPairs: Array<[number, number]> = [
    [1, 3],
    [4, 5],
    [8, 2],
  ];
  let pairIndex = 0;
  for (const stride of [1, 2]) {
    for (const pad of ['same', 'valid'] as const) {
      for (const filter of [1, 3, 5]) {
        for (const size of [7, 8]) {
          const [inChannels, outChannels] = channelPairs[pairIndex++ % channelPairs.length];
          cases.push({
            batch: 2 + (pairIndex % 2),
            height: size,
            width: size + 1,
            inChannels,
            outChannels,
            filter,
            strides: [stride, stride],
            pad,
          });
        }
      }
    }
  }
  // Mixed strides, numeric and explicit (asymmetric) padding.
  const base = { batch: 2, inChannels: 3, filter: 3 };
  cases.push({ ...base, height: 9, width: 6, outChannels: 4, strides: [2, 1], pad: 'same' });
  cases.push({ ...base, height: 8, width: 9, outChannels: 2, strides: [1, 2], pad: 1 });
  cases.push({
    batch: 3,
    height: 7,
    width: 8,
    inChannels: 2,
    outChannels: 3,
    filter: 3,
    strides: [2, 2],
    pad: [[0, 0], [2, 0], [0, 1], [0, 0]],
  });
  // Padding wider than the filter: the transposed convolution must crop instead of pad.
  cases.push({
    batch: 2,
    height: 6,
    width: 7,
    inChannels: 3,
    outChannels: 2,
    filter: 3,
    strides: [1, 1],
    pad: [[0, 0], [3, 1], [1, 3], [0, 0]],
  });
  return cases;
}

function convOutShape(c: ConvCase): Shape {
  const info = tf.backend_util.computeConv2DInfo(
    [c.batch, c.height, c.width, c.inChannels],
    [c.filter, c.filter, c.inChannels, c.outChannels],
    c.strides,
    1,
    c.pad,
  );
  return info.outShape;
}

function describeCase(c: ConvCase): string {
  return (
    `${c.batch}×${c.height}×${c.width}×${c.inChannels}→${c.outChannels} ` +
    `k${c.filter} s${c.strides.join(',')} pad ${JSON.stringify(c.pad)}`
  );
}

describe('wasm training kernels', () => {
  before(() => useBackend('wasm'));

  it('are registered on wasm in place of the stock kernels, and registering again is harmless', async () => {
    registerWasmTrainingKernels();
    registerWasmTrainingKernels();
    await useBackend('wasm');
    for (const name of OUR_KERNELS) {
      const registered = tf.getKernel(name, 'wasm')?.kernelFunc;
      assert.ok(registered, `${name} registered`);
      assert.notEqual(registered, STOCK.get(name), `${name}: the registered kernelFunc is tfjs-wasm's own, not ours`);
    }
  });

  it('Conv2DBackpropFilter matches cpu', async () => {
    for (const c of convCases()) {
      const x = randomValues([c.batch, c.height, c.width, c.inChannels]);
      const outShape = convOutShape(c);
      const dy = randomValues(outShape);
      const filterShape: Shape = [c.filter, c.filter, c.inChannels, c.outChannels];
      await assertSameOnBothBackends(`dW ${describeCase(c)}`, () =>
        tf.engine().runKernel(
          'Conv2DBackpropFilter',
          { x: tf.tensor(x, [c.batch, c.height, c.width, c.inChannels]), dy: tf.tensor(dy, outShape) },
          { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape } as unknown as tf.NamedAttrMap,
        ) as Tensor,
      );
    }
  });

  it('Conv2DBackpropInput (conv2dTranspose) matches cpu', async () => {
    for (const c of convCases()) {
      const inShape: Shape = [c.batch, c.height, c.width, c.inChannels];
      const filterShape: Shape = [c.filter, c.filter, c.inChannels, c.outChannels];
      const outShape = convOutShape(c);
      const dy = randomValues(outShape);
      const filter = randomValues(filterShape);
      await assertSameOnBothBackends(`dx ${describeCase(c)}`, () =>
        tf.engine().runKernel(
          'Conv2DBackpropInput',
          { dy: tf.tensor(dy, outShape), filter: tf.tensor(filter, filterShape) },
          { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: inShape } as unknown as
            tf.NamedAttrMap,
        ) as Tensor,
      );
    }
  });

  it('conv2d gradients via tf.grads match cpu', async () => {
    for (const c of convCases().filter((_, i) => i % 5 === 0)) {
      const inShape: Shape = [c.batch, c.height, c.width, c.inChannels];
      const filterShape: Shape = [c.filter, c.filter, c.inChannels, c.outChannels];
      const x = randomValues(inShape);
      const filter = randomValues(filterShape);
      const weight = randomValues(convOutShape(c));
      await assertSameOnBothBackends(`conv grads ${describeCase(c)}`, () => {
        const w = tf.tensor(weight, convOutShape(c));
        const loss = (a: Tensor, f: Tensor) =>
          tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, c.strides, c.pad as 'same'), w));
        return tf.grads(loss)([tf.tensor(x, inShape), tf.tensor(filter, filterShape)]);
      });
    }
  });

  it('BatchMatMul with every transpose combination matches cpu', async () => {
    const shapes: Array<[Shape, Shape]> = [
      [[5, 7], [7, 3]],
      [[64, 33], [33, 17]],
      [[3, 4, 6], [3, 6, 5]],
      [[1, 4, 6], [3, 6, 5]],
    ];
    for (const [aShape, bShape] of shapes) {
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          const swap = (s: Shape, t: boolean) => (t ? [...s.slice(0, -2), s.at(-1)!, s.at(-2)!] : s);
          const a = randomValues(swap(aShape, transposeA));
          const b = randomValues(swap(bShape, transposeB));
          const label = `${aShape}×${bShape} tA=${transposeA} tB=${transposeB}`;
          await assertSameOnBothBackends(`matMul ${label}`, () =>
            tf.matMul(
              tensor(a, swap(aShape, transposeA)),
              tensor(b, swap(bShape, transposeB)),
              transposeA,
              transposeB,
            ),
          );
          await assertSameOnBothBackends(`fused matMul ${label}`, () => {
            const n = bShape.at(-1)!;
            return tf.fused.matMul({
              a: tensor(a, swap(aShape, transposeA)) as tf.Tensor3D,
              b: tensor(b, swap(bShape, transposeB)) as tf.Tensor3D,
              transposeA,
              transposeB,
              bias: tf.linspace(-1, 1, n),
              activation: 'relu',
            });
          });
        }
      }
    }
  });

  it('Tile matches cpu', async () => {
    const cases: Array<[Shape, number[]]> = [
      [[1, 1, 1, 6], [3, 4, 5, 1]],
      [[2, 3], [3, 2]],
      [[4, 1], [1, 5]],
      [[2, 1, 3], [2, 4, 2]],
      [[5], [7]],
      [[2, 3, 4], [1, 1, 1]],
      [[3, 1, 2, 1], [1, 2, 1, 3]],
    ];
    for (const [shape, reps] of cases) {
      const x = randomValues(shape);
      await assertSameOnBothBackends(`tile ${shape} by ${reps}`, () => tf.tile(tf.tensor(x, shape), reps));
      await assertSameOnBothBackends(`int tile ${shape} by ${reps}`, () =>
        tf.tile(tf.tensor(Int32Array.from(x, (v) => Math.round(v * 100)), shape, 'int32'), reps),
      );
    }
    assert.deepEqual(simplifyTileAxes([1, 1, 1, 6], [3, 4, 5, 1]), [
      { size: 1, reps: 60 },
      { size: 6, reps: 1 },
    ]);
  });

  it('broadcasting Add/Sub/Multiply/RealDiv/SquaredDifference/Maximum/Minimum match cpu', async () => {
    const pairs: Array<[Shape, Shape]> = [
      [[4, 8, 8, 16], [16]],
      [[4, 8, 8, 16], [1, 1, 1, 16]],
      [[4, 8, 8, 16], [4, 1, 1, 16]],
      [[1, 1, 1, 16], [4, 8, 8, 16]],
      [[128, 1], [1, 64]],
      [[64, 100], [100]],
      [[4, 8, 8, 16], []],
      [[3, 5], [5]],
    ];
    const ops: Array<[string, (a: Tensor, b: Tensor) => Tensor]> = [
      ['add', tf.add],
      ['sub', tf.sub],
      ['mul', tf.mul],
      ['div', (a, b) => tf.div(a, tf.add(tf.abs(b), 0.5))],
      ['squaredDifference', tf.squaredDifference],
      ['maximum', tf.maximum],
      ['minimum', tf.minimum],
    ];
    for (const [aShape, bShape] of pairs) {
      const a = randomValues(aShape);
      const b = randomValues(bShape);
      for (const [name, op] of ops) {
        await assertSameOnBothBackends(`${name} ${aShape} ${bShape}`, () =>
          op(tf.tensor(a, aShape), tf.tensor(b, bShape)),
        );
      }
    }
    const ints = Int32Array.from({ length: 4 * 64 * 32 }, (_, i) => (i * 7919) % 1000);
    const rowOffsets = [1, 2, 3, 4].flatMap((v) => Array<number>(32).fill(v));
    await assertSameOnBothBackends('int add broadcast', () =>
      tf.add(tf.tensor(ints, [4, 64, 32], 'int32'), tf.tensor(rowOffsets, [4, 1, 32], 'int32')),
    );
  });

  it('Sum and Mean over any axes match cpu', async () => {
    const shape = [4, 6, 5, 8];
    const x = randomValues(shape);
    const axesCases = [[0, 1, 2], [1, 2], [0], [0, 1], [2], [3], [1, 3], [0, 1, 2, 3], [-2, -3]];
    for (const axes of axesCases) {
      for (const keepDims of [false, true]) {
        await assertSameOnBothBackends(`sum/mean axes ${axes} keepDims ${keepDims}`, () => [
          tf.sum(tf.tensor(x, shape), axes, keepDims),
          tf.mean(tf.tensor(x, shape), axes, keepDims),
        ]);
      }
    }
    const big = randomValues([32, 16, 16, 8]);
    await assertSameOnBothBackends('moments of a large activation', () => {
      const { mean, variance } = tf.moments(tf.tensor(big, [32, 16, 16, 8]), [0, 1, 2]);
      return [mean, variance];
    });
    await assertSameOnBothBackends('int sum', () =>
      tf.sum(tf.tensor(Int32Array.from({ length: 60 }, (_, i) => i - 30), [3, 4, 5], 'int32'), [0, 1]),
    );
  });

  it('MaxPoolGrad and AvgPoolGrad match cpu', async () => {
    type Pair = number | [number, number];
    const cases: Array<{ shape: Shape; filter: Pair; stride: Pair; pad: 'same' | 'valid' }> = [
      { shape: [2, 8, 8, 3], filter: 2, stride: 2, pad: 'valid' },
      { shape: [3, 7, 9, 4], filter: 2, stride: 2, pad: 'same' },
      { shape: [2, 9, 9, 5], filter: 3, stride: 2, pad: 'same' },
      { shape: [2, 8, 7, 2], filter: 3, stride: 1, pad: 'same' },
      { shape: [2, 8, 8, 6], filter: [3, 2], stride: [1, 2], pad: 'valid' },
      { shape: [2, 8, 8, 16], filter: 8, stride: 8, pad: 'valid' },
    ];
    for (const c of cases) {
      // ReLU'd input has many equal zeros per window: the gradient must pick the same one.
      const x = randomValues(c.shape).map((v) => Math.max(v, 0));
      const outShape = tf.backend_util.computePool2DInfo(c.shape as Shape4, c.filter, c.stride, 1, c.pad).outShape;
      const upstream = randomValues(outShape);
      const label = `${c.shape} f${c.filter} s${c.stride} ${c.pad}`;
      await assertSameOnBothBackends(`pool grads ${label}`, () => {
        const input = tensor(x, c.shape) as tf.Tensor4D;
        const probe = tf.tensor(upstream, outShape);
        const maxLoss = (t: Tensor) =>
          tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, c.filter, c.stride, c.pad), probe));
        const avgLoss = (t: Tensor) =>
          tf.sum(tf.mul(tf.avgPool(t as tf.Tensor4D, c.filter, c.stride, c.pad), probe));
        return [tf.grad(maxLoss)(input), tf.grad(avgLoss)(input)];
      });
    }
  });

  it('FusedBatchNorm (tf.batchNorm) and its gradient match cpu', async () => {
    const shape = [4, 6, 6, 8];
    const x = randomValues(shape);
    const scale = randomValues([8]);
    const offset = randomValues([8]);
    const upstream = randomValues(shape);
    for (const withAffine of [true, false]) {
      await assertSameOnBothBackends(`batchNorm affine=${withAffine}`, () => {
        const input = tensor(x, shape) as tf.Tensor4D;
        const gamma = tf.tensor1d(scale);
        const beta = tf.tensor1d(offset);
        const f = (t: Tensor, g: Tensor, b: Tensor) => {
          const { mean, variance } = tf.moments(t, [0, 1, 2]);
          return withAffine
            ? tf.batchNorm(t as tf.Tensor4D, mean, variance, b as tf.Tensor1D, g as tf.Tensor1D, 1e-3)
            : tf.batchNorm(t as tf.Tensor4D, mean, variance, undefined, undefined, 1e-3);
        };
        // tfjs cannot differentiate batchNorm without a scale (it tries to save the missing input).
        if (!withAffine) return f(input, gamma, beta);
        const weight = tensor(upstream, shape);
        const loss = (t: Tensor, g: Tensor, b: Tensor) => tf.sum(tf.mul(f(t, g, b), weight));
        return [f(input, gamma, beta), ...tf.grads(loss)([input, gamma, beta])];
      });
    }
  });

  it('Identity and same-dtype Cast share the buffer safely', async () => {
    const values = randomValues([3, 4]);
    await assertSameOnBothBackends('clone / cast', () => {
      const x = tensor(values, [3, 4]);
      const copy = tf.clone(x);
      const cast = tf.cast(x, 'float32');
      const toInt = tf.cast(tf.mul(x, 10), 'int32');
      x.dispose(); // the copies must outlive the original
      return [copy, cast, tf.cast(toInt, 'float32')];
    });
  });

  it('frees every intermediate it allocates on wasm', async () => {
    await useBackend('wasm');
    const dataIds = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const x = tf.randomNormal([2, 9, 9, 4], 0, 1, 'float32', 99) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 4, 6], 0, 1, 'float32', 98) as tf.Tensor4D;
    const before = dataIds();
    tf.tidy(() => {
      for (const stride of [1, 2]) {
        const loss = (a: Tensor, f: Tensor) =>
          tf.sum(tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, stride, 'valid'));
        tf.grads(loss)([x, w]);
      }
      tf.grad((a: Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'same')))(x);
      tf.grad((a: Tensor) => tf.sum(tf.avgPool(a as tf.Tensor4D, 2, 2, 'same')))(x);
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      tf.batchNorm(x, mean, variance, tf.zeros([4]), tf.ones([4]));
      tf.matMul(tf.reshape(x, [18, 36]), tf.reshape(x, [18, 36]), true, false);
      const a = tf.reshape(x, [2, 81, 4]) as tf.Tensor3D;
      tf.fused.matMul({ a, b: tf.ones([2, 4, 3]), bias: tf.ones([3]), activation: 'relu' });
      tf.mul(tf.tile(x, [2, 1, 1, 1]), tf.ones([1, 1, 1, 4]));
    });
    assert.equal(dataIds(), before);
    tf.dispose([x, w]);
  });

  it('variableGrads of a small conv net match cpu end to end', async () => {
    const specs: Record<string, Shape> = {
      conv1: [3, 3, 3, 8],
      conv2: [3, 3, 8, 12],
      proj: [1, 1, 8, 12],
      conv3: [3, 3, 12, 6],
      gamma: [12],
      beta: [12],
      dense: [2 * 2 * 6, 10],
      bias: [10],
    };
    const initial: Inputs = {};
    for (const [name, shape] of Object.entries(specs)) initial[name] = randomValues(shape).map((v) => v * 0.3);
    const images = randomValues([6, 11, 11, 3]);
    const labels = Array.from({ length: 6 }, (_, i) => (i * 7) % 10);
    const { cpu, wasm } = await onBothBackends(() => {
      const vars: Record<string, tf.Variable> = {};
      for (const [name, shape] of Object.entries(specs)) {
        vars[name] = tf.variable(tf.tensor(initial[name], shape));
      }
      const x = tf.tensor(images, [6, 11, 11, 3]) as tf.Tensor4D;
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
      const loss = () => {
        let h = tf.relu(tf.conv2d(x, vars.conv1 as tf.Tensor4D, 1, 'same'));
        const shortcut = tf.conv2d(h, vars.proj as tf.Tensor4D, 2, 'same');
        h = tf.conv2d(h, vars.conv2 as tf.Tensor4D, 2, 'same');
        const { mean, variance } = tf.moments(h, [0, 1, 2]);
        h = tf.add(tf.mul(tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, 1e-5))), vars.gamma), vars.beta);
        h = tf.relu(tf.add(h, shortcut)) as tf.Tensor4D;
        h = tf.maxPool(tf.conv2d(h, vars.conv3 as tf.Tensor4D, 1, 'valid'), 2, 1, 'valid');
        h = tf.avgPool(h, 2, 1, 'valid');
        const logits = tf.add(tf.matMul(tf.reshape(h, [6, -1]), vars.dense), vars.bias);
        return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
      };
      const { value, grads } = tf.variableGrads(loss);
      const out = [value, ...Object.keys(specs).map((name) => grads[vars[name].name])];
      Object.values(vars).forEach((v) => v.dispose());
      return out;
    });
    assert.equal(wasm.length, Object.keys(specs).length + 1);
    const names = ['loss', ...Object.keys(specs).map((name) => `d/d${name}`)];
    cpu.forEach((values, i) => assertMatches(values, wasm[i], names[i]));
  });
});
