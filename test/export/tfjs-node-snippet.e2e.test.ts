// The README's way to load a tfjs export in Node (docs/examples/load-tfjs-node.mjs, included in
// the README verbatim) runs as written on a real export; the stock file:// route it replaces fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const MAIN = resolve('dist/src/cli/main.js');
const SNIPPET = resolve('docs/examples/load-tfjs-node.mjs');
const cli = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });

test('the README includes the Node snippet verbatim', () => {
  assert.ok(readFileSync('README.md', 'utf8').includes(readFileSync(SNIPPET, 'utf8')), 'README.md holds docs/examples/load-tfjs-node.mjs as it is');
});

test('the snippet loads a tfjs export in Node and predicts; stock file:// loading fails there', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mq-tfjsnode-'));
  const t = cli(['train', '--dataset', 'synthetic:8x8x1:4:64:16', '--model', 'mlp', '--hidden', '8', '--epochs', '1', '--batch-size', '16', '--backend', 'cpu', '--quiet', '--out', join(dir, 'run')]);
  assert.equal(t.status, 0, t.stderr);
  const e = cli(['export', '--checkpoint', join(dir, 'run'), '--format', 'tfjs', '--out', join(dir, 'tfjs'), '--backend', 'cpu']);
  assert.equal(e.status, 0, e.stderr);
  const r = spawnSync(process.execPath, [SNIPPET, join(dir, 'tfjs')], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^classes: \[ [0-3], [0-3] \]$/m);

  const stock = `import * as tf from '@tensorflow/tfjs';
    tf.loadLayersModel(${JSON.stringify(pathToFileURL(join(dir, 'tfjs', 'model.json')).href)}).then(() => process.exit(0), (err) => { console.error(err.message); process.exit(3); });`;
  const s = spawnSync(process.execPath, ['--input-type=module', '-e', stock], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(s.status, 3, `file:// loading is expected to fail in Node without tfjs-node: ${s.stdout}${s.stderr}`);
});
