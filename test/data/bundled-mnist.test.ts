import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundledMnistDir, loadBundledMnist, parseDigitFile } from '../../src/data/bundled-mnist.js';
import { InputFileError } from '../../src/util/errors.js';
import { makeTempDir } from './fixtures.js';
import { loadDataset } from '../../src/data/index.js';

describe('bundled MNIST', () => {
  const first = loadBundledMnist();

  test('8000 / 2000 images of 28×28×1, 10 classes, values in [0, 1]', () => {
    assert.equal(first.name, 'mnist');
    assert.deepEqual([first.height, first.width, first.channels, first.numClasses], [28, 28, 1, 10]);
    assert.equal(first.train.count, 8000);
    assert.equal(first.test.count, 2000);
    assert.equal(first.train.images.length, 8000 * 784);
    assert.equal(first.test.images.length, 2000 * 784);
    let min = Infinity;
    let max = -Infinity;
    for (const v of first.train.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    assert.equal(min, 0);
    assert.equal(max, 1);
    assert.equal(first.augmentByDefault, false);
  });

  test('every class appears in both splits, stratified', () => {
    for (const split of [first.train, first.test]) {
      const counts = new Array<number>(10).fill(0);
      for (const label of split.labels) counts[label]!++;
      for (const n of counts) assert.ok(n > split.count * 0.07 && n < split.count * 0.13, `class count ${n}`);
    }
    // Shuffled within the split: the first 100 training labels are not one class.
    assert.ok(new Set(first.train.labels.subarray(0, 100)).size >= 8);
  });

  test('the split is the same on every load', () => {
    const second = loadBundledMnist();
    assert.deepEqual(second.train.labels, first.train.labels);
    assert.deepEqual(second.test.labels, first.test.labels);
    assert.deepEqual(second.train.images, first.train.images);
    assert.deepEqual(second.test.images, first.test.images);
    assert.deepEqual(second.mean, first.mean);
  });

  test('the fast digit-file parser agrees exactly with JSON.parse', () => {
    const path = join(bundledMnistDir(), '5.json');
    const viaJson = Float32Array.from((JSON.parse(readFileSync(path, 'utf8')) as { data: number[] }).data);
    assert.deepEqual(parseDigitFile(path), viaJson);
  });

  test('odd or broken digit files fall back to JSON.parse or fail naming the file', (t) => {
    const temp = makeTempDir('digits');
    t.after(temp.cleanup);
    const zeros = new Array<number>(784).fill(0);
    const exponent = join(temp.dir, 'exponent.json');
    writeFileSync(exponent, JSON.stringify({ data: [5e-1, ...zeros.slice(1)] }).replace('0.5', '5e-1'));
    assert.equal(parseDigitFile(exponent)[0], 0.5);
    const cases: [string, string, RegExp][] = [
      ['short.json', JSON.stringify({ data: [0, 1] }), /2 values, not a positive multiple of 784/],
      ['range.json', JSON.stringify({ data: [2, ...zeros.slice(1)] }), /value 2 at position 0 is outside/],
      ['broken.json', '{"data":[0,0.5', /not a valid mnist digit file/],
    ];
    for (const [name, text, pattern] of cases) {
      const path = join(temp.dir, name);
      writeFileSync(path, text);
      assert.throws(() => parseDigitFile(path), (err: unknown) => err instanceof InputFileError && err.file === path && pattern.test(err.message));
    }
  });

  test('limits through loadDataset take the first N of the fixed split', async () => {
    const small = await loadDataset({ dataset: 'mnist', trainLimit: 100, testLimit: 50 });
    assert.equal(small.train.count, 100);
    assert.equal(small.test.count, 50);
    assert.deepEqual(small.train.labels, first.train.labels.subarray(0, 100));
    assert.deepEqual(small.test.images, first.test.images.subarray(0, 50 * 784));
  });
});
