// Proves that the φ-gradient tests can fail: applies each mutation below to a scratch copy of the
// build (dist/), runs the φ-gradient tests on it, and prints "mutation N: caught / survived".
// Every mutation must be caught. Not part of `npm test`; run `npm run build && node scripts/mutation-check.mjs`
// (about two minutes on 2 cores). Exit code 0: all caught; 1: one survived; 2: could not run.
import { runMutations } from './mutation-runner.mjs';

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

runMutations({ script: 'scripts/mutation-check.mjs', mutations: MUTATIONS, tests: TESTS });
