import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { FASHION_MNIST_SYSTEM_DIR } from '../../src/data/idx.js';
import { loadDataset } from '../../src/data/index.js';

test('Fashion-MNIST from the Debian package: 60000 / 10000, 28×28×1, 10 classes', async (t) => {
  if (!existsSync(FASHION_MNIST_SYSTEM_DIR)) {
    const why = `${FASHION_MNIST_SYSTEM_DIR} does not exist (apt-get install dataset-fashion-mnist)`;
    console.log(`skipping: ${why}`);
    t.skip(why);
    return;
  }
  const ds = await loadDataset({ dataset: 'fashion-mnist' });
  assert.equal(ds.name, 'fashion-mnist');
  assert.deepEqual([ds.height, ds.width, ds.channels, ds.numClasses], [28, 28, 1, 10]);
  assert.equal(ds.train.count, 60000);
  assert.equal(ds.test.count, 10000);
  assert.equal(ds.train.images.length, 60000 * 784);
  const counts = new Array<number>(10).fill(0);
  for (const label of ds.train.labels) counts[label]!++;
  assert.deepEqual(counts, new Array(10).fill(6000));
  // Known statistic of Fashion-MNIST training pixels: mean ≈ 0.286, std ≈ 0.353.
  assert.ok(Math.abs(ds.mean[0]! - 0.286) < 0.002, `mean ${ds.mean[0]}`);
  assert.ok(Math.abs(ds.std[0]! - 0.353) < 0.002, `std ${ds.std[0]}`);
});
