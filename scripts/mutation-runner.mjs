// The loop both mutation scripts share: copy the build to a scratch folder, check that the unmutated
// build passes the tests, then apply each mutation (one expression of the compiled JavaScript, which
// must occur exactly once), run the tests that should catch it, restore, and print
// "mutation N: caught / survived". Exits 0 when every mutation is caught, 1 when one survived, 2 when
// it could not run (missing build, failing baseline, a pattern not found exactly once).
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

/**
 * @param {object} o
 * @param {string} o.script        the calling script's path, named when a pattern has moved
 * @param {Array<{what: string, file: string, find: string, replace: string, tests?: string[]}>} o.mutations
 * @param {string[]} o.tests       compiled test files a mutation without its own `tests` runs
 * @param {string[]} [o.copy]      folders the tests need in the scratch copy besides dist/
 * @param {number} [o.concurrency] test files run at once
 */
export function runMutations({ script, mutations, tests, copy = [], concurrency = 2 }) {
  const testsOf = (m) => m.tests ?? tests;
  const allTests = [...new Set(mutations.flatMap(testsOf))];
  for (const t of allTests) {
    if (!existsSync(join(root, t))) {
      console.error(`${t} is missing: run npm run build first`);
      process.exit(2);
    }
  }
  const scratch = mkdtempSync(join(tmpdir(), 'mq-mutation-'));
  let survived = 0;
  try {
    for (const dir of ['dist', ...copy]) cpSync(join(root, dir), join(scratch, dir), { recursive: true });
    cpSync(join(root, 'package.json'), join(scratch, 'package.json'));
    symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'), 'dir');
    const run = (files) => {
      const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files], { cwd: scratch, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
      const failed = (r.stdout ?? '').split('\n').filter((l) => /^not ok \d+ - /.test(l)).map((l) => l.replace(/^not ok \d+ - /, ''));
      return { ok: r.status === 0, failed, tail: `${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-3000) };
    };
    // Without this, a test that already fails would count every mutation as caught.
    const baseline = run(allTests);
    if (!baseline.ok) {
      console.error(`the unmutated build fails these tests; fix that first:\n${baseline.tail}`);
      process.exit(2);
    }
    console.log(`baseline (unmutated): ${allTests.join(', ')} pass`);
    for (const [i, m] of mutations.entries()) {
      const path = join(scratch, m.file);
      const original = readFileSync(path, 'utf8');
      const count = original.split(m.find).length - 1;
      if (count !== 1) {
        console.error(`mutation ${i + 1}: expected the pattern once in ${m.file}, found it ${count} times (the code moved? update ${script}): ${m.find}`);
        process.exit(2);
      }
      writeFileSync(path, original.replace(m.find, m.replace));
      const r = run(testsOf(m));
      writeFileSync(path, original);
      if (r.ok) survived++;
      const detail = r.ok ? '' : ` (${r.failed.length} failing: ${r.failed.slice(0, 2).join('; ')}${r.failed.length > 2 ? '; …' : ''})`;
      console.log(`mutation ${i + 1}: ${r.ok ? 'survived' : 'caught'} — ${m.what} [${m.file}]${detail}`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  process.exit(survived ? 1 : 0);
}
