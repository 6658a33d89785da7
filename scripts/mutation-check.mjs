// Proves that the φ-gradient tests can fail: applies each mutation below to a scratch copy of the
// build (dist/), runs the φ-gradient tests on it, and prints "mutation N: caught / survived".
// Every mutation must be caught. Not part of `npm test`; run `npm run build && node scripts/mutation-check.mjs`
// (about two minutes on 2 cores). Exit code 0: all caught; 1: one survived; 2: could not run.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const TESTS = ['dist/test/train/phi-gradient.test.js', 'dist/test/analysis/gradcheck.test.js'];

// Each edits one expression of the compiled JavaScript, which must occur exactly once.
const MUTATIONS = [
  {
    what: "the step's 'ste' cotangent without cal: −α·δ instead of −α·cal⊙δ",
    file: 'dist/src/train/metaquant/phi-path.js',
    find: 'tf.mul(tf.mul(calibration.get(k), forward.grads.get(k)), -alpha)',
    replace: 'tf.mul(forward.grads.get(k), -alpha)',
  },
  {
    what: "the sign of the step's ∂L/∂φ flipped where the step hands it to the meta optimizer",
    file: 'dist/src/train/metaquant/step.js',
    find: 'this.metaAdam.step(this.meta.params, phiGrads);',
    replace: 'this.metaAdam.step(this.meta.params, new Map([...phiGrads].map(([k, g]) => [k, tf.neg(g)])));',
  },
  {
    what: "the φ probe's own W_meta(φ) (what gradcheck differences) without cal: W_meta⁰ − α·(M_φ − M_φ₀)",
    file: 'dist/src/analysis/phi-probe.js',
    find: 'tf.mul(tf.mul(calibration.get(l), tf.sub(m.get(l), m0.get(l))), alpha)',
    replace: 'tf.mul(tf.sub(m.get(l), m0.get(l)), alpha)',
  },
  {
    what: "the test's own float64 surrogate W_meta(φ) without cal",
    file: 'dist/test/train/phi-gradient.test.js',
    find: 'qq.slope[i] * -ALPHA * cal[l][i] * (m[l][i] - m0[l][i])',
    replace: 'qq.slope[i] * -ALPHA * (m[l][i] - m0[l][i])',
  },
];

for (const t of TESTS) {
  if (!existsSync(join(root, t))) {
    console.error(`${t} is missing: run npm run build first`);
    process.exit(2);
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'mq-mutation-'));
let survived = 0;
try {
  cpSync(join(root, 'dist'), join(scratch, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(scratch, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'), 'dir');
  const run = () => {
    const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...TESTS], { cwd: scratch, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
    const failed = (r.stdout ?? '').split('\n').filter((l) => /^not ok \d+ - /.test(l)).map((l) => l.replace(/^not ok \d+ - /, ''));
    return { ok: r.status === 0, failed, tail: `${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-3000) };
  };
  const baseline = run();
  if (!baseline.ok) {
    console.error(`the unmutated build fails the φ-gradient tests; fix that first:\n${baseline.tail}`);
    process.exit(2);
  }
  console.log(`baseline (unmutated): ${TESTS.join(', ')} pass`);
  for (const [i, m] of MUTATIONS.entries()) {
    const path = join(scratch, m.file);
    const original = readFileSync(path, 'utf8');
    const count = original.split(m.find).length - 1;
    if (count !== 1) {
      console.error(`mutation ${i + 1}: expected the pattern once in ${m.file}, found it ${count} times (the code moved? update scripts/mutation-check.mjs): ${m.find}`);
      process.exit(2);
    }
    writeFileSync(path, original.replace(m.find, m.replace));
    const r = run();
    writeFileSync(path, original);
    if (r.ok) survived++;
    const detail = r.ok ? '' : ` (${r.failed.length} failing: ${r.failed.slice(0, 2).join('; ')}${r.failed.length > 2 ? '; …' : ''})`;
    console.log(`mutation ${i + 1}: ${r.ok ? 'survived' : 'caught'} — ${m.what} [${m.file}]${detail}`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(survived ? 1 : 0);
