// Runs compiled test files with Node's built-in test runner. Node 20's runner does not expand
// globs, so the files are listed here.
//
//   node scripts/run-tests.mjs [--unit | --e2e] [substring]
//
// Two tiers, told apart by file name: `*.e2e.test.ts` files start processes (the CLI, the bench,
// a headless browser); every other `*.test.ts` runs in process and makes the `--unit` tier (the
// edit-compile-test loop). No flag runs both (what `npm test` and CI run). In the unit tier a
// guard (scripts/unit-guard.mjs) makes every way of starting a child process throw, so a unit
// file that starts one fails and names the rename it needs. A substring keeps matching files only.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = 'dist/test';
const args = process.argv.slice(2);
const tier = args.includes('--unit') ? 'unit' : args.includes('--e2e') ? 'e2e' : 'all';
const filter = args.find((a) => !a.startsWith('--')) ?? '';
const isE2e = (f) => f.endsWith('.e2e.test.js');
// tsc never deletes outputs: a compiled test whose source was renamed or removed is left out.
const hasSource = (f) => existsSync(join('test', f.replace(/\.js$/, '.ts')));
const files = readdirSync(root, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.js') && hasSource(f) && f.includes(filter))
  .filter((f) => tier === 'all' || (tier === 'e2e') === isE2e(f))
  .map((f) => join(root, f))
  .sort();
if (files.length === 0) {
  console.error(`no ${tier === 'all' ? '' : `${tier} `}test files under ${root} match '${filter}'`);
  process.exit(1);
}
const guard = tier === 'unit' ? ['--import', fileURLToPath(new URL('./unit-guard.mjs', import.meta.url))] : [];
const result = spawnSync(process.execPath, [...guard, '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
