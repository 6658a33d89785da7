// The --max-memory refusal through the real command line, as a child process (the estimate itself
// is tested in process in memory.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';

test('CLI: --max-memory refusal is one line, exit 2', () => {
  const r = spawnSync(process.execPath, [resolve('dist/src/cli/main.js'), 'train', '--dataset', 'synthetic:8x8x1:4:64:16', '--hidden', '64', '--backend', 'cpu', '--max-memory', '0.0001', '--out', join(mkdtempSync(join(tmpdir(), 'mq-mem-')), 'run')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /metaquant: this run needs about .* above --max-memory 0\.0001 GiB/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
});
