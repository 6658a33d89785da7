// Bad files through the command line: one line naming the file and the problem, exit 2, and a
// stack trace only with --debug.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { idxBytes, patternImages } from '../data/fixtures.js';

const MAIN = resolve('dist/src/cli/main.js');
const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });

test('a truncated gzip IDX file and a corrupt checkpoint: exit 2, one line, the stack only with --debug', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mq-hostile-'));
  const images = gzipSync(idxBytes([4, 4, 4], patternImages(4, 4, 4)));
  writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), images.subarray(0, images.length - 6));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idxBytes([4], [0, 1, 0, 1]));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idxBytes([2, 4, 4], patternImages(2, 4, 4)));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idxBytes([2], [0, 1]));
  const r = run(['train', '--dataset', `idx:${dir}`, '--epochs', '1', '--backend', 'cpu', '--out', join(dir, 'run')]);
  assert.equal(r.status, 2);
  const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('metaquant:'));
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /train-images-idx3-ubyte\.gz: is not valid gzip data \(truncated or corrupt/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
  const debug = run(['train', '--dataset', `idx:${dir}`, '--epochs', '1', '--backend', 'cpu', '--debug', '--out', join(dir, 'run')]);
  assert.equal(debug.status, 2);
  assert.match(debug.stderr, /at .*idx\.js:\d+/);

  const runDir = join(dir, 'bad-run');
  const ckpt = join(runDir, 'checkpoint.mqc');
  spawnSync('mkdir', ['-p', runDir]);
  writeFileSync(ckpt, Buffer.concat([Buffer.from('MQCKPT\n'), Buffer.from([5, 0, 0, 0]), Buffer.from('{"a":'), Buffer.alloc(3)]));
  const resumed = run(['train', '--resume', runDir]);
  assert.equal(resumed.status, 2);
  assert.match(resumed.stderr, /checkpoint\.mqc: corrupt checkpoint header \(not valid JSON\)/);
});
