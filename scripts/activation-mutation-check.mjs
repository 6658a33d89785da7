// Proves that the activation-quantization tests (issue 16) can fail: applies each mutation below to
// a scratch copy of the build (dist/), runs the tests that should catch it, and prints
// "mutation N: caught / survived". Every mutation must be caught. Not part of `npm test`; run
// `npm run build && node scripts/activation-mutation-check.mjs` (several minutes on 2 cores).
// Exit code 0: all caught; 1: one survived; 2: could not run.
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const QUANTIZER_TESTS = ['dist/test/quantizers/activation.test.js', 'dist/test/quantizers/lsq.test.js'];
const EXPORT_TESTS = ['dist/test/export/activations.e2e.test.js'];
const TRAIN_TESTS = ['dist/test/train/activations.test.js'];

// Each edits one expression of the compiled JavaScript, which must occur exactly once.
const MUTATIONS = [
  { what: "LSQ's step gradient without the −v·1{inside} term", file: 'dist/src/quantizers/lsq-grid.js', find: 'tf.sub(level, tf.mul(v, inside))', replace: 'level', tests: QUANTIZER_TESTS },
  { what: "LSQ's step gradient without the scale 1/√(N·Q_P)", file: 'dist/src/quantizers/lsq-grid.js', find: 'tf.mul(tf.sum(tf.mul(dy, saved[1])), g)', replace: 'tf.sum(tf.mul(dy, saved[1]))', tests: QUANTIZER_TESTS },
  { what: "PACT's α gradient gated on 0 ≤ v instead of v > Q", file: 'dist/src/quantizers/act-pact.js', find: 'tf.greater(v, this.maxCode)', replace: 'tf.greaterEqual(v, 0)', tests: QUANTIZER_TESTS },
  { what: 'sign activations with the plain STE (no |x| ≤ 1 gate)', file: 'dist/src/quantizers/act-sign.js', find: 'saveArg([hardtanhGate(input)]);', replace: 'saveArg([tf.onesLike(input)]);', tests: QUANTIZER_TESTS },
  { what: 'DoReFa activations passing the gradient outside the clip range', file: 'dist/src/quantizers/act-dorefa.js', find: 'saveArg([insideGate(v, this.maxCode)]);', replace: 'saveArg([tf.onesLike(v)]);', tests: QUANTIZER_TESTS },
  { what: 'layers never quantize their input', file: 'dist/src/models/layers.js', find: 'if (!plan || !plan.layers.has(layer))', replace: 'if (true)', tests: TRAIN_TESTS },
  { what: 'ONNX export rounds down instead of to nearest', file: 'dist/src/export/onnx.js', find: "b.node('Round'", replace: "b.node('Floor'", tests: EXPORT_TESTS },
  { what: 'the tfjs activation layer rounds down instead of to nearest', file: 'dist/src/export/tfjs-act-layer.js', find: 'lib.round(lib.div(x, f.step))', replace: 'lib.floor(lib.div(x, f.step))', tests: EXPORT_TESTS },
];

const scratch = mkdtempSync(join(tmpdir(), 'mq-act-mutation-'));
let survived = 0;
try {
  cpSync(join(root, 'dist'), join(scratch, 'dist'), { recursive: true });
  cpSync(join(root, 'test'), join(scratch, 'test'), { recursive: true }); // the tfjs loader script
  cpSync(join(root, 'package.json'), join(scratch, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'), 'dir');
  const run = (tests) => {
    const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...tests], { cwd: scratch, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
    const failed = (r.stdout ?? '').split('\n').filter((l) => /^not ok \d+ - /.test(l)).map((l) => l.replace(/^not ok \d+ - /, ''));
    return { ok: r.status === 0, failed, tail: `${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-3000) };
  };
  for (const [i, m] of MUTATIONS.entries()) {
    const path = join(scratch, m.file);
    const original = readFileSync(path, 'utf8');
    const count = original.split(m.find).length - 1;
    if (count !== 1) {
      console.error(`mutation ${i + 1}: expected the pattern once in ${m.file}, found it ${count} times: ${m.find}`);
      process.exit(2);
    }
    writeFileSync(path, original.replace(m.find, m.replace));
    const r = run(m.tests);
    writeFileSync(path, original);
    if (r.ok) survived++;
    const detail = r.ok ? '' : ` (${r.failed.length} failing: ${r.failed.slice(0, 2).join('; ')}${r.failed.length > 2 ? '; …' : ''})`;
    console.log(`mutation ${i + 1}: ${r.ok ? 'survived' : 'caught'} — ${m.what} [${m.file}]${detail}`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(survived ? 1 : 0);
