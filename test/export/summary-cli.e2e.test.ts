// `metaquant summary` as a child process: --json prints what the library's summarizeCheckpoint
// returns, and a folder without a checkpoint exits 2 (the summary itself: summary.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Trainer } from '../../src/train/trainer.js';
import { summarizeCheckpoint } from '../../src/export/summary.js';

test('`metaquant summary --json` on a trained checkpoint', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mq-summary-')), 'run');
  const trainer = await Trainer.create({ dataset: 'synthetic:8x8x1:4:64:16', model: 'mlp', hidden: [16], quantizer: 'ternary', epochs: 1, batchSize: 32, backend: 'cpu', out });
  await trainer.run();
  trainer.dispose();
  const s = summarizeCheckpoint(out);
  const cli = spawnSync(process.execPath, [resolve('dist/src/cli/main.js'), 'summary', '--checkpoint', out, '--json'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual(JSON.parse(cli.stdout), JSON.parse(JSON.stringify(s)));
  const missing = spawnSync(process.execPath, [resolve('dist/src/cli/main.js'), 'summary', '--checkpoint', join(out, 'nope')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no checkpoint here/);
});
