// Smoke test of `npm run bench`: the driver, both child processes and the JSON contract, at
// batch 4 and one step (no timing assertions: CI machines differ).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

const RUN = 'dist/bench/run.js';

function bench(args: string[]): { json: Record<string, any>; stdout: string } {
  const child = spawnSync(process.execPath, [RUN, '--smoke', ...args], { encoding: 'utf8', timeout: 600_000 });
  assert.equal(child.status, 0, `bench exited ${child.status}: ${child.stderr}`);
  const lines = child.stdout.trim().split('\n');
  return { json: JSON.parse(lines[lines.length - 1]!), stdout: child.stdout };
}

const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

describe('bench --smoke', () => {
  it('prints a table and, last, the JSON with every model and meta network', () => {
    const { json, stdout } = bench(['--skip-wasm-only']);
    assert.match(stdout, /\| model +\| ours train/);
    // Each side's configuration and the measured quietness are in the header.
    assert.match(stdout, /^ours: backend wasm, native (true|false), threads \d+/m);
    assert.match(stdout, /^torch: /m);
    assert.match(stdout, /^quietness: /m);
    assert.equal(typeof json.underLoad, 'boolean');
    assert.ok(json.config?.ours, 'config.ours');
    assert.deepEqual(Object.keys(json.models), ['mlp', 'lenet5', 'resnet20']);
    for (const [name, m] of Object.entries(json.models as Record<string, Record<string, unknown>>)) {
      assert.ok(positive(m.ours), `${name}.ours = ${m.ours}`);
      assert.ok(positive(m.oursPeakRssMB), `${name}.oursPeakRssMB`);
      assert.equal(typeof m.underLoad, 'boolean');
      // PyTorch may be missing on a machine: then torch and ratio are null, otherwise numbers.
      if (m.torch === null) assert.equal(m.ratio, null);
      else {
        assert.ok(positive(m.torch), `${name}.torch`);
        assert.ok(Math.abs((m.ratio as number) - (m.ours as number) / (m.torch as number)) < 0.01 * (m.ratio as number) + 1e-3);
      }
    }
    assert.deepEqual(Object.keys(json.metaquantOverhead), ['fcgrad', 'multifc', 'lstm']);
    for (const v of Object.values(json.metaquantOverhead)) assert.ok(positive(v));
  });

  it('without PyTorch says so and still prints the JSON with torch: null', () => {
    const { json, stdout } = bench(['--python', '/nonexistent/python3', '--models', 'mlp', '--skip-meta', '--skip-wasm-only']);
    assert.match(stdout, /PyTorch unavailable/);
    assert.equal(json.models.mlp.torch, null);
    assert.equal(json.models.mlp.ratio, null);
    assert.ok(positive(json.models.mlp.ours));
    assert.deepEqual(json.metaquantOverhead, { fcgrad: null, multifc: null, lstm: null });
  });
});
