// Proves that the activation-quantization tests (issue 16) can fail: applies each mutation below to
// a scratch copy of the build (dist/), runs the tests that should catch it, and prints
// "mutation N: caught / survived". Every mutation must be caught. Not part of `npm test`; run
// `npm run build && node scripts/activation-mutation-check.mjs` (several minutes on 2 cores).
// Exit code 0: all caught; 1: one survived; 2: could not run.
import { runMutations } from './mutation-runner.mjs';

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

// The tfjs loader script the export tests start lives in test/.
runMutations({ script: 'scripts/activation-mutation-check.mjs', mutations: MUTATIONS, tests: QUANTIZER_TESTS, copy: ['test'], concurrency: 1 });
