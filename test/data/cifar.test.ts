import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCifar10, loadCifar100 } from '../../src/data/cifar.js';
import { loadDataset } from '../../src/data/index.js';
import { InputFileError, UsageError } from '../../src/util/errors.js';
import { cifarPixel, cifarRecord, makeTempDir } from './fixtures.js';

const temp = makeTempDir('cifar');
after(temp.cleanup);
let folderCount = 0;
function freshDir(): string {
  const dir = join(temp.dir, `case-${folderCount++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Writes CIFAR-10 batches: file i holds `perFile` records labelled (i + r) % 10. */
function writeCifar10(dir: string, perFile: number): void {
  const files = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];
  files.forEach((name, f) => {
    const records = Array.from({ length: perFile }, (_, r) => cifarRecord([(f + r) % 10], cifarPixel(f * perFile + r)));
    writeFileSync(join(dir, name), Buffer.concat(records));
  });
}

function writeCifar100(dir: string, train: number, testCount: number): void {
  const records = (n: number, offset: number): Buffer =>
    Buffer.concat(Array.from({ length: n }, (_, r) => cifarRecord([(r + offset) % 20, (r * 37 + offset) % 100], cifarPixel(r + offset))));
  writeFileSync(join(dir, 'train.bin'), records(train, 0));
  writeFileSync(join(dir, 'test.bin'), records(testCount, 1000));
}

/** HWC float at (n, y, x, c). */
function hwc(images: Float32Array, n: number, y: number, x: number, c: number): number {
  return images[((n * 32 + y) * 32 + x) * 3 + c]!;
}

function assertFileError(fn: () => unknown, file: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InputFileError, `expected InputFileError, got ${String(err)}`);
    assert.equal(err.file, file);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('CIFAR-10', () => {
  test('reads all batches, converts CHW to HWC, keeps labels', () => {
    const dir = freshDir();
    writeCifar10(dir, 2);
    const ds = loadCifar10(dir);
    assert.equal(ds.name, 'cifar10');
    assert.deepEqual([ds.height, ds.width, ds.channels, ds.numClasses], [32, 32, 3, 10]);
    assert.equal(ds.train.count, 10);
    assert.equal(ds.test.count, 2);
    assert.equal(ds.augmentByDefault, true);
    assert.deepEqual(Array.from(ds.train.labels), [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]);
    assert.deepEqual(Array.from(ds.test.labels), [5, 6]);
    // Record 7 (file 4, record 1): channel 2 at row 5, column 9.
    const expected = cifarPixel(7)(2, 5, 9);
    assert.equal(hwc(ds.train.images, 7, 5, 9, 2), Math.fround(expected / 255));
    for (const [y, x] of [[0, 0], [31, 31], [12, 30]] as const) {
      for (let c = 0; c < 3; c++) assert.equal(hwc(ds.test.images, 1, y, x, c), Math.fround(cifarPixel(11)(c, y, x) / 255));
    }
    assert.equal(ds.mean.length, 3);
  });

  test('accepts the cifar-10-batches-bin subfolder and limits', async () => {
    const parent = freshDir();
    const dir = join(parent, 'cifar-10-batches-bin');
    mkdirSync(dir);
    writeCifar10(dir, 3);
    const ds = await loadDataset({ dataset: 'cifar10', dataDir: parent, trainLimit: 4, testLimit: 1 });
    assert.equal(ds.train.count, 4);
    assert.equal(ds.train.images.length, 4 * 3072);
    assert.deepEqual(Array.from(ds.train.labels), [0, 1, 2, 1]);
    assert.equal(ds.test.count, 1);
    assert.equal(hwc(ds.train.images, 3, 1, 2, 0), Math.fround(cifarPixel(3)(0, 1, 2) / 255));
  });

  test('record-length, label-range and missing-file errors name the file', async () => {
    const dir = freshDir();
    writeCifar10(dir, 1);
    const batch3 = join(dir, 'data_batch_3.bin');
    writeFileSync(batch3, Buffer.concat([cifarRecord([1], cifarPixel(0)), Buffer.alloc(100)]));
    assertFileError(() => loadCifar10(dir), batch3, /not a positive multiple of the 3073-byte cifar10 record/);

    writeFileSync(batch3, Buffer.alloc(0));
    assertFileError(() => loadCifar10(dir), batch3, /is 0 bytes/);

    writeFileSync(batch3, cifarRecord([10], cifarPixel(0)));
    assertFileError(() => loadCifar10(dir), batch3, /record 0 has label 10; cifar10 labels are 0-9/);

    rmSync(batch3);
    assertFileError(() => loadCifar10(dir), dir, /missing cifar10 file\(s\) data_batch_3\.bin/);

    const empty = freshDir();
    assertFileError(() => loadCifar10(empty), empty, /looked for data_batch_1\.bin/);
    await assert.rejects(loadDataset({ dataset: 'cifar10' }), UsageError);
  });
});

describe('CIFAR-100', () => {
  test('uses the fine label and converts CHW to HWC', () => {
    const dir = freshDir();
    writeCifar100(dir, 5, 3);
    const ds = loadCifar100(dir);
    assert.equal(ds.name, 'cifar100');
    assert.deepEqual([ds.height, ds.width, ds.channels, ds.numClasses], [32, 32, 3, 100]);
    assert.equal(ds.train.count, 5);
    assert.equal(ds.test.count, 3);
    assert.deepEqual(Array.from(ds.train.labels), [0, 37, 74, 11, 48]);
    assert.deepEqual(Array.from(ds.test.labels), [0, 37, 74]);
    assert.equal(hwc(ds.train.images, 4, 31, 0, 1), Math.fround(cifarPixel(4)(1, 31, 0) / 255));
    assert.equal(hwc(ds.test.images, 2, 7, 3, 2), Math.fround(cifarPixel(1002)(2, 7, 3) / 255));
    assert.equal(ds.augmentByDefault, true);
  });

  test('record length and label ranges are checked', () => {
    const dir = freshDir();
    writeCifar100(dir, 2, 1);
    const train = join(dir, 'train.bin');
    writeFileSync(train, Buffer.concat([cifarRecord([1, 2], cifarPixel(0)), cifarRecord([1], cifarPixel(1))]));
    assertFileError(() => loadCifar100(dir), train, /3074-byte cifar100 record/);
    writeFileSync(train, Buffer.concat([cifarRecord([1, 2], cifarPixel(0)), cifarRecord([3, 100], cifarPixel(1))]));
    assertFileError(() => loadCifar100(dir), train, /record 1 has fine label 100; cifar100 fine labels are 0-99/);
    writeFileSync(train, cifarRecord([20, 5], cifarPixel(0)));
    assertFileError(() => loadCifar100(dir), train, /coarse label 20/);
  });
});
