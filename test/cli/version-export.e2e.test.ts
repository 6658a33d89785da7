// `metaquant --version` / `--help` show the package version; `export --format onnx --int8` writes
// the int8 + DequantizeLinear variant and says how to run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

const MAIN = resolve('dist/src/cli/main.js');
const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

test('--version prints the package version, --help shows it', () => {
  for (const flag of ['--version', '-V']) {
    const r = run([flag]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), VERSION);
  }
  const help = run(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, new RegExp(`metaquant ${VERSION.replace(/\./g, '\\.')}:`));
  assert.match(help.stdout, /-V, --version/);
});

test('export --format onnx --int8: int8 kernels through DequantizeLinear, with the optimisation-level caveat', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mq-int8-'));
  const out = join(dir, 'run');
  const t = run(['train', '--dataset', 'synthetic:8x8x1:4:64:16', '--model', 'mlp', '--hidden', '32', '--quantizer', 'dorefa', '--bits', '2', '--epochs', '1', '--batch-size', '16', '--backend', 'cpu', '--quiet', '--out', out]);
  assert.equal(t.status, 0, t.stderr);
  const float = run(['export', '--checkpoint', out, '--format', 'onnx', '--out', join(dir, 'f.onnx'), '--backend', 'cpu']);
  assert.equal(float.status, 0, float.stderr);
  const int8 = run(['export', '--checkpoint', out, '--format', 'onnx', '--int8', '--out', join(dir, 'q.onnx'), '--backend', 'cpu']);
  assert.equal(int8.status, 0, int8.stderr);
  assert.match(int8.stderr, /graphOptimizationLevel 'basic'.*MatMulNBits/);
  const ops = (file: string) => onnx.ModelProto.decode(readFileSync(join(dir, file))).graph!.node!.map((n) => n.opType);
  assert.ok(ops('q.onnx').includes('DequantizeLinear'));
  assert.ok(!ops('f.onnx').includes('DequantizeLinear'));
  assert.ok(statSync(join(dir, 'q.onnx')).size < statSync(join(dir, 'f.onnx')).size, 'smaller');
  const help = run(['export', '--help']);
  assert.match(help.stdout, /--int8 \(onnx\): run int8 files with onnxruntime's graphOptimizationLevel 'basic'/);
  const packed = run(['export', '--checkpoint', out, '--format', 'packed', '--int8', '--out', join(dir, 'm.mqp')]);
  assert.equal(packed.status, 2);
  assert.match(packed.stderr, /--int8 applies to --format onnx only, not packed/);
});
