// `metaquant demo` as a user runs it: relative paths (resolved against the working folder, not
// Vite's root) and no bundler at run time (Vite hidden: the prebuilt dist/demo/ assets are used).
// Needs `npm run build:demo` (dist/demo/); skips with that hint otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MAIN = resolve('dist/src/cli/main.js');
const PREBUILT = resolve('dist/demo/index.html');
const skip = existsSync(PREBUILT) ? false : 'dist/demo/ is not built: run npm run build:demo';
// Any import of vite fails in the child, as where dev dependencies are not installed.
const HIDE_VITE =
  'data:text/javascript,' +
  encodeURIComponent(
    `import { register } from 'node:module';
     register('data:text/javascript,' + encodeURIComponent('export async function resolve(s, c, next) { if (s === "vite" || s.startsWith("vite/")) throw Object.assign(new Error("vite hidden"), { code: "ERR_MODULE_NOT_FOUND" }); return next(s, c); }'));`,
  );
const cli = (cwd: string, args: string[]) => spawnSync(process.execPath, ['--import', HIDE_VITE, MAIN, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });

test('demo with relative --checkpoint and --out builds where the user said, from the prebuilt assets, without Vite; the server serves the model', { skip }, async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'mq-democli-'));
  const t = cli(cwd, ['train', '--dataset', 'synthetic:8x8x1:4:64:16', '--model', 'mlp', '--hidden', '8', '--epochs', '1', '--batch-size', '16', '--backend', 'cpu', '--quiet', '--out', 'runs/l1']);
  assert.equal(t.status, 0, t.stderr);
  const hidden = spawnSync(process.execPath, ['--import', HIDE_VITE, '-e', "import('vite').then(() => process.exit(0), () => process.exit(3))"], { encoding: 'utf8' });
  assert.equal(hidden.status, 3, 'vite is hidden in the children');

  const site = cli(cwd, ['demo', '--checkpoint', 'runs/l1', '--build-only', '--out', 'site']);
  assert.equal(site.status, 0, site.stderr);
  assert.equal(readFileSync(join(cwd, 'site', 'index.html'), 'utf8'), readFileSync(PREBUILT, 'utf8'), 'the shipped page');
  assert.ok(existsSync(join(cwd, 'site', 'model.mqp')));

  const child = spawn(process.execPath, ['--import', HIDE_VITE, MAIN, 'demo', '--checkpoint', 'runs/l1', '--port', '0'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = await new Promise<string>((res, rej) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
        if (m) res(m[1]!);
      });
      child.on('exit', (code) => rej(new Error(`demo exited ${code}: ${stderr}`)));
    });
    assert.ok(existsSync(join(cwd, 'runs', 'l1', 'demo', 'index.html')), 'built in RUN/demo under the working folder');
    const model = await fetch(url + 'model.mqp');
    assert.equal(model.status, 200);
    assert.deepEqual(new Uint8Array(await model.arrayBuffer()), new Uint8Array(readFileSync(join(cwd, 'runs', 'l1', 'demo', 'model.mqp'))));
    assert.equal((await fetch(url)).status, 200);
  } finally {
    child.kill('SIGTERM');
  }
});
