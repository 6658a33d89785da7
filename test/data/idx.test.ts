import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadIdxFolder, loadIdxPair, parseIdx, readIdxFile } from '../../src/data/idx.js';
import { InputFileError } from '../../src/util/errors.js';
import { idxBytes, makeTempDir, patternImages, writeIdxFolder } from './fixtures.js';

const temp = makeTempDir('idx');
after(temp.cleanup);

let folderCount = 0;
function freshDir(): string {
  const dir = join(temp.dir, `case-${folderCount++}`);
  mkdirSync(dir);
  return dir;
}

/** Asserts that `fn` throws an InputFileError naming `file`. */
function assertFileError(fn: () => unknown, file: string, pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InputFileError, `expected InputFileError, got ${String(err)}`);
    assert.equal(err.file, file);
    assert.ok(err.message.includes(file), `message should name ${file}: ${err.message}`);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

describe('IDX reader', () => {
  for (const gzip of [false, true]) {
    test(`reads a ${gzip ? 'gzip' : 'raw'} folder: values, shape, classes`, () => {
      const dir = freshDir();
      writeIdxFolder(dir, { height: 3, width: 5, train: [0, 4, 2, 1], test: [3, 0], gzip });
      const ds = loadIdxFolder(dir);
      assert.equal(ds.name, `idx:${dir}`);
      assert.deepEqual([ds.height, ds.width, ds.channels], [3, 5, 1]);
      assert.equal(ds.numClasses, 5);
      assert.equal(ds.train.count, 4);
      assert.equal(ds.test.count, 2);
      assert.deepEqual(Array.from(ds.train.labels), [0, 4, 2, 1]);
      assert.deepEqual(Array.from(ds.test.labels), [3, 0]);
      const expected = patternImages(4, 3, 5);
      assert.equal(ds.train.images.length, expected.length);
      for (let i = 0; i < expected.length; i++) assert.equal(ds.train.images[i], Math.fround(expected[i]! / 255));
      assert.equal(ds.augmentByDefault, false);
      assert.equal(ds.mean.length, 1);
    });
  }

  test('gzip is detected from content, not the file name', () => {
    const dir = freshDir();
    const gz = join(dir, 'labels-without-suffix');
    writeFileSync(gz, gzipSync(idxBytes([3], [1, 2, 3])));
    assert.deepEqual(Array.from(readIdxFile(gz, 'labels').data), [1, 2, 3]);
    const raw = join(dir, 'raw-named.gz');
    writeFileSync(raw, idxBytes([2], [7, 8]));
    assert.deepEqual(Array.from(readIdxFile(raw, 'labels').data), [7, 8]);
  });

  test('limits keep the first examples but classes come from the whole file', () => {
    const dir = freshDir();
    writeIdxFolder(dir, { height: 2, width: 2, train: [1, 0, 6, 2], test: [3, 1, 2], gzip: true });
    const ds = loadIdxFolder(dir, { trainLimit: 2, testLimit: 1, name: 'tiny' });
    assert.equal(ds.name, 'tiny');
    assert.equal(ds.train.count, 2);
    assert.equal(ds.train.images.length, 8);
    assert.deepEqual(Array.from(ds.train.labels), [1, 0]);
    assert.equal(ds.test.count, 1);
    assert.equal(ds.numClasses, 7);
  });

  test('a missing file is reported with every name looked for', () => {
    const dir = freshDir();
    writeIdxFolder(dir, { height: 2, width: 2, train: [0, 1], test: [1] });
    rmSync(join(dir, 't10k-images-idx3-ubyte'));
    assertFileError(() => loadIdxFolder(dir), dir, /t10k-images-idx3-ubyte\[\.gz\]/);
    assertFileError(() => loadIdxFolder(join(temp.dir, 'nope')), join(temp.dir, 'nope'), /not an existing folder/);
  });

  describe('corrupt files throw InputFileError naming the file', () => {
    const good = idxBytes([2, 3, 3], patternImages(2, 3, 3));
    const cases: [string, Buffer, RegExp][] = [
      ['empty', Buffer.alloc(0), /too short/],
      ['cut inside the magic', good.subarray(0, 3), /too short/],
      ['cut inside the dimensions', good.subarray(0, 10), /truncated inside its IDX header/],
      ['cut right after the header', good.subarray(0, 16), /declares shape 2×3×3 = 18 bytes of data but holds only 0/],
      ['cut at an image boundary', good.subarray(0, 16 + 9), /holds only 9/],
      ['cut mid-image', good.subarray(0, good.length - 1), /holds only 17/],
      ['trailing bytes', Buffer.concat([good, Buffer.from([1])]), /1 unexpected bytes/],
      ['wrong magic', Buffer.concat([Buffer.from([0x1a, 0x2b]), good.subarray(2)]), /not an IDX file/],
      ['float32 dtype', idxBytes([2, 3, 3], patternImages(2, 3, 3), 0x0d), /0x0d \(float32\).*only 0x08/],
      ['unknown dtype', idxBytes([2, 3, 3], patternImages(2, 3, 3), 0x42), /unknown IDX data type 0x42/],
      ['labels dimensionality for images', idxBytes([18], patternImages(2, 3, 3)), /has 1 dimensions; IDX images need 3/],
      ['huge declared dimensions', idxBytes([0xffffffff, 0xffffffff, 0xffffffff], [1, 2, 3]), /declares shape 4294967295×/],
      ['zero-size dimension', idxBytes([0, 3, 3], []), /size 0/],
      ['random bytes', Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 7919 + 13) % 251)), /not an IDX file/],
      ['truncated gzip', gzipSync(good).subarray(0, 20), /not valid gzip data/],
      ['corrupt gzip', Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(30, 0xee)]), /not valid gzip data/],
    ];
    const dir = freshDir();
    for (const [label, bytes, pattern] of cases) {
      test(label, () => {
        const file = join(dir, label.replace(/\W+/g, '-'));
        writeFileSync(file, bytes);
        assertFileError(() => readIdxFile(file, 'images'), file, pattern);
      });
    }

    test('parseIdx rejects absurd sizes without allocating them', () => {
      // 2^32−1 cubed far exceeds any buffer; the check must happen on the header alone.
      const bytes = idxBytes([0xffffffff, 0xffffffff, 0xffffffff], []);
      assertFileError(() => parseIdx(bytes, 'header-only', 'images'), 'header-only', /holds only 0/);
    });

    test('image/label count mismatch', () => {
      const images = join(dir, 'mismatch-images');
      const labels = join(dir, 'mismatch-labels');
      writeFileSync(images, idxBytes([3, 2, 2], patternImages(3, 2, 2)));
      writeFileSync(labels, idxBytes([2], [0, 1]));
      assertFileError(() => loadIdxPair(images, labels), labels, /holds 2 labels but .* holds 3 images/);
    });

    test('test images of another size than the training images', () => {
      const folder = freshDir();
      writeIdxFolder(folder, { height: 2, width: 2, train: [0, 1], test: [1] });
      const testImages = join(folder, 't10k-images-idx3-ubyte');
      writeFileSync(testImages, idxBytes([1, 3, 3], patternImages(1, 3, 3)));
      assertFileError(() => loadIdxFolder(folder), testImages, /3×3 images but the training images are 2×2/);
    });

    test('a corrupt file inside a folder is named in the error', () => {
      const folder = freshDir();
      writeIdxFolder(folder, { height: 2, width: 2, train: [0, 1], test: [1], gzip: true });
      const labels = join(folder, 'train-labels-idx1-ubyte.gz');
      writeFileSync(labels, readFileSync(labels).subarray(0, 15));
      assertFileError(() => loadIdxFolder(folder), labels, /gzip/);
    });
  });
});
